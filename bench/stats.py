"""Stats benchmark: a series query over 1,000,000 stored samples, bucketed to 200 points.

Loads one series of ``--samples`` samples (two per second, lognormal values) into a
fresh database with the real schema, then times `Stats.query` at three ranges, next
to the naive floor beneath it (one SQL aggregate over the raw rows, no percentiles,
and the exact percentiles computed by fetching and sorting every value). It also
reports how far the sampled p50/p95 are from the exact ones.

    python bench/stats.py [--samples 1000000] [--runs 15] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import Figure, median, percentile, report  # noqa: E402
from hyperhive.core.events import EventBus  # noqa: E402
from hyperhive.core.settings import Limits  # noqa: E402
from hyperhive.core.stats import Stats  # noqa: E402
from hyperhive.core.store import Store  # noqa: E402
from hyperhive.core.store import stats as q  # noqa: E402

AGENT, KEY = "alice", "turn.duration_ms"
STEP = 0.5  # seconds between two samples


async def timed(fn: Callable[[], Awaitable[Any]], runs: int) -> tuple[list[float], Any]:
    await fn()  # warm the page cache
    samples, result = [], None
    for _ in range(runs):
        t0 = time.perf_counter()
        result = await fn()
        samples.append((time.perf_counter() - t0) * 1000)
    return samples, result


async def load(store: Store, n: int, now: float) -> tuple[list[float], float]:
    rng = random.Random(1)
    start = now - n * STEP
    values = [rng.lognormvariate(7, 1) for _ in range(n)]
    chunk = 100_000
    t0 = time.perf_counter()
    for i in range(0, n, chunk):
        rows = [(AGENT, start + j * STEP, KEY, values[j]) for j in range(i, min(n, i + chunk))]
        await store.write(q.insert, rows)
    # a second, busy neighbour series, so the table is not just the one series
    rows = [("bob", start + j * 60, KEY, 1.0) for j in range(int(n * STEP / 60))]
    await store.write(q.insert, rows)
    return values, n / (time.perf_counter() - t0)


def accuracy(values: list[float], start: float, series: Any) -> tuple[float, float]:
    """Median relative error of the bucket p50 and p95 against the exact values."""
    width = series.bucket_seconds
    groups: dict[int, list[float]] = {}
    for j, v in enumerate(values):
        groups.setdefault(int((start + j * STEP - series.start) // width), []).append(v)
    err50, err95 = [], []
    for b in series.buckets:
        exact = sorted(groups[int((b.t - series.start) // width)])
        e50 = exact[int(0.5 * (len(exact) - 1) + 0.5)]
        e95 = exact[int(0.95 * (len(exact) - 1) + 0.5)]
        err50.append(abs(b.p50 - e50) / e50 * 100)
        err95.append(abs(b.p95 - e95) / e95 * 100)
    return statistics.median(err50), statistics.median(err95)


async def measure(n: int, runs: int) -> list[Figure]:
    tmp = Path(tempfile.mkdtemp(prefix="hh-bench-stats-"))
    try:
        store = await Store.open(tmp / "hive.sqlite")
        try:
            now = float(int(time.time()))
            values, rate = await load(store, n, now)
            stats = Stats(store, EventBus(), Limits(), clock=lambda: now)
            since = now - n * STEP

            full, series = await timed(
                lambda: stats.query(AGENT, KEY, since, now, points=200), runs
            )
            day, _ = await timed(lambda: stats.query(AGENT, KEY, now - 86400, now), runs)
            hour, raw = await timed(lambda: stats.query(AGENT, KEY, now - 3600, now), runs)
            err50, err95 = accuracy(values, since, series)

            def scan(db: Any) -> Any:
                return db.execute(
                    "SELECT count(*), sum(value), min(value), max(value) FROM stats "
                    "WHERE agent = ? AND key = ? AND ts >= ?",
                    (AGENT, KEY, since),
                ).fetchone()

            def fetch_sort(db: Any) -> Any:
                got = [
                    v
                    for (v,) in db.execute(
                        "SELECT value FROM stats WHERE agent = ? AND key = ? AND ts >= ?",
                        (AGENT, KEY, since),
                    )
                ]
                return sorted(got)

            floor, _ = await timed(lambda: store.read(scan), max(3, runs // 3))
            naive, _ = await timed(lambda: store.read(fetch_sort), 3)
            rec, _ = await timed(
                lambda: stats.record_turn("carol", {f"k.{i}": float(i) for i in range(20)}),
                runs * 5,
            )
        finally:
            await store.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    p50 = median(full)
    return [
        Figure(f"query {n:,} samples → 200 pts p50", p50, "ms", "≤ 100 ms", None, p50 <= 100),
        Figure(f"query {n:,} samples → 200 pts p95", percentile(full, 95), "ms"),
        Figure(f"buckets returned ({series.resolution} rollups)", len(series.buckets), ""),
        Figure("sampled p50 error, median over buckets", err50, "%"),
        Figure("sampled p95 error, median over buckets", err95, "%"),
        Figure("query last 24 h p50", median(day), "ms"),
        Figure(f"query last 1 h p50 ({raw.resolution}, exact pct)", median(hour), "ms"),
        Figure("floor: SQL count/sum/min/max scan, no pct", median(floor), "ms"),
        Figure("naive exact: fetch every value + sort", median(naive), "ms"),
        Figure("record_turn, 20 keys p50", median(rec), "ms"),
        Figure("load rate (raw + rollups)", rate, "samples/s"),
    ]


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=1_000_000, help="samples in the series")
    parser.add_argument("--runs", type=int, default=15, help="timed runs per query")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    figures = asyncio.run(measure(args.samples, args.runs))
    return report(f"stats (pid {os.getpid()}, {os.cpu_count()} cores)", figures, args.json)


if __name__ == "__main__":
    main()
