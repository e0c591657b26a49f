"""Sliding groups of changed lines as git does: compaction and the indent heuristic."""

from __future__ import annotations

# Tuning constants of git's xdiff; output only matches git if these match too.
_MAX_INDENT = 200
_MAX_BLANKS = 20
_MAX_SLIDING = 100
_INDENT_WEIGHT = 60

GIT_SPACE = frozenset(b" \t\n\r")  # git's own ctype: no \v or \f


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


def compact(changed: bytearray, ids: list[int], lines: list[bytes], other: bytearray) -> None:
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
        if c not in GIT_SPACE:
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
