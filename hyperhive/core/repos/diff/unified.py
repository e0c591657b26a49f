"""Unified multi-file diffs that match ``git diff --no-renames`` byte for byte: headers, hunks."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from hyperhive.core.repos.diff.compaction import GIT_SPACE, compact
from hyperhive.core.repos.diff.myers import changed_lines

CONTEXT = 3
BINARY_SNIFF_BYTES = 8000  # git looks for a NUL in this many leading bytes

_FUNCNAME_BYTES = 80
_FUNCNAME_START = frozenset(b"_$ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")


@dataclass(frozen=True)
class FileChange:
    """One path that differs between two trees; ``None`` mode means absent on that side."""

    path: bytes
    old_mode: int | None
    new_mode: int | None
    old_sha: bytes | None
    new_sha: bytes | None
    old_data: bytes
    new_data: bytes


def render(changes: Iterable[FileChange], abbrev: Callable[[bytes], bytes]) -> bytes:
    """Render file changes as ``git diff`` does, in git's path order.

    Args:
        changes: the paths that differ (any order).
        abbrev: shortens a hex object id the way git would in this repository.

    Returns:
        The whole diff as bytes.
    """
    out: list[bytes] = []
    for change in sorted(changes, key=lambda c: c.path):
        out.append(_render_file(change, abbrev))
    return b"".join(out)


def _render_file(c: FileChange, abbrev: Callable[[bytes], bytes]) -> bytes:
    a_name = _quote(b"a/" + c.path)
    b_name = _quote(b"b/" + c.path)
    head = [b"diff --git " + a_name + b" " + b_name + b"\n"]
    null = b"0" * 40
    old_sha = c.old_sha or null
    new_sha = c.new_sha or null
    if c.old_mode is None:
        head.append(b"new file mode %06o\n" % (c.new_mode or 0))
    elif c.new_mode is None:
        head.append(b"deleted file mode %06o\n" % c.old_mode)
    elif c.old_mode != c.new_mode:
        head.append(b"old mode %06o\nnew mode %06o\n" % (c.old_mode, c.new_mode))
    if old_sha != new_sha:
        index = b"index " + abbrev(old_sha) + b".." + abbrev(new_sha)
        if c.old_mode is not None and c.old_mode == c.new_mode:
            index += b" %06o" % c.old_mode
        head.append(index + b"\n")
    if old_sha == new_sha:
        return b"".join(head)
    label_a = a_name if c.old_mode is not None else b"/dev/null"
    label_b = b_name if c.new_mode is not None else b"/dev/null"
    if _is_binary(c.old_data) or _is_binary(c.new_data):
        head.append(b"Binary files " + label_a + b" and " + label_b + b" differ\n")
        return b"".join(head)
    hunks = unified_hunks(c.old_data, c.new_data)
    if hunks:
        # git ends a label holding a space with a tab, so the name's end stays visible
        tab_a = b"\t" if b" " in label_a else b""
        tab_b = b"\t" if b" " in label_b else b""
        head.append(b"--- " + label_a + tab_a + b"\n+++ " + label_b + tab_b + b"\n" + hunks)
    return b"".join(head)


def _is_binary(data: bytes) -> bool:
    return b"\0" in data[:BINARY_SNIFF_BYTES]


def _quote(name: bytes) -> bytes:
    """Quote a path like git's ``quote_c_style`` with core.quotePath on."""
    escapes = {
        7: b"a",
        8: b"b",
        9: b"t",
        10: b"n",
        11: b"v",
        12: b"f",
        13: b"r",
        34: b'"',
        92: b"\\",
    }
    if not any(ch < 0x20 or ch >= 0x7F or ch in (34, 92) for ch in name):
        return name
    out = bytearray(b'"')
    for ch in name:
        if ch in escapes:
            out += b"\\" + escapes[ch]
        elif ch < 0x20 or ch >= 0x7F:
            out += b"\\%03o" % ch
        else:
            out.append(ch)
    out += b'"'
    return bytes(out)


def split_lines(data: bytes) -> list[bytes]:
    """Split into records that keep their ``\\n``; a last line without one stays as is."""
    parts = data.split(b"\n")
    lines = [p + b"\n" for p in parts[:-1]]
    if parts[-1]:
        lines.append(parts[-1])
    return lines


def unified_hunks(old: bytes, new: bytes) -> bytes:
    """The ``@@`` hunks of a text diff with 3 lines of context, as git prints them."""
    a, b = split_lines(old), split_lines(new)
    classes: dict[bytes, int] = {}
    ids_a = [classes.setdefault(line, len(classes)) for line in a]
    ids_b = [classes.setdefault(line, len(classes)) for line in b]
    ch_a, ch_b = changed_lines(ids_a, ids_b)
    compact(ch_a, ids_a, a, ch_b)
    compact(ch_b, ids_b, b, ch_a)
    script = _script(ch_a, len(a), ch_b, len(b))
    return _emit(script, a, b)


# --- edit script and hunks ------------------------------------------------------------


def _script(ch1: bytearray, n1: int, ch2: bytearray, n2: int) -> list[tuple[int, int, int, int]]:
    """Changes as (i1, i2, count1, count2), in file order."""
    out: list[tuple[int, int, int, int]] = []
    i1, i2 = n1, n2
    while i1 >= 0 or i2 >= 0:
        # ch[i] is changed[i - 1]; past the start of a file nothing is changed
        if (i1 >= 0 and ch1[i1]) or (i2 >= 0 and ch2[i2]):
            l1, l2 = i1, i2
            while i1 >= 0 and ch1[i1]:
                i1 -= 1
            while i2 >= 0 and ch2[i2]:
                i2 -= 1
            out.append((i1, i2, l1 - i1, l2 - i2))
        i1 -= 1
        i2 -= 1
    out.reverse()
    return out


def _emit(script: Sequence[tuple[int, int, int, int]], a: list[bytes], b: list[bytes]) -> bytes:
    out: list[bytes] = []
    k = 0
    while k < len(script):
        last = k
        while (
            last + 1 < len(script)
            and script[last + 1][0] - (script[last][0] + script[last][2]) <= 2 * CONTEXT
        ):
            last += 1
        first_i1, first_i2 = script[k][0], script[k][1]
        end_i1 = script[last][0] + script[last][2]
        end_i2 = script[last][1] + script[last][3]
        s1 = max(first_i1 - CONTEXT, 0)
        s2 = max(first_i2 - CONTEXT, 0)
        lctx = min(CONTEXT, len(a) - end_i1, len(b) - end_i2)
        e1, e2 = end_i1 + lctx, end_i2 + lctx
        out.append(_hunk_header(s1 + 1, e1 - s1, s2 + 1, e2 - s2, _funcname(a, s1)))
        for i in range(s1, first_i1):
            out.append(_record(b" ", a[i]))
        pos1 = first_i1
        for j in range(k, last + 1):
            i1, i2, c1, c2 = script[j]
            for i in range(pos1, i1):
                out.append(_record(b" ", a[i]))
            for i in range(i1, i1 + c1):
                out.append(_record(b"-", a[i]))
            for i in range(i2, i2 + c2):
                out.append(_record(b"+", b[i]))
            pos1 = i1 + c1
        for i in range(end_i1, e1):
            out.append(_record(b" ", a[i]))
        k = last + 1
    return b"".join(out)


def _record(prefix: bytes, line: bytes) -> bytes:
    if line.endswith(b"\n"):
        return prefix + line
    return prefix + line + b"\n\\ No newline at end of file\n"


def _hunk_header(s1: int, c1: int, s2: int, c2: int, func: bytes) -> bytes:
    head = b"@@ -%d" % (s1 if c1 else s1 - 1)
    if c1 != 1:
        head += b",%d" % c1
    head += b" +%d" % (s2 if c2 else s2 - 1)
    if c2 != 1:
        head += b",%d" % c2
    head += b" @@"
    if func:
        head += b" " + func
    return head + b"\n"


def _funcname(a: list[bytes], start: int) -> bytes:
    """The nearest line above ``start`` that begins like an identifier (git's default)."""
    for i in range(start - 1, -1, -1):
        line = a[i]
        if line and line[0] in _FUNCNAME_START:
            text = line[:_FUNCNAME_BYTES]
            end = len(text)
            while end > 0 and text[end - 1] in GIT_SPACE:
                end -= 1
            return text[:end]
    return b""
