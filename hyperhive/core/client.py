"""An asyncio client of the JSON-lines protocol, used by the CLI, the TUI and the harness."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
from collections.abc import AsyncIterator, Coroutine
from pathlib import Path
from typing import Any

from hyperhive.core.errors import DaemonUnavailable, ProtocolError, error_from_reply
from hyperhive.core.protocol import CANCEL, LineReader, LineTooLong, encode

CLIENT_LINE_LIMIT = 256 * 1024 * 1024
# every call has a deadline; a long poll's (``wait_seconds``) is added to it. Generous:
# `approvals.approve` waits for a container build by default
DEFAULT_DEADLINE = 1800.0


class _Expired(Exception):
    """A call's deadline passed (turned into `DaemonUnavailable` for the caller)."""


def _expire(fut: asyncio.Future[Any], method: str, deadline: float) -> None:
    if not fut.done():
        fut.set_exception(_Expired(f"{method}: no answer from the daemon within {deadline:g} s"))


class HiveClient:
    """One connection to a hyperhive socket; concurrent calls are matched by id.

    Every call ends: with the reply, with `DaemonUnavailable` when the connection
    breaks or no reply comes before its deadline. A call whose caller stops waiting
    (cancelled, timed out) is cancelled at the daemon too (``$/cancel``), so a long
    poll never hands a message to nobody.
    """

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        *,
        deadline: float = DEFAULT_DEADLINE,
    ) -> None:
        self.deadline = deadline
        self._reader = LineReader(reader, CLIENT_LINE_LIMIT)
        self._writer = writer
        self._ids = itertools.count(1)
        self._waiting: dict[int, asyncio.Future[Any]] = {}
        self._events: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        self._closed = asyncio.Event()
        self._task = asyncio.create_task(self._read_loop())

    @classmethod
    async def connect(
        cls, path: Path | str, *, timeout: float = 5.0, deadline: float = DEFAULT_DEADLINE
    ) -> HiveClient:
        """Connect to the socket at ``path``; raise `DaemonUnavailable` if nobody listens."""
        try:
            async with asyncio.timeout(timeout):
                reader, writer = await asyncio.open_unix_connection(str(path))
        except (FileNotFoundError, ConnectionRefusedError, TimeoutError) as exc:
            raise DaemonUnavailable(
                f"no hyperhive daemon answers on {path} ({type(exc).__name__}); "
                "start one with `hyperhive daemon` or `hyperhive up`"
            ) from exc
        except PermissionError as exc:
            raise DaemonUnavailable(
                f"permission denied on {path}: run as the daemon's user"
            ) from exc
        return cls(reader, writer, deadline=deadline)

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    async def wait_closed(self) -> None:
        await self._closed.wait()

    async def _read_loop(self) -> None:
        try:
            while True:
                try:
                    line = await self._reader.readline()
                except LineTooLong:
                    continue
                if line is None:
                    break
                try:
                    msg = json.loads(line)
                except ValueError:
                    continue
                if not isinstance(msg, dict):
                    continue
                if "event" in msg:
                    self._events.put_nowait(msg)
                    continue
                msg_id = msg.get("id")
                if msg_id is None and "error" in msg and self._waiting:
                    # the daemon could not read which request this answers (a mangled
                    # line): it is the oldest one still waiting
                    msg_id = next(iter(self._waiting))
                fut = self._waiting.pop(msg_id, None) if isinstance(msg_id, int) else None
                if fut is None or fut.done():
                    continue
                if "error" in msg and isinstance(msg["error"], dict):
                    err = msg["error"]
                    fut.set_exception(
                        error_from_reply(str(err.get("code", "error")), str(err.get("message", "")))
                    )
                else:
                    fut.set_result(msg.get("result"))
        except (ConnectionError, OSError):
            pass
        finally:
            self._closed.set()
            for fut in self._waiting.values():
                if not fut.done():
                    fut.set_exception(DaemonUnavailable("the daemon closed the connection"))
            self._waiting.clear()
            self._events.put_nowait(None)

    def call(self, method: str, **params: Any) -> Coroutine[Any, Any, Any]:
        """Call ``method``; return its result or raise the error the daemon replied with.

        Raises:
            DaemonUnavailable: the connection broke, or no reply came within the
                deadline (`deadline` seconds, plus ``wait_seconds`` for a long poll).
        """
        wait = params.get("wait_seconds", 0)
        extra = float(wait) if isinstance(wait, int | float) and wait > 0 else 0.0
        # not a coroutine itself: one frame less on the hot path
        return self.request(method, params, deadline=self.deadline + extra)

    async def request(self, method: str, params: dict[str, Any], *, deadline: float) -> Any:
        """`call` with an explicit deadline in seconds."""
        if self._closed.is_set():
            raise DaemonUnavailable("the connection to the daemon is closed")
        req_id = next(self._ids)
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._waiting[req_id] = fut
        self._writer.write(encode({"id": req_id, "method": method, "params": params}))
        try:
            await self._writer.drain()
        except (ConnectionError, OSError) as exc:
            self._waiting.pop(req_id, None)
            raise DaemonUnavailable("the connection to the daemon broke") from exc
        # a bare timer, not asyncio.timeout: this is the hot path of every message
        timer = asyncio.get_running_loop().call_later(deadline, _expire, fut, method, deadline)
        try:
            return await fut
        except _Expired as exc:
            self._cancel_at_daemon(req_id)
            raise DaemonUnavailable(exc.args[0]) from None
        except asyncio.CancelledError:
            # the caller stopped waiting: the daemon must stop too, and take back
            # whatever the reply handed over if it already left
            self._cancel_at_daemon(req_id)
            raise
        finally:
            timer.cancel()
            self._waiting.pop(req_id, None)

    def _cancel_at_daemon(self, req_id: int) -> None:
        """Send ``$/cancel`` for ``req_id`` without waiting (callers may be cancelled)."""
        if self._closed.is_set() or self._writer.is_closing():
            return
        cancel = {"id": next(self._ids), "method": CANCEL, "params": {"id": req_id}}
        with contextlib.suppress(ConnectionError, OSError, RuntimeError):
            self._writer.write(encode(cancel))

    async def subscribe(self, patterns: list[str] | None = None) -> None:
        """Ask the daemon to push events; read them with `events`."""
        await self.call("events.subscribe", events=patterns or ["*"])

    async def events(self) -> AsyncIterator[dict[str, Any]]:
        """Pushed events, until the connection closes."""
        while True:
            msg = await self._events.get()
            if msg is None:
                return
            yield msg

    async def next_event(self, timeout: float | None = None) -> dict[str, Any]:
        async with asyncio.timeout(timeout):
            msg = await self._events.get()
        if msg is None:
            raise ProtocolError("the connection closed")
        return msg

    async def close(self) -> None:
        self._writer.close()
        with contextlib.suppress(Exception):
            await self._writer.wait_closed()
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    async def __aenter__(self) -> HiveClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
