"""Per-agent quotas (token buckets) and the database watermark.

Every quota is a token bucket: it holds up to ``burst`` tokens and refills at ``rate``
tokens a second; a request spends its cost all at once or is refused whole, with a
`Refused` error saying which quota, its rate and burst, and when to try again. The
operator and the system are never limited.

The watermark refuses agent writes (not the operator's) once the database holds more
than ``limits.db_watermark_bytes`` of pages in use, and publishes
``store.watermark_changed`` when it is crossed either way (``daemon.status`` shows it).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from hyperhive.core.errors import Refused
from hyperhive.core.events import EventBus
from hyperhive.core.names import OPERATOR, SYSTEM
from hyperhive.core.settings import Limits

logger = logging.getLogger(__name__)


@dataclass
class Bucket:
    """A token bucket: ``burst`` tokens, refilled at ``rate`` per second."""

    rate: float
    burst: float
    tokens: float
    stamp: float

    def take(self, cost: float, now: float) -> float:
        """Spend ``cost`` tokens; return 0.0, or the seconds until they would be there."""
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if cost <= self.tokens:
            self.tokens -= cost
            return 0.0
        if cost > self.burst or self.rate <= 0:
            return float("inf")
        return (cost - self.tokens) / self.rate


@dataclass(frozen=True)
class Quota:
    """One kind of quota: its name, unit, rate and burst."""

    name: str
    unit: str
    rate: float
    burst: float


def quotas_of(limits: Limits) -> dict[str, Quota]:
    """Every per-agent quota the limits define, by name."""
    return {
        q.name: q
        for q in (
            Quota("send", "messages", limits.sends_per_second, float(limits.send_burst)),
            Quota("events", "events", limits.events_per_second, float(limits.events_burst)),
            Quota(
                "event_bytes",
                "bytes",
                float(limits.event_bytes_per_second),
                float(limits.event_bytes_burst),
            ),
            Quota("stats", "calls", limits.stats_per_second, float(limits.stats_burst)),
            Quota(
                "stats_samples",
                "samples",
                limits.stats_samples_per_second,
                float(limits.stats_samples_burst),
            ),
        )
    }


class Quotas:
    """The buckets of every agent; `spend` checks several quotas of one request at once."""

    def __init__(self, limits: Limits, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._quotas = quotas_of(limits)
        self._buckets: dict[tuple[str, str], Bucket] = {}
        self._clock = clock

    def _bucket(self, agent: str, quota: Quota, now: float) -> Bucket:
        key = (agent, quota.name)
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = Bucket(quota.rate, quota.burst, quota.burst, now)
        return bucket

    def spend(self, agent: str, what: str, **costs: float) -> None:
        """Spend ``costs`` (quota name: amount) of ``agent``, all or nothing.

        Raises:
            Refused: a quota is exhausted; nothing was spent.
        """
        if agent in (OPERATOR, SYSTEM):
            return
        now = self._clock()
        taken: list[tuple[Bucket, float]] = []
        for name, cost in costs.items():
            quota = self._quotas[name]
            bucket = self._bucket(agent, quota, now)
            wait = bucket.take(cost, now)
            if wait:
                for done, spent in taken:  # all or nothing
                    done.tokens += spent
                raise _refusal(agent, what, quota, cost, wait)
            taken.append((bucket, cost))


def _refusal(agent: str, what: str, quota: Quota, cost: float, wait: float) -> Refused:
    limit = f"{quota.rate:g} {quota.unit}/s, burst {quota.burst:g}"
    if wait == float("inf"):
        return Refused(
            f"quota exceeded: {what} of {agent} costs {cost:g} {quota.unit}, more than the "
            f"{quota.name} quota allows at once ({limit}); send less at a time"
        )
    return Refused(
        f"quota exceeded: {agent} is over its {quota.name} quota for {what} ({limit}); "
        f"retry in {wait:.1f}s"
    )


class Watermark:
    """Refuses agent writes while the database is over ``limits.db_watermark_bytes``."""

    CHECK_SECONDS = 0.5  # how stale the measured size may be

    def __init__(
        self,
        limits: Limits,
        events: EventBus,
        used_bytes: Callable[[], int],
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._limit = limits.db_watermark_bytes
        self._events = events
        self._used = used_bytes
        self._clock = clock
        self._checked = float("-inf")
        self.used = 0
        self.over = False

    def refresh(self) -> bool:
        """Measure the database now; publish a change of state. Returns ``over``."""
        self._checked = self._clock()
        try:
            self.used = self._used()
        except Exception:  # a failed measure keeps the last state
            logger.exception("cannot measure the database size")
            return self.over
        over = self._limit > 0 and self.used > self._limit
        if over != self.over:
            self.over = over
            if over:
                logger.error(
                    "the database holds %d bytes, over the watermark of %d: agent writes "
                    "are refused until it shrinks",
                    self.used,
                    self._limit,
                )
            else:
                logger.warning("the database is back under its watermark: agent writes resume")
            self._events.publish("store.watermark_changed", self.to_json())
        return self.over

    def check(self, agent: str, what: str) -> None:
        """Refuse a write by ``agent`` while over the watermark (the operator never is).

        Raises:
            Refused: the database is over its watermark.
        """
        if agent in (OPERATOR, SYSTEM):
            return
        if self._clock() - self._checked >= self.CHECK_SECONDS:
            self.refresh()
        if self.over:
            raise Refused(
                f"refused: the database is over its watermark ({self.used} bytes in use, "
                f"limit {self._limit}); {what} by {agent} is not stored until the operator "
                "frees space"
            )

    def to_json(self) -> dict[str, object]:
        return {"over": self.over, "used_bytes": self.used, "watermark_bytes": self._limit}
