"""In-process pub/sub: every state change an operator cares about is published here.

Subscribers (host.sock connections, tests) each get a bounded queue. A subscriber
that falls too far behind is cut off with an ``events.overflow`` marker instead of
slowing the daemon down; the client then re-reads a snapshot.
"""

from __future__ import annotations

import asyncio
import fnmatch
import itertools
import logging
import time
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from typing import Any

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Event:
    """One pushed event: ``name`` in past-tense dotted form, e.g. ``approval.created``."""

    seq: int
    ts: float
    name: str
    data: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {"event": self.name, "seq": self.seq, "ts": self.ts, "data": self.data}


OVERFLOW = "events.overflow"


@dataclass(eq=False)
class Subscription:
    """A bounded queue of events whose names match one of ``patterns`` (fnmatch)."""

    patterns: tuple[str, ...]
    queue: asyncio.Queue[Event] = field(default_factory=lambda: asyncio.Queue(10_000))
    closed: bool = False
    owner: int | None = None  # the connection it belongs to, for events meant for it alone

    def matches(self, name: str) -> bool:
        return any(fnmatch.fnmatchcase(name, p) for p in self.patterns)

    async def __aiter__(self) -> AsyncIterator[Event]:
        while True:
            event = await self.queue.get()
            yield event
            if event.name == OVERFLOW:
                return


class EventBus:
    """Fans events out to subscribers; never blocks the publisher."""

    def __init__(self) -> None:
        self._subs: set[Subscription] = set()
        self._seq = itertools.count(1)

    def subscribe(
        self, patterns: Iterable[str] = ("*",), *, maxsize: int = 10_000, owner: int | None = None
    ) -> Subscription:
        sub = Subscription(tuple(patterns) or ("*",), asyncio.Queue(maxsize), owner=owner)
        self._subs.add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        sub.closed = True
        self._subs.discard(sub)

    def publish(
        self, name: str, data: dict[str, Any] | None = None, *, only: int | None = None
    ) -> Event:
        """Fan ``name`` out; with ``only``, to the subscriptions of that connection alone."""
        event = Event(next(self._seq), time.time(), name, data or {})
        for sub in list(self._subs):
            if not sub.matches(name) or (only is not None and sub.owner != only):
                continue
            if sub.queue.qsize() >= sub.queue.maxsize - 1:
                # keep one slot for the overflow marker, then cut the subscriber off
                logger.warning("event subscriber fell behind; cutting it off")
                self._subs.discard(sub)
                sub.closed = True
                sub.queue.put_nowait(Event(event.seq, event.ts, OVERFLOW, {}))
                continue
            sub.queue.put_nowait(event)
        return event

    @property
    def subscriber_count(self) -> int:
        return len(self._subs)
