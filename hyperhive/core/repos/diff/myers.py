"""Myers' O(ND) line diff as git's xdiff runs it, with its preprocessing and heuristics."""

from __future__ import annotations

from collections import Counter

# Tuning constants of git's xdiff; output only matches git if these match too.
_SNAKE_CNT = 20
_HEUR_MIN_COST = 256
_MAX_COST_MIN = 256
_K_HEUR = 4
_MAX_EQLIMIT = 1024
_SIMSCAN_WINDOW = 100
_KPDIS_RUN = 4
_LINE_MAX = 1 << 62

# Changed flags live in bytearrays offset by one, so index -1 and n are zero sentinels.


def _bogosqrt(n: int) -> int:
    i = 1
    while n > 0:
        i <<= 1
        n >>= 2
    return i


def changed_lines(ids_a: list[int], ids_b: list[int]) -> tuple[bytearray, bytearray]:
    """The changed-line flags of two files given as line-class ids, as xdiff marks them."""
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
