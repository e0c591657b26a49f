"""The one door between the daemon and the TUI: connect, snapshot, pushed events, reconnect.

The bridge runs as one worker of the app. It subscribes *before* it reads the
snapshot, so no event falls between the two (events are idempotent on the model).
Events are queued here and announced with a coalescing `EventsArrived`; the app
drains them in batches. When the connection drops it posts `ConnectionLost`,
waits with backoff, reconnects and posts a fresh snapshot.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol

from hyperhive.core.client import HiveClient
from hyperhive.core.errors import DaemonUnavailable, HyperhiveError, InvalidInput, ProtocolError
from hyperhive.core.events import OVERFLOW
from hyperhive.tui.messages import Connected, ConnectionLost, EventsArrived
from hyperhive.tui.model import SNAPSHOT, Snapshot, Unavailable

logger = logging.getLogger(__name__)

ClientFactory = Callable[[], Awaitable[HiveClient]]
# pty output goes to each terminal's own connection, never through the main stream
EVENT_PATTERNS = (
    "agent.*",
    "message.*",
    "approval.*",
    "question.*",
    "turn.*",
    "stats.*",
    "audit.*",
    "host.*",
)
DEFAULT_BACKOFF = (0.5, 1.0, 2.0, 4.0, 8.0)


class Poster(Protocol):
    def post_message(self, message: Any) -> bool: ...


class Calls(Protocol):
    """What screens use to ask the daemon something (handed down to them)."""

    async def call(self, method: str, **params: Any) -> Any: ...

    async def optional(self, method: str, **params: Any) -> Any: ...


def is_unknown_method(exc: HyperhiveError) -> bool:
    """The daemon has no such method (yet): the pane shows "not available", nothing breaks."""
    return isinstance(exc, ProtocolError) and "unknown method" in exc.message


async def optional_call(client: HiveClient, method: str, **params: Any) -> Any:
    """Call ``method``; an `Unavailable` instead of an error when the daemon lacks it."""
    try:
        return await client.call(method, **params)
    except DaemonUnavailable:
        raise
    except (ProtocolError, InvalidInput) as exc:
        if is_unknown_method(exc):
            return Unavailable(f"not available: this daemon has no {method}")
        # a method that exists with other params than we expect is as good as absent
        return Unavailable(f"not available: {exc.message}")


async def load_snapshot(
    client: HiveClient, sections: dict[str, tuple[str, dict[str, Any]]] = SNAPSHOT
) -> Snapshot:
    """Read every snapshot section concurrently; absent methods become `Unavailable`."""
    names = list(sections)
    results = await asyncio.gather(
        *(optional_call(client, m, **p) for m, p in sections.values()), return_exceptions=True
    )
    snap = Snapshot()
    for name, result in zip(names, results, strict=True):
        if isinstance(result, DaemonUnavailable):
            raise result
        if isinstance(result, Unavailable):
            snap.missing[name] = result
        elif isinstance(result, HyperhiveError):
            snap.missing[name] = Unavailable(f"failed to load: {result.message}")
        elif isinstance(result, BaseException):
            raise result
        else:
            snap.results[name] = result
    return snap


class Bridge:
    """Owns the connection to host.sock on behalf of the app."""

    def __init__(
        self,
        target: Poster,
        factory: ClientFactory,
        *,
        who: str | None = None,
        role: str | None = None,
        backoff: Sequence[float] = DEFAULT_BACKOFF,
    ) -> None:
        self._target = target
        self._factory = factory
        self._hello = {k: v for k, v in (("who", who), ("role", role)) if v}
        self._backoff = tuple(backoff) or DEFAULT_BACKOFF
        self._pending: deque[tuple[str, dict[str, Any]]] = deque()
        self.client: HiveClient | None = None

    async def run(self) -> None:
        """Connect, snapshot, forward events; on loss, back off and start over. Never returns."""
        failures = 0
        while True:
            reason = "the daemon closed the connection"
            try:
                client = await self._factory()
            except HyperhiveError as exc:
                reason = exc.message
            else:
                try:
                    await self._serve(client)
                    failures = 0
                except HyperhiveError as exc:
                    reason = exc.message
                except (ConnectionError, OSError) as exc:
                    reason = f"the connection broke: {exc}"
                finally:
                    self.client = None
                    await client.close()
            delay = self._backoff[min(failures, len(self._backoff) - 1)]
            failures += 1
            self._target.post_message(ConnectionLost(reason, delay, failures))
            await asyncio.sleep(delay)

    async def _serve(self, client: HiveClient) -> None:
        hello = await client.call("session.hello", **self._hello)
        await self._resync(client, hello)
        async for event in client.events():
            name = event.get("event")
            if name == OVERFLOW:
                # we fell behind and the daemon cut our subscription: start from a snapshot
                logger.warning("event stream overflowed; reloading the snapshot")
                self._pending.clear()
                await self._resync(client, hello)
                continue
            if isinstance(name, str):
                data = event.get("data")
                self._pending.append((name, data if isinstance(data, dict) else {}))
                self._target.post_message(EventsArrived())

    async def _resync(self, client: HiveClient, hello: Any) -> None:
        await client.subscribe(list(EVENT_PATTERNS))
        snapshot = await load_snapshot(client)
        snapshot.hello = hello if isinstance(hello, dict) else None
        self.client = client
        self._target.post_message(Connected(snapshot))

    def take(self) -> list[tuple[str, dict[str, Any]]]:
        """Every event queued since the last call, oldest first."""
        batch = list(self._pending)
        self._pending.clear()
        return batch

    async def call(self, method: str, **params: Any) -> Any:
        """Call ``method`` on the current connection.

        Raises:
            DaemonUnavailable: not connected right now (the bridge is reconnecting).
            HyperhiveError: whatever the daemon replied.
        """
        if self.client is None:
            raise DaemonUnavailable("not connected to the daemon (reconnecting)")
        return await self.client.call(method, **params)

    async def optional(self, method: str, **params: Any) -> Any:
        """Like `call`, but an `Unavailable` when the daemon has no such method."""
        if self.client is None:
            raise DaemonUnavailable("not connected to the daemon (reconnecting)")
        return await optional_call(self.client, method, **params)
