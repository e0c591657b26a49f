"""Unified multi-file diffs that match ``git diff --no-renames`` byte for byte."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

CONTEXT = 3
BINARY_SNIFF_BYTES = 8000  # git looks for a NUL in this many leading bytes

# Tuning constants of git's xdiff; output only matches git if these match too.
_SNAKE_CNT = 20
_HEUR_MIN_COST = 256
_MAX_COST_MIN = 256
_K_HEUR = 4
_MAX_EQLIMIT = 1024
_SIMSCAN_WINDOW = 100
_KPDIS_RUN = 4
_LINE_MAX = 1 << 62
_MAX_INDENT = 200
_MAX_BLANKS = 20
_MAX_SLIDING = 100
_INDENT_WEIGHT = 60

_GIT_SPACE = frozenset(b" \t\n\r")  # git's own ctype: no \v or \f
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
    ch_a, ch_b = _changed_lines(ids_a, ids_b)
    _compact(ch_a, ids_a, a, ch_b)
    _compact(ch_b, ids_b, b, ch_a)
    script = _script(ch_a, len(a), ch_b, len(b))
    return _emit(script, a, b)


# --- Myers with xdiff's preprocessing and heuristics ------------------------------
# Changed flags live in bytearrays offset by one, so index -1 and n are zero sentinels.


def _bogosqrt(n: int) -> int:
    i = 1
    while n > 0:
        i <<= 1
        n >>= 2
    return i


def _changed_lines(ids_a: list[int], ids_b: list[int]) -> tuple[bytearray, bytearray]:
    n_a, n_b = len(ids_a), len(ids_b)
    ch_a, ch_b = bytearray(n_a + 2), bytearray(n_b + 2)
    # common prefix and suffix never take part
    limit = min(n_a, n_b)
    start = 0
    while start < limit and ids_a[start] == ids_b[start]:
        start += 1
    suffix = 0
    while suffix < limit - start and ids_a[n_a - 1 - suffix] == ids_b[n_b - 1 - suffix]:
        suffix += 1
    keep_a, ha_a = _discard(ids_a, start, n_a - suffix - 1, Counter(ids_b), ch_a)
    keep_b, ha_b = _discard(ids_b, start, n_b - suffix - 1, Counter(ids_a), ch_b)
    _Myers(ha_a, keep_a, ha_b, keep_b).run(ch_a, ch_b)
    return ch_a, ch_b


def _discard(
    ids: list[int], start: int, end: int, other: Counter[int], changed: bytearray
) -> tuple[list[int], list[int]]:
    """Mark lines with no match in the other file as changed; return the rest to diff.

    Lines matching very often are dropped too when they sit among unmatched lines.
    """
    mlim = min(_bogosqrt(len(ids)), _MAX_EQLIMIT)
    dis = bytearray(len(ids) + 1)
    for i in range(start, end + 1):
        nm = min(other[ids[i]], mlim)
        dis[i] = 0 if nm == 0 else 2 if nm >= mlim else 1
    keep: list[int] = []
    hashes: list[int] = []
    for i in range(start, end + 1):
        if dis[i] == 1 or (dis[i] == 2 and not _multimatch_discardable(dis, i, start, end)):
            keep.append(i)
            hashes.append(ids[i])
        else:
            changed[i + 1] = 1
    return keep, hashes


def _multimatch_discardable(dis: bytearray, i: int, s: int, e: int) -> bool:
    s = max(s, i - _SIMSCAN_WINDOW)
    e = min(e, i + _SIMSCAN_WINDOW)
    no_before, multi_before = 0, 1
    r = 1
    while i - r >= s:
        v = dis[i - r]
        if v == 0:
            no_before += 1
        elif v == 2:
            multi_before += 1
        else:
            break
        r += 1
    if no_before == 0:
        return False
    no_after, multi_after = 0, 1
    r = 1
    while i + r <= e:
        v = dis[i + r]
        if v == 0:
            no_after += 1
        elif v == 2:
            multi_after += 1
        else:
            break
        r += 1
    if no_after == 0:
        return False
    no_total = no_after + no_before
    multi_total = multi_after + multi_before
    return multi_total * _KPDIS_RUN < multi_total + no_total


class _Myers:
    """Myers' O(ND) diff as xdiff runs it, marking changed lines in ``ch1``/``ch2``."""

    def __init__(self, ha1: list[int], idx1: list[int], ha2: list[int], idx2: list[int]) -> None:
        self.ha1, self.idx1, self.ha2, self.idx2 = ha1, idx1, ha2, idx2
        ndiags = len(ha1) + len(ha2) + 3
        self.base = len(ha2) + 1  # diagonal d lives at index d + base
        self.kvdf = [0] * ndiags
        self.kvdb = [0] * ndiags
        self.mxcost = max(_bogosqrt(ndiags), _MAX_COST_MIN)

    def run(self, ch1: bytearray, ch2: bytearray) -> None:
        ha1, ha2 = self.ha1, self.ha2
        # an explicit stack: the boxes are independent, so the order does not matter
        stack = [(0, len(ha1), 0, len(ha2), False)]
        while stack:
            off1, lim1, off2, lim2, need_min = stack.pop()
            while off1 < lim1 and off2 < lim2 and ha1[off1] == ha2[off2]:
                off1 += 1
                off2 += 1
            while off1 < lim1 and off2 < lim2 and ha1[lim1 - 1] == ha2[lim2 - 1]:
                lim1 -= 1
                lim2 -= 1
            if off1 == lim1:
                for i in range(off2, lim2):
                    ch2[self.idx2[i] + 1] = 1
            elif off2 == lim2:
                for i in range(off1, lim1):
                    ch1[self.idx1[i] + 1] = 1
            else:
                i1, i2, min_lo, min_hi = self.split(off1, lim1, off2, lim2, need_min)
                stack.append((i1, lim1, i2, lim2, min_hi))
                stack.append((off1, i1, off2, i2, min_lo))

    def split(
        self, off1: int, lim1: int, off2: int, lim2: int, need_min: bool
    ) -> tuple[int, int, bool, bool]:
        """A split point on the middle snake of the box, or a good-enough one if costly."""
        ha1, ha2, kvdf, kvdb, base = self.ha1, self.ha2, self.kvdf, self.kvdb, self.base
        dmin, dmax = off1 - lim2, lim1 - off2
        fmid, bmid = off1 - off2, lim1 - lim2
        odd = (fmid - bmid) & 1
        fmin = fmax = fmid
        bmin = bmax = bmid
        kvdf[fmid + base] = off1
        kvdb[bmid + base] = lim1
        ec = 0
        while True:
            ec += 1
            got_snake = False
            if fmin > dmin:
                fmin -= 1
                kvdf[fmin - 1 + base] = -1
            else:
                fmin += 1
            if fmax < dmax:
                fmax += 1
                kvdf[fmax + 1 + base] = -1
            else:
                fmax -= 1
            for d in range(fmax, fmin - 1, -2):
                lo, hi = kvdf[d - 1 + base], kvdf[d + 1 + base]
                i1 = lo + 1 if lo >= hi else hi
                prev1 = i1
                i2 = i1 - d
                while i1 < lim1 and i2 < lim2 and ha1[i1] == ha2[i2]:
                    i1 += 1
                    i2 += 1
                if i1 - prev1 > _SNAKE_CNT:
                    got_snake = True
                kvdf[d + base] = i1
                if odd and bmin <= d <= bmax and kvdb[d + base] <= i1:
                    return i1, i2, True, True

            if bmin > dmin:
                bmin -= 1
                kvdb[bmin - 1 + base] = _LINE_MAX
            else:
                bmin += 1
            if bmax < dmax:
                bmax += 1
                kvdb[bmax + 1 + base] = _LINE_MAX
            else:
                bmax -= 1
            for d in range(bmax, bmin - 1, -2):
                lo, hi = kvdb[d - 1 + base], kvdb[d + 1 + base]
                i1 = lo if lo < hi else hi - 1
                prev1 = i1
                i2 = i1 - d
                while i1 > off1 and i2 > off2 and ha1[i1 - 1] == ha2[i2 - 1]:
                    i1 -= 1
                    i2 -= 1
                if prev1 - i1 > _SNAKE_CNT:
                    got_snake = True
                kvdb[d + base] = i1
                if not odd and fmin <= d <= fmax and i1 <= kvdf[d + base]:
                    return i1, i2, True, True

            if need_min:
                continue
            if got_snake and ec > _HEUR_MIN_COST:
                box = (off1, lim1, off2, lim2)
                found = self.good_snake(box, ec, fmin, fmax, fmid, forward=True)
                if found is not None:
                    return found[0], found[1], True, False
                found = self.good_snake(box, ec, bmin, bmax, bmid, forward=False)
                if found is not None:
                    return found[0], found[1], False, True
            if ec >= self.mxcost:
                return self.furthest(off1, lim1, off2, lim2, fmin, fmax, bmin, bmax)

    def good_snake(
        self, box: tuple[int, int, int, int], ec: int, dlo: int, dhi: int, mid: int, forward: bool
    ) -> tuple[int, int] | None:
        """A diagonal that got far and ends (or starts) in a long snake, if any."""
        off1, lim1, off2, lim2 = box
        ha1, ha2 = self.ha1, self.ha2
        kv = self.kvdf if forward else self.kvdb
        best, found = 0, None
        for d in range(dhi, dlo - 1, -2):
            dd = d - mid if d > mid else mid - d
            i1 = kv[d + self.base]
            i2 = i1 - d
            if forward:
                v = (i1 - off1) + (i2 - off2) - dd
                inside = off1 + _SNAKE_CNT <= i1 < lim1 and off2 + _SNAKE_CNT <= i2 < lim2
            else:
                v = (lim1 - i1) + (lim2 - i2) - dd
                inside = off1 < i1 <= lim1 - _SNAKE_CNT and off2 < i2 <= lim2 - _SNAKE_CNT
            if v > _K_HEUR * ec and v > best and inside:
                k = 1 if forward else 0
                last = _SNAKE_CNT if forward else _SNAKE_CNT - 1
                while ha1[i1 - k] == ha2[i2 - k] if forward else ha1[i1 + k] == ha2[i2 + k]:
                    if k == last:
                        best, found = v, (i1, i2)
                        break
                    k += 1
        return found

    def furthest(
        self, off1: int, lim1: int, off2: int, lim2: int, fmin: int, fmax: int, bmin: int, bmax: int
    ) -> tuple[int, int, bool, bool]:
        """Too costly: take the furthest-reaching path found so far."""
        fbest = fbest1 = -1
        for d in range(fmax, fmin - 1, -2):
            i1 = min(self.kvdf[d + self.base], lim1)
            i2 = i1 - d
            if lim2 < i2:
                i1, i2 = lim2 + d, lim2
            if fbest < i1 + i2:
                fbest, fbest1 = i1 + i2, i1
        bbest = bbest1 = _LINE_MAX
        for d in range(bmax, bmin - 1, -2):
            i1 = max(off1, self.kvdb[d + self.base])
            i2 = i1 - d
            if i2 < off2:
                i1, i2 = off2 + d, off2
            if i1 + i2 < bbest:
                bbest, bbest1 = i1 + i2, i1
        if (lim1 + lim2) - bbest < fbest - (off1 + off2):
            return fbest1, fbest - fbest1, True, False
        return bbest1, bbest - bbest1, False, True


# --- sliding change groups (git's compaction and indent heuristic) ------------------


class _Groups:
    """Walks the groups of changed lines of one file; ``start``/``end`` as in xdiff."""

    def __init__(self, changed: bytearray, ids: list[int]) -> None:
        self.ch = changed
        self.ids = ids
        self.n = len(ids)
        self.start = 0
        self.end = 0
        while self.ch[self.end + 1]:
            self.end += 1

    def next(self) -> bool:
        if self.end == self.n:
            return False
        self.start = self.end + 1
        self.end = self.start
        while self.ch[self.end + 1]:
            self.end += 1
        return True

    def previous(self) -> bool:
        if self.start == 0:
            return False
        self.end = self.start - 1
        self.start = self.end
        while self.ch[self.start]:  # changed[start - 1]
            self.start -= 1
        return True

    def slide_down(self) -> bool:
        if self.end < self.n and self.ids[self.start] == self.ids[self.end]:
            self.ch[self.start + 1] = 0
            self.start += 1
            self.ch[self.end + 1] = 1
            self.end += 1
            while self.ch[self.end + 1]:
                self.end += 1
            return True
        return False

    def slide_up(self) -> bool:
        if self.start > 0 and self.ids[self.start - 1] == self.ids[self.end - 1]:
            self.start -= 1
            self.ch[self.start + 1] = 1
            self.end -= 1
            self.ch[self.end + 1] = 0
            while self.ch[self.start]:
                self.start -= 1
            return True
        return False


def _compact(changed: bytearray, ids: list[int], lines: list[bytes], other: bytearray) -> None:
    """Slide each group of changes to line up with the other file, else to the nicest spot."""
    g = _Groups(changed, ids)
    go = _Groups(other, [0] * (len(other) - 2))
    indents: dict[int, int] = {}
    while True:
        if g.end != g.start:
            while True:
                groupsize = g.end - g.start
                end_matching_other = -1
                while g.slide_up():
                    go.previous()
                earliest_end = g.end
                if go.end > go.start:
                    end_matching_other = g.end
                while g.slide_down():
                    go.next()
                    if go.end > go.start:
                        end_matching_other = g.end
                if groupsize == g.end - g.start:
                    break
            if g.end == earliest_end:
                pass
            elif end_matching_other != -1:
                while go.end == go.start:
                    g.slide_up()
                    go.previous()
            else:
                best_shift = _best_shift(lines, indents, g.end, groupsize, earliest_end)
                while g.end > best_shift:
                    g.slide_up()
                    go.previous()
        if not g.next():
            break
        go.next()


def _best_shift(
    lines: list[bytes], indents: dict[int, int], end: int, groupsize: int, earliest_end: int
) -> int:
    shift = max(earliest_end, end - groupsize - 1, end - _MAX_SLIDING)
    best_shift = -1
    best = (0, 0)
    while shift <= end:
        eff, pen = _score(lines, indents, shift)
        eff2, pen2 = _score(lines, indents, shift - groupsize)
        score = (eff + eff2, pen + pen2)
        if best_shift == -1 or _score_cmp(score, best) <= 0:
            best, best_shift = score, shift
        shift += 1
    return best_shift


def _score_cmp(s1: tuple[int, int], s2: tuple[int, int]) -> int:
    cmp = (s1[0] > s2[0]) - (s1[0] < s2[0])
    return _INDENT_WEIGHT * cmp + (s1[1] - s2[1])


def _indent(lines: list[bytes], indents: dict[int, int], i: int) -> int:
    """Indentation of a line (tab = to next multiple of 8), or -1 if blank."""
    got = indents.get(i)
    if got is not None:
        return got
    ret = -1
    col = 0
    for c in lines[i]:
        if c not in _GIT_SPACE:
            ret = col
            break
        if c == 32:
            col += 1
        elif c == 9:
            col += 8 - col % 8
        if col >= _MAX_INDENT:
            ret = _MAX_INDENT
            break
    indents[i] = ret
    return ret


def _score(lines: list[bytes], indents: dict[int, int], split: int) -> tuple[int, int]:
    """(effective indent, penalty) of splitting just above line ``split``."""
    n = len(lines)
    end_of_file = split >= n
    indent = -1 if end_of_file else _indent(lines, indents, split)
    pre_blank, pre_indent = 0, -1
    i = split - 1
    while i >= 0:
        pre_indent = _indent(lines, indents, i)
        if pre_indent != -1:
            break
        pre_blank += 1
        if pre_blank == _MAX_BLANKS:
            pre_indent = 0
            break
        i -= 1
    post_blank, post_indent = 0, -1
    i = split + 1
    while i < n:
        post_indent = _indent(lines, indents, i)
        if post_indent != -1:
            break
        post_blank += 1
        if post_blank == _MAX_BLANKS:
            post_indent = 0
            break
        i += 1

    penalty = 0
    if pre_indent == -1 and pre_blank == 0:
        penalty += 1  # start of file
    if end_of_file:
        penalty += 21
    post_blank = 1 + post_blank if indent == -1 else 0
    total_blank = pre_blank + post_blank
    penalty += -30 * total_blank + 6 * post_blank
    eff = indent if indent != -1 else post_indent
    any_blanks = total_blank != 0
    if eff == -1 or pre_indent == -1:
        pass
    elif eff > pre_indent:
        penalty += 10 if any_blanks else -4
    elif eff == pre_indent:
        pass
    elif post_indent != -1 and post_indent > eff:
        penalty += 17 if any_blanks else 24
    else:
        penalty += 17 if any_blanks else 23
    return eff, penalty


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
            while end > 0 and text[end - 1] in _GIT_SPACE:
                end -= 1
            return text[:end]
    return b""
