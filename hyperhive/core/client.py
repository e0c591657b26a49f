"""An asyncio client of the JSON-lines protocol, used by the CLI, the TUI and the harness."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from hyperhive.core.errors import DaemonUnavailable, ProtocolError, error_from_reply
from hyperhive.core.protocol import LineReader, LineTooLong, encode

CLIENT_LINE_LIMIT = 256 * 1024 * 1024


class HiveClient:
    """One connection to a hyperhive socket; concurrent calls are matched by id."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = LineReader(reader, CLIENT_LINE_LIMIT)
        self._writer = writer
        self._ids = itertools.count(1)
        self._waiting: dict[int, asyncio.Future[Any]] = {}
        self._events: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        self._closed = asyncio.Event()
        self._task = asyncio.create_task(self._read_loop())

    @classmethod
    async def connect(cls, path: Path | str, *, timeout: float = 5.0) -> HiveClient:
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
        return cls(reader, writer)

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

    async def call(self, method: str, **params: Any) -> Any:
        """Call ``method``; return its result or raise the error the daemon replied with."""
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
        try:
            return await fut
        finally:
            self._waiting.pop(req_id, None)

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
