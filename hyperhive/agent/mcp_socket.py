"""The harness's MCP socket: listen at once, load the MCP SDK only when a session comes.

Importing the SDK costs ~1.2 s and ~40 MB here, and an idle agent never needs it: the
per-turn relay (`hyperhive.agent.mcp_relay`) is the only client, and only during a turn.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from types import ModuleType
from typing import Any

LINE_LIMIT = 16 * 1024 * 1024
Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@contextlib.asynccontextmanager
async def serve_sessions(path: Path, handler: Handler) -> AsyncIterator[asyncio.Server]:
    """Serve ``handler`` per connection on the unix socket ``path`` (mode 0600)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    sessions: set[asyncio.Task[Any]] = set()

    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        sessions.add(task)
        try:
            await handler(reader, writer)
        finally:
            sessions.discard(task)

    old = os.umask(0o177)
    try:
        listener = await asyncio.start_unix_server(on_connect, str(path), limit=LINE_LIMIT)
    finally:
        os.umask(old)
    os.chmod(path, 0o600)
    try:
        yield listener
    finally:
        listener.close()
        for task in list(sessions):
            task.cancel()
        for task in list(sessions):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        with contextlib.suppress(Exception):
            await listener.wait_closed()
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


class LazyMcp:
    """Builds the MCP server on the first session, with ``make_server(mcp_server_module)``."""

    def __init__(self, make_server: Callable[[ModuleType], Any]) -> None:
        self._make_server = make_server
        self._lock = asyncio.Lock()
        self.module: ModuleType | None = None
        self.server: Any = None

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        async with self._lock:
            if self.module is None:
                # the import runs on a thread: the harness keeps serving meanwhile
                module = await asyncio.to_thread(
                    importlib.import_module, "hyperhive.agent.mcp_server"
                )
                self.server = self._make_server(module)
                self.module = module
        await self.module.serve_streams(self.server, reader, writer)
