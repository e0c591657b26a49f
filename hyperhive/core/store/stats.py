"""Queries on the stats tables: raw samples, per-minute and per-hour rollups, last values.

A series query never scans raw rows over a long range: counts, sums, minima and
maxima come from the rollups, and percentiles from a uniform sample of raw rows that
the index ``(agent, key, lvl, ts, value)`` hands out directly: every sample carries a
geometric level (``P(lvl >= k) = 2^-k``), so ``lvl >= k`` is a 1-in-2^k random sample.
"""

from __future__ import annotations

import random
import sqlite3
from collections.abc import Iterable, Sequence

from hyperhive.core.models import LastValue, SeriesBucket

RESOLUTIONS = (60, 3600)  # seconds per rollup row
MAX_LEVEL = 20


def level(rng: random.Random | None = None) -> int:
    """A geometric level: the number of trailing zero bits of a random number."""
    bits = (rng or random).getrandbits(MAX_LEVEL)
    return MAX_LEVEL if bits == 0 else (bits & -bits).bit_length() - 1


def level_for(count: int, target: int) -> int:
    """The level k that keeps between ``target`` and ``2 * target`` of ``count`` rows."""
    k = 0
    while k < MAX_LEVEL and count >> (k + 1) >= target:
        k += 1
    return k


_ROLLUP = (
    "INSERT INTO stats_rollup (agent, key, period, t, count, sum, min, max) "
    "VALUES (?, ?, ?, ?, 1, ?, ?, ?) ON CONFLICT (agent, key, period, t) DO UPDATE SET "
    "count = count + 1, sum = sum + excluded.sum, "
    "min = min(min, excluded.min), max = max(max, excluded.max)"
)
_LAST = (
    "INSERT INTO stats_last (agent, key, ts, value) VALUES (?, ?, ?, ?) "
    "ON CONFLICT (agent, key) DO UPDATE SET ts = excluded.ts, value = excluded.value "
    "WHERE excluded.ts >= stats_last.ts"
)


def insert(db: sqlite3.Connection, rows: Iterable[tuple[str, float, str, float]]) -> int:
    """Store samples ``(agent, ts, key, value)`` and fold them into the rollups."""
    rows = list(rows)
    db.executemany(
        "INSERT INTO stats (agent, ts, key, value, lvl) VALUES (?, ?, ?, ?, ?)",
        [(a, ts, k, v, level()) for a, ts, k, v in rows],
    )
    for period in RESOLUTIONS:
        db.executemany(
            _ROLLUP, [(a, k, period, int(ts // period) * period, v, v, v) for a, ts, k, v in rows]
        )
    db.executemany(_LAST, [(a, k, ts, v) for a, ts, k, v in rows])
    return len(rows)


def count_pending_approvals(db: sqlite3.Connection) -> int:
    return int(db.execute("SELECT count(*) FROM approvals WHERE status = 'pending'").fetchone()[0])


def rollup_count(
    db: sqlite3.Connection, agent: str, key: str, period: int, start: int, end: float
) -> int:
    """How many samples the rollups of ``period`` hold in ``[start, end)``."""
    row = db.execute(
        "SELECT coalesce(sum(count), 0) FROM stats_rollup "
        "WHERE agent = ? AND key = ? AND period = ? AND t >= ? AND t < ?",
        (agent, key, period, start, end),
    ).fetchone()
    return int(row[0])


def _levels(k: int) -> str:
    return ", ".join(str(i) for i in range(k, MAX_LEVEL + 1))


def _samples(
    db: sqlite3.Connection, agent: str, key: str, k: int, lo: float, hi: float
) -> list[tuple[float, float]]:
    # lvl IN (k..MAX) is one index seek per level, then a ts range: never a full scan
    return db.execute(
        f"SELECT ts, value FROM stats WHERE agent = ? AND key = ? AND lvl IN ({_levels(k)}) "
        "AND ts >= ? AND ts < ?",
        (agent, key, lo, hi),
    ).fetchall()


def _rank(ordered: Sequence[float], q: float) -> float:
    """Nearest-rank percentile of sorted values."""
    return ordered[int(q * (len(ordered) - 1) + 0.5)]


def raw_buckets(
    db: sqlite3.Connection, agent: str, key: str, start: float, end: float, width: float
) -> list[SeriesBucket]:
    """Every aggregate computed exactly from the raw samples in ``[start, end)``."""
    groups: dict[int, list[float]] = {}
    for ts, value in _samples(db, agent, key, 0, start, end):
        groups.setdefault(int((ts - start) // width), []).append(value)
    out = []
    for b in sorted(groups):
        values = sorted(groups[b])
        total = sum(values)
        out.append(
            SeriesBucket(
                start + b * width,
                len(values),
                total,
                total / len(values),
                values[0],
                values[-1],
                _rank(values, 0.5),
                _rank(values, 0.95),
            )
        )
    return out


def rollup_buckets(
    db: sqlite3.Connection,
    agent: str,
    key: str,
    period: int,
    start: int,
    end: int,
    width: int,
    sample_target: int,
) -> list[SeriesBucket]:
    """Buckets of ``width`` (a multiple of ``period``) from the rollups of ``period``.

    Percentiles come from a uniform sample of about ``sample_target`` to twice that many
    raw rows per bucket (all of them, and so exact, in a bucket with fewer).
    """
    rows = db.execute(
        "SELECT (t - ?) / ? AS b, sum(count), sum(sum), min(min), max(max) FROM stats_rollup "
        "WHERE agent = ? AND key = ? AND period = ? AND t >= ? AND t < ? GROUP BY b ORDER BY b",
        (start, width, agent, key, period, start, end),
    ).fetchall()
    levels = {int(b): level_for(int(n), sample_target) for b, n, *_ in rows}
    values: dict[int, list[float]] = {b: [] for b in levels}
    # one query per run of neighbouring buckets that want the same level
    runs: list[tuple[int, int, int]] = []  # (first bucket, last bucket, level)
    for b in sorted(levels):
        k = levels[b]
        if runs and runs[-1][2] == k and runs[-1][1] == b - 1:
            runs[-1] = (runs[-1][0], b, k)
        else:
            runs.append((b, b, k))
    for first, last, k in runs:
        lo, hi = start + first * width, start + (last + 1) * width
        # the bucket number is computed in SQL: fewer Python objects per row
        cur = db.execute(
            f"SELECT CAST((ts - ?) / ? AS INTEGER), value FROM stats "
            f"WHERE agent = ? AND key = ? AND lvl IN ({_levels(k)}) AND ts >= ? AND ts < ?",
            (start, width, agent, key, lo, hi),
        )
        for b, value in cur:
            got = values.get(b)
            if got is not None:
                got.append(value)
    out = []
    for b, n, total, lo_v, hi_v in rows:
        sample = sorted(values[int(b)])
        p50 = _rank(sample, 0.5) if sample else float(total) / n
        p95 = _rank(sample, 0.95) if sample else float(hi_v)
        out.append(
            SeriesBucket(
                float(start + int(b) * width),
                int(n),
                float(total),
                float(total) / n,
                float(lo_v),
                float(hi_v),
                p50,
                p95,
                exact=levels[int(b)] == 0 and len(sample) == n,
            )
        )
    return out


def last_values(db: sqlite3.Connection, agent: str | None = None) -> list[LastValue]:
    """The newest sample of every series (of one agent), by agent and key."""
    if agent is None:
        rows = db.execute("SELECT agent, key, ts, value FROM stats_last ORDER BY agent, key")
    else:
        rows = db.execute(
            "SELECT agent, key, ts, value FROM stats_last WHERE agent = ? ORDER BY key", (agent,)
        )
    return [LastValue(str(a), str(k), float(ts), float(v)) for a, k, ts, v in rows]


def series(db: sqlite3.Connection) -> list[tuple[str, str]]:
    return [(str(a), str(k)) for a, k in db.execute("SELECT agent, key FROM stats_last")]


def sweep_series(
    db: sqlite3.Connection, agent: str, key: str, cutoff: float, chunk: int
) -> tuple[int, bool]:
    """Delete up to ``chunk`` raw samples of one series older than ``cutoff``.

    Returns ``(deleted, done)``; the rollups wholly older than ``cutoff`` go on the
    last chunk. Chunks keep each write short: the writer shares the daemon's loop.
    """
    deleted = db.execute(
        "DELETE FROM stats WHERE rowid IN (SELECT rowid FROM stats "
        "WHERE agent = ? AND key = ? AND ts < ? LIMIT ?)",
        (agent, key, cutoff, chunk),
    ).rowcount
    done = deleted < chunk
    if not done:
        return deleted, done
    gone = db.execute(
        "DELETE FROM stats_last WHERE agent = ? AND key = ? AND ts < ?", (agent, key, cutoff)
    ).rowcount
    if gone:  # nothing newer is left: drop the series' rollups entirely
        db.execute("DELETE FROM stats_rollup WHERE agent = ? AND key = ?", (agent, key))
        return deleted, done
    for period in RESOLUTIONS:
        db.execute(
            "DELETE FROM stats_rollup WHERE agent = ? AND key = ? AND period = ? AND t <= ?",
            (agent, key, period, cutoff - period),
        )
    return deleted, done
