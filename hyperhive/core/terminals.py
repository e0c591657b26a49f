"""Terminals: shell sessions in agents' containers, their output pump and its rate limit.

`Terminals.open` starts a login shell through the runtime's ``open_pty``; output is
pushed as ``pty.output {id, agent, data_b64}`` events to the connection that opened it
and the end as ``pty.closed {id, agent, code}``. Output is read in chunks of at most
`CHUNK` bytes and paced to `RATE` bytes a second per session, so a runaway program
cannot flood the event bus. Opening and closing are audited. The RPC methods are in
`core/api/pty.py`.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import os
import secrets
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from hyperhive.core.agents import AgentRegistry
from hyperhive.core.audit import AuditLog
from hyperhive.core.errors import ContainerError, InvalidInput, NotFound, Refused
from hyperhive.core.events import EventBus
from hyperhive.core.pty import read_chunk, write_all
from hyperhive.core.runtimes.base import PtyProcess, Runtime

logger = logging.getLogger(__name__)

SHELL = ("/bin/sh", "-c", "if command -v bash >/dev/null 2>&1; then exec bash -l; fi; exec sh -l")
MAX_SESSIONS = 16
CHUNK = 16 * 1024
RATE = 4 * 1024 * 1024  # bytes per second per session
MAX_INPUT = 64 * 1024
MAX_SIZE = 1000  # rows or columns


@dataclass(eq=False)
class Session:
    """One open terminal: its program's PTY, who opened it, and the task pumping its output."""

    id: str
    agent: str
    actor: str
    pty: PtyProcess
    owner: int = 0  # the connection that opened it: the only one that sees its output
    pump: asyncio.Task[None] | None = None
    closed: asyncio.Event = field(default_factory=asyncio.Event)


def check_size(rows: int, cols: int) -> None:
    """Refuse a terminal size outside 1..`MAX_SIZE` rows or columns."""
    if not (1 <= rows <= MAX_SIZE and 1 <= cols <= MAX_SIZE):
        raise InvalidInput(f"rows and cols must be between 1 and {MAX_SIZE}")


async def _write(fd: int, data: bytes) -> None:
    try:
        await write_all(fd, data)
    except OSError as exc:
        raise ContainerError(f"the terminal is gone: {exc.strerror}") from exc


async def _end(proc: PtyProcess) -> int | None:
    """Hang up the program and release the PTY; its exit status if known."""
    close = getattr(proc, "close", None)
    if close is not None:
        return int(await close())
    proc.terminate()
    with contextlib.suppress(OSError):
        os.close(proc.fd)
    return await proc.wait()


Spawn = Callable[[Coroutine[Any, Any, None], str], "asyncio.Task[None]"]


class Terminals:
    """The open terminal sessions; each belongs to the connection that opened it."""

    def __init__(
        self,
        events: EventBus,
        agents: AgentRegistry,
        audit: AuditLog,
        runtime: Runtime,
        spawn: Spawn,
    ) -> None:
        self._events = events
        self._agents = agents
        self._audit = audit
        self._runtime = runtime
        self._spawn = spawn
        self._sessions: dict[str, Session] = {}

    def get(self, sid: str, conn: int) -> Session:
        """Session ``sid`` if connection ``conn`` opened it.

        Raises:
            NotFound: no such session, or another connection's (it does not exist for this one).
        """
        found = self._sessions.get(sid)
        if found is None or found.owner != conn:
            raise NotFound(f"no terminal session {sid!r}")
        return found

    def sessions(self) -> list[Session]:
        return list(self._sessions.values())

    async def open(self, agent: str, actor: str, conn: int, rows: int, cols: int) -> Session:
        """Start a login shell in ``agent``'s container on a ``rows`` x ``cols`` terminal."""
        check_size(rows, cols)
        self._agents.get(agent)
        if len(self._sessions) >= MAX_SESSIONS:
            raise Refused(f"too many open terminals (max {MAX_SESSIONS}); close one first")
        proc = await self._runtime.open_pty(agent, SHELL, rows=rows, cols=cols)
        s = Session(secrets.token_hex(8), agent, actor, proc, owner=conn)
        self._sessions[s.id] = s
        s.pump = self._spawn(self._pump(s), f"terminal {s.id} of {agent}")
        await self._audit.record(actor, "pty.open", agent, {"id": s.id, "rows": rows, "cols": cols})
        return s

    async def write(self, sid: str, conn: int, data: bytes) -> int:
        """Type ``data`` (at most `MAX_INPUT` bytes) into a session."""
        if len(data) > MAX_INPUT:
            raise InvalidInput(f"pty.input: at most {MAX_INPUT} bytes per call")
        await _write(self.get(sid, conn).pty.fd, data)
        return len(data)

    def resize(self, sid: str, conn: int, rows: int, cols: int) -> None:
        check_size(rows, cols)
        self.get(sid, conn).pty.resize(rows, cols)

    async def close(self, sid: str, conn: int) -> None:
        """Hang up a session and wait until ``pty.closed`` is published."""
        await self._hang_up(self.get(sid, conn))

    async def hang_up_owned(self, conn: int) -> None:
        """A connection that goes away takes its terminals with it."""
        for s in [s for s in self._sessions.values() if s.owner == conn]:
            await self._hang_up(s)

    @staticmethod
    async def _hang_up(s: Session) -> None:
        if s.pump is not None:
            s.pump.cancel()
        await s.closed.wait()

    async def _pump(self, s: Session) -> None:
        code: int | None = None
        try:
            budget, stamp = float(RATE), time.monotonic()
            while data := await read_chunk(s.pty.fd, CHUNK):
                self._events.publish(
                    "pty.output",
                    {"id": s.id, "agent": s.agent, "data_b64": base64.b64encode(data).decode()},
                    only=s.owner,
                )
                now = time.monotonic()
                budget = min(float(RATE), budget + (now - stamp) * RATE) - len(data)
                stamp = now
                if budget < 0:
                    await asyncio.sleep(-budget / RATE)
        finally:
            self._sessions.pop(s.id, None)
            try:
                code = await asyncio.shield(_end(s.pty))
            except (OSError, ContainerError) as exc:
                logger.warning("closing terminal %s failed: %s", s.id, exc)
            self._events.publish(
                "pty.closed", {"id": s.id, "agent": s.agent, "code": code}, only=s.owner
            )
            s.closed.set()
            await self._audit.record(s.actor, "pty.close", s.agent, {"id": s.id, "code": code})
