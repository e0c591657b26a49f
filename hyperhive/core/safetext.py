"""Agent text is data: render it terminal-safe for people, fence it for models.

Anything an agent wrote (message bodies, question text, state reasons, notes, diffs,
file contents, log lines) may hold control sequences that would drive the reader's
terminal: clear the screen, move the cursor over a line of a diff being approved,
retitle the window. :func:`terminal_safe` is the one place that neutralises them; every
CLI verb, TUI widget and SSH session shows untrusted text through it. ``--json`` output
stays exact: JSON escapes control characters itself.

:func:`fence` is the model-side counterpart: a body inside a wake prompt sits between
two lines holding a per-turn random token the body cannot guess, so a peer cannot
close the block early and forge an "operator" message after it.
"""

from __future__ import annotations

import re
import secrets

__all__ = ["fence", "new_fence_token", "terminal_safe"]

# C0 controls except \t and \n, DEL, and the C1 range; plus the Unicode characters that
# reorder or hide text on screen (bidi overrides and isolates, line/paragraph separators)
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    code = ord(char)
    if code < 0x20:
        return "^" + chr(code + 0x40)  # ESC → ^[, CR → ^M, BEL → ^G
    if code == 0x7F:
        return "^?"
    return f"\\u{code:04x}" if code > 0xFF else f"\\x{code:02x}"


def terminal_safe(text: str, *, newlines: bool = True) -> str:
    """``text`` with every control character shown escaped (``^[``, ``^M``, ``\\x9b``).

    ``\\t`` stays, and so does ``\\n`` unless ``newlines`` is false (one-line cells),
    where it is shown as ``^J``. Lone surrogates (undecodable input) are shown escaped
    too, so the result always encodes as UTF-8.
    """
    safe = _UNSAFE.sub(_escape, text)
    if not newlines:
        safe = safe.replace("\n", "^J")
    if any("\ud800" <= c <= "\udfff" for c in safe):
        safe = "".join(f"\\u{ord(c):04x}" if "\ud800" <= c <= "\udfff" else c for c in safe)
    return safe


def new_fence_token() -> str:
    """A fresh random token for one prompt's fences (never reused across turns)."""
    return secrets.token_hex(8)


def fence(body: str, token: str) -> str:
    """``body`` between ``<<<body-TOKEN`` and ``body-TOKEN>>>`` lines, for a model to read.

    A body that happens to hold the token (it cannot know it in advance) gets it
    blanked out, so the block can only end where this function ends it.
    """
    inner = body.replace(token, "[fence]")
    return f"<<<body-{token}\n{inner}\nbody-{token}>>>"
