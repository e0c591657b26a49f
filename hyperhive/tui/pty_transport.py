"""A terminal transport over the daemon's PTY service (`pty.*` methods and events)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
from typing import Any

from hyperhive.core.client import HiveClient
from hyperhive.core.errors import ContainerError, HyperhiveError, ProtocolError
from hyperhive.tui.bridge import ClientFactory


class DaemonPtyTransport:
    """Implements `TerminalTransport` for a shell in an agent's container.

    It opens a connection of its own, so a flood of terminal output never crowds the
    app's event stream, and the session lives exactly as long as the widget: the PTY
    is opened on the first read (at the widget's size) and closed with the widget.
    """

    def __init__(self, factory: ClientFactory, agent: str, *, rows: int = 24, cols: int = 80):
        self._factory = factory
        self.agent = agent
        self._size = (rows, cols)
        self._client: HiveClient | None = None
        self._id: Any = None
        self._lock = asyncio.Lock()
        self._closed = False

    @property
    def session_id(self) -> Any:
        """The daemon's id of the PTY session, once it is open."""
        return self._id

    async def _open(self) -> HiveClient:
        async with self._lock:
            if self._client is not None:
                return self._client
            if self._closed:
                raise ContainerError("the terminal is closed")
            client = await self._factory()
            try:
                # subscribe first: output can follow the open before its reply does
                await client.subscribe(["pty.*"])
                rows, cols = self._size
                reply = await client.call("pty.open", agent=self.agent, rows=rows, cols=cols)
                self._id = reply["id"] if isinstance(reply, dict) else reply
                if self._size != (rows, cols):  # the widget was resized while we opened
                    await client.call(
                        "pty.resize", id=self._id, rows=self._size[0], cols=self._size[1]
                    )
            except BaseException:
                await client.close()
                raise
            self._client = client
            return client

    async def read(self) -> bytes:
        """The next output of the shell; b"" once the session has ended."""
        if self._closed:
            return b""
        client = await self._open()
        while True:
            try:
                event = await client.next_event()
            except ProtocolError:  # the connection to the daemon went away
                return b""
            data = event.get("data") or {}
            if str(data.get("id")) != str(self._id):
                continue  # another terminal's session
            if event.get("event") == "pty.closed":
                return b""
            if event.get("event") == "pty.output":
                chunk = base64.b64decode(data.get("data_b64", ""))
                if chunk:
                    return chunk

    async def write(self, data: bytes) -> None:
        if self._closed:
            return
        client = await self._open()
        await client.call("pty.input", id=self._id, data_b64=base64.b64encode(data).decode())

    async def resize(self, rows: int, cols: int) -> None:
        self._size = (rows, cols)
        if self._client is not None and not self._closed:
            await self._client.call("pty.resize", id=self._id, rows=rows, cols=cols)

    async def close(self) -> None:
        """End the session on the daemon and drop the connection; safe to call twice."""
        if self._closed:
            return
        self._closed = True
        client, self._client = self._client, None
        if client is None:
            return
        with contextlib.suppress(HyperhiveError):
            await client.call("pty.close", id=self._id)
        await client.close()
