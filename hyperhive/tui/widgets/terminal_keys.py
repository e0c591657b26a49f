"""What a terminal sends for a key: Textual's key names to the bytes a shell expects."""

from __future__ import annotations

_KEYS = {
    "enter": "\r",
    "tab": "\t",
    "shift+tab": "\x1b[Z",
    "backspace": "\x7f",
    "escape": "\x1b",
    "delete": "\x1b[3~",
    "insert": "\x1b[2~",
    "pageup": "\x1b[5~",
    "pagedown": "\x1b[6~",
    "ctrl+space": "\x00",
}
_FUNCTION_KEYS = "OP OQ OR OS [15~ [17~ [18~ [19~ [20~ [21~ [23~ [24~".split()
_KEYS.update({f"f{n}": "\x1b" + seq for n, seq in enumerate(_FUNCTION_KEYS, start=1)})
_KEYS.update({"ctrl+backslash": "\x1c", "ctrl+@": "\x00"})
_CURSOR_KEYS = {"up": "A", "down": "B", "right": "C", "left": "D", "home": "H", "end": "F"}
_TILDE_KEYS = {"insert": "2", "delete": "3", "pageup": "5", "pagedown": "6"}
# xterm's modifier parameter: 1 + shift(1) + alt(2) + ctrl(4)
_MODIFIER_BITS = {"shift": 1, "alt": 2, "meta": 2, "ctrl": 4}


def key_bytes(key: str, character: str | None, *, app_cursor: bool = False) -> bytes | None:
    """Translate a Textual key into what a terminal would send, or None if it sends nothing.

    Args:
        key: Textual's key name ("enter", "ctrl+c", "a", ...).
        character: The character Textual attached to the key, if any.
        app_cursor: The application switched to "application cursor keys" (DECCKM).
    """
    if key in _KEYS:
        return _KEYS[key].encode()
    if key in _CURSOR_KEYS:
        return ("\x1bO" if app_cursor else "\x1b[").encode() + _CURSOR_KEYS[key].encode()
    if key.startswith("ctrl+") and len(key) == 6 and key[5].isalpha():
        return bytes([ord(key[5].lower()) & 0x1F])
    *mods, base = key.split("+") if key != "+" else ["+"]
    if mods and all(m in _MODIFIER_BITS for m in mods):
        code = 1 + sum({_MODIFIER_BITS[m] for m in mods})
        if base in _CURSOR_KEYS:  # ctrl+left -> CSI 1;5D, as xterm sends it
            return f"\x1b[1;{code}{_CURSOR_KEYS[base]}".encode()
        if base in _TILDE_KEYS:
            return f"\x1b[{_TILDE_KEYS[base]};{code}~".encode()
        if mods[0] in ("alt", "meta"):  # Meta sends ESC before the key
            rest = "+".join([*mods[1:], base])
            inner = key_bytes(rest, character or (base if len(base) == 1 else None))
            return None if inner is None else b"\x1b" + inner
    if character:
        return character.encode()
    return None
