"""Telemetry series: per-turn samples from harnesses, swarm-wide samples, bucketed queries.

A series is ``(agent, key)``; the swarm-wide series use the agent ``*``. A query picks
a resolution from the bucket width: raw samples below a minute (when the range holds
few enough of them), else the per-minute or per-hour rollups, so its cost depends on
the number of buckets, not on the number of samples (see ``bench/stats.py``).
"""

from __future__ import annotations

import builtins
import math
import re
import sqlite3
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hyperhive.core.agents import AgentRegistry
from hyperhive.core.errors import InvalidInput
from hyperhive.core.events import EventBus
from hyperhive.core.models import AgentState, LastValue, SeriesBucket
from hyperhive.core.settings import Limits
from hyperhive.core.store import Store
from hyperhive.core.store import stats as q

__all__ = ["SWARM", "LastValue", "Series", "SeriesBucket", "Stats", "plan"]

SWARM = "*"  # the agent name of swarm-wide series
KEY_RE = re.compile(r"[a-z0-9_.:-]{1,64}")
MAX_KEYS = 200
MAX_POINTS = 10_000
RAW_BUDGET = 40_000  # above this many samples in range, a query reads the rollups
SAMPLE_BUDGET = 25_000  # raw rows read per query for percentiles (about; see level_for)
FUTURE_SLACK = 300.0
WIDTH_SLACK = 0.01  # a harness clock may run this far ahead of the daemon's
_RESOLUTION_NAMES = {0: "raw", 60: "1m", 3600: "1h"}


@dataclass(frozen=True)
class Series:
    """A bucketed series: only buckets holding samples, oldest first.

    Buckets are ``bucket_seconds`` wide and aligned to multiples of it (so a chart
    redrawn later lines up); the first starts at ``start <= since``.
    """

    agent: str
    key: str
    since: float
    until: float
    start: float
    bucket_seconds: float
    resolution: str  # raw, 1m or 1h
    buckets: tuple[SeriesBucket, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "agent": self.agent,
            "key": self.key,
            "since": self.since,
            "until": self.until,
            "start": self.start,
            "bucket_seconds": self.bucket_seconds,
            "resolution": self.resolution,
            "buckets": [b.to_json() for b in self.buckets],
        }


def plan(since: float, until: float, points: int, bucket_seconds: float | None) -> tuple[int, int]:
    """``(bucket width, rollup period)`` for a query; period 0 means raw samples.

    Widths of a minute or more are rounded up to whole minutes (to whole hours when
    that widens them by at most 15%), so that every rollup row falls into exactly one
    bucket; a series may thus have fewer buckets than ``points`` (or, by alignment,
    one or two more).
    """
    if bucket_seconds is None:
        # "the last hour" is a few ms over an hour by the time it is read: a bucket up
        # to 1% narrower than wanted beats one twice as wide
        wanted = (until - since) / points * (1 - WIDTH_SLACK)
    else:
        wanted = bucket_seconds
    width = max(1, math.ceil(wanted))
    if width < 60:
        return width, 0
    width = math.ceil(wanted / 60) * 60
    hours = math.ceil(wanted / 3600) * 3600
    # hour rollups (fewer rows to read) when rounding up to whole hours widens the
    # buckets by at most 15%
    if width >= 3600 and hours <= width * 1.15:
        return hours, 3600
    return width, 60


def _span(since: float, until: float, width: int) -> tuple[int, int]:
    start = math.floor(since / width) * width
    end = start + max(1, math.ceil((until - start) / width)) * width
    return start, end


def _number(what: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidInput(f"{what} must be a finite number, not {value!r}")
    return float(value)


def _check_agent(agent: object) -> str:
    if not isinstance(agent, str) or not 0 < len(agent) <= 64:
        raise InvalidInput("the agent of a series must be a name of 1-64 characters")
    return agent


def _check_key(key: object) -> str:
    if not isinstance(key, str) or not KEY_RE.fullmatch(key):
        raise InvalidInput(
            f"invalid stats key {key!r}: use 1-64 characters of a-z, 0-9 and _ . : -"
        )
    return key


class Stats:
    """Stores samples and answers series queries over them."""

    SAMPLE_SECONDS = 15.0  # swarm-wide sampling interval
    SWEEP_SECONDS = 3600.0  # retention sweep interval
    SWEEP_CHUNK = 5000  # raw rows deleted per write

    def __init__(
        self,
        store: Store,
        events: EventBus,
        limits: Limits,
        agents: AgentRegistry | None = None,
        inbox_depth: Callable[[str], int] | None = None,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._events = events
        self._limits = limits
        self._agents = agents
        self._depth = inbox_depth
        self.clock = clock

    async def record_turn(
        self, agent: str, samples: dict[str, float], ts: float | None = None
    ) -> int:
        """Store one sample set (a harness sends one per turn); publish ``stats.recorded``.

        Args:
            agent: the series owner (an agent, or ``*`` for swarm-wide series).
            samples: up to 200 ``key: value`` pairs; keys are 1-64 chars of
                ``[a-z0-9_.:-]`` (e.g. ``turn.duration_ms``), values finite numbers.
            ts: when it was measured (default now); not in the future, not older than
                the retention.

        Returns:
            How many samples were stored.

        Raises:
            InvalidInput: a bad key, value, time, or too many samples.
        """
        _check_agent(agent)
        if not isinstance(samples, dict) or not samples:
            raise InvalidInput("'samples' must be a non-empty object of key: number")
        if len(samples) > MAX_KEYS:
            raise InvalidInput(f"{len(samples)} samples in one set; the limit is {MAX_KEYS}")
        rows = [(_check_key(k), _number(f"sample {k!r}", v)) for k, v in samples.items()]
        now = self.clock()
        if ts is None:
            ts = now
        else:
            ts = _number("'ts'", ts)
            oldest = now - self._limits.stats_keep_days * 86400
            if not oldest <= ts <= now + FUTURE_SLACK:
                raise InvalidInput("'ts' must be a recent epoch time, not in the future")
        await self._store.write(q.insert, [(agent, ts, k, v) for k, v in rows])
        self._events.publish("stats.recorded", {"agent": agent, "ts": ts, "samples": dict(rows)})
        return len(rows)

    async def query(
        self,
        agent: str,
        key: str,
        since: float,
        until: float | None = None,
        bucket_seconds: float | None = None,
        points: int = 200,
    ) -> Series:
        """The series ``(agent, key)`` over ``[since, until)`` in at most ``points`` buckets.

        Each bucket has count, sum, avg, min and max (exact) and p50/p95 (exact when
        its ``exact`` flag is set, else from a uniform sample of 128-256+ values).

        Args:
            agent: the series owner (``*`` for swarm-wide).
            key: the sample key.
            since: epoch seconds.
            until: epoch seconds (default now).
            bucket_seconds: the bucket width; default ``(until - since) / points``.
            points: the most buckets wanted when ``bucket_seconds`` is not given.

        Raises:
            InvalidInput: a bad key, time range, width or point count.
        """
        _check_agent(agent)
        _check_key(key)
        since = _number("'since'", since)
        until = self.clock() if until is None else _number("'until'", until)
        if since >= until:
            raise InvalidInput("'since' must be before 'until'")
        if isinstance(points, bool) or not isinstance(points, int) or not 0 < points <= MAX_POINTS:
            raise InvalidInput(f"'points' must be between 1 and {MAX_POINTS}")
        if bucket_seconds is not None and _number("'bucket_seconds'", bucket_seconds) < 1:
            raise InvalidInput("'bucket_seconds' must be at least 1")
        width, period = plan(since, until, points, bucket_seconds)
        start, end = _span(since, until, width)
        if (end - start) // width > MAX_POINTS:
            raise InvalidInput(f"that is over {MAX_POINTS} buckets; use wider buckets")
        return await self._store.read(_query, agent, key, since, until, width, period)

    async def keys(self, agent: str) -> builtins.list[str]:
        """The keys of ``agent`` that hold data, sorted."""
        return [v.key for v in await self.summary(agent)]

    async def summary(self, agent: str | None = None) -> builtins.list[LastValue]:
        """The newest value of every key of ``agent`` (of every agent when None)."""
        return await self._store.read(q.last_values, agent)

    async def sample_swarm(self) -> dict[str, float]:
        """Record the swarm-wide series (agent ``*``): agent states, approvals, inboxes."""
        samples: dict[str, float] = {
            "approvals.pending": float(await self._store.read(q.count_pending_approvals))
        }
        if self._agents is not None:
            live = self._agents.live()
            counts = Counter(a.state for a in live)
            for state in AgentState:
                if state is not AgentState.DESTROYED:
                    samples[f"agents.{state.value}"] = float(counts.get(state, 0))
            samples["agents.total"] = float(len(live))
            if self._depth is not None:
                samples["inbox.total"] = float(sum(self._depth(a.name) for a in live))
        await self.record_turn(SWARM, samples)
        return samples

    async def sweep(self) -> int:
        """Delete samples older than ``limits.stats_keep_days``; return how many went."""
        cutoff = self.clock() - self._limits.stats_keep_days * 86400
        deleted = 0
        for agent, key in await self._store.read(q.series):
            done = False
            while not done:
                n, done = await self._store.write(
                    q.sweep_series, agent, key, cutoff, self.SWEEP_CHUNK
                )
                deleted += n
        return deleted


def _query(
    db: sqlite3.Connection,
    agent: str,
    key: str,
    since: float,
    until: float,
    width: int,
    period: int,
) -> Series:
    """Runs on the reader thread: choose the resolution, then read the buckets."""
    start, end = _span(since, until, width)
    if period == 0:
        lo = start // 60 * 60
        if q.rollup_count(db, agent, key, 60, lo, end) > RAW_BUDGET:
            width, period = 60, 60
            start, end = _span(since, until, width)
    if period == 0:
        buckets = q.raw_buckets(db, agent, key, start, end, width)
    else:
        target = max(64, SAMPLE_BUDGET // max(1, (end - start) // width))
        buckets = q.rollup_buckets(db, agent, key, period, start, end, width, target)
    return Series(
        agent,
        key,
        since,
        until,
        float(start),
        float(width),
        _RESOLUTION_NAMES[period],
        tuple(buckets),
    )
