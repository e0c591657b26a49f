"""A raw asyncio JSON-lines connection to a daemon socket, for what `HiveClient` never sends."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any


class RawLine:
    """One connection; `request` writes a line, `reply` reads the next one (bounded wait)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, path: Path) -> RawLine:
        reader, writer = await asyncio.open_unix_connection(str(path), limit=1 << 24)
        return cls(reader, writer)

    async def request(self, req_id: Any, method: str, **params: Any) -> None:
        self.write(json.dumps({"id": req_id, "method": method, "params": params}).encode())

    def write(self, line: bytes) -> None:
        self.writer.write(line + b"\n")

    async def reply(self, timeout: float = 1.0) -> dict[str, Any]:
        async with asyncio.timeout(timeout):
            line = await self.reader.readline()
        assert line.endswith(b"\n"), line[:200]
        msg = json.loads(line)
        assert isinstance(msg, dict)
        return msg

    async def replies(self, n: int, timeout: float = 1.0) -> dict[Any, dict[str, Any]]:
        """The next ``n`` replies, by id, all within ``timeout`` seconds."""
        out: dict[Any, dict[str, Any]] = {}
        async with asyncio.timeout(timeout):
            for _ in range(n):
                msg = await self.reply(timeout)
                out[msg["id"]] = msg
        return out

    async def close(self) -> None:
        self.writer.close()
        try:
            await self.writer.wait_closed()
        except ConnectionError:
            pass
