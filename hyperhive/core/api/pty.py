"""RPC methods of the PTY service: a shell in an agent's container, relayed over host.sock.

``pty.open`` starts a login shell through the runtime's ``open_pty`` and returns a
session id; output is pushed as ``pty.output {id, agent, data_b64}`` events and the end
as ``pty.closed {id, agent, code}``; ``pty.input``, ``pty.resize`` and ``pty.close``
drive it. Opening and closing are audited. Output is read in chunks of at most
`CHUNK` bytes and paced to `RATE` bytes a second per session, so a runaway program
cannot flood the event bus.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import logging
import os
import secrets
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from hyperhive.core.errors import ContainerError, InvalidInput, NotFound, Refused
from hyperhive.core.protocol import Caller, Registry, Scope, p
from hyperhive.core.runtimes.base import PtyProcess

if TYPE_CHECKING:
    from hyperhive.core.hive import Hive

logger = logging.getLogger(__name__)

SHELL = ("/bin/sh", "-c", "if command -v bash >/dev/null 2>&1; then exec bash -l; fi; exec sh -l")
MAX_SESSIONS = 16
CHUNK = 16 * 1024
RATE = 4 * 1024 * 1024  # bytes per second per session
MAX_INPUT = 64 * 1024
MAX_SIZE = 1000  # rows or columns


@dataclass(eq=False)
class _Session:
    id: str
    agent: str
    actor: str
    pty: PtyProcess
    owner: int = 0  # the connection that opened it: the only one that sees its output
    pump: asyncio.Task[None] | None = None
    closed: asyncio.Event = field(default_factory=asyncio.Event)


def _size(rows: int, cols: int) -> None:
    if not (1 <= rows <= MAX_SIZE and 1 <= cols <= MAX_SIZE):
        raise InvalidInput(f"rows and cols must be between 1 and {MAX_SIZE}")


def _wake(ready: asyncio.Future[None]) -> None:
    if not ready.done():  # the fd can fire again before the waiter resumes
        ready.set_result(None)


async def _read(fd: int) -> bytes:
    """The next chunk from a non-blocking PTY master; b"" once every slave fd is closed."""
    loop = asyncio.get_running_loop()
    while True:
        try:
            return os.read(fd, CHUNK)
        except BlockingIOError:
            pass
        except OSError:  # EIO: the program (and everything it started) has gone
            return b""
        ready: asyncio.Future[None] = loop.create_future()
        loop.add_reader(fd, _wake, ready)
        try:
            await ready
        finally:
            loop.remove_reader(fd)


async def _write(fd: int, data: bytes) -> None:
    loop = asyncio.get_running_loop()
    view = memoryview(data)
    while view:
        try:
            view = view[os.write(fd, view) :]
            continue
        except BlockingIOError:
            pass
        except OSError as exc:
            raise ContainerError(f"the terminal is gone: {exc.strerror}") from exc
        ready: asyncio.Future[None] = loop.create_future()
        loop.add_writer(fd, _wake, ready)
        try:
            await ready
        finally:
            loop.remove_writer(fd)


async def _end(proc: PtyProcess) -> int | None:
    """Hang up the program and release the PTY; its exit status if known."""
    close = getattr(proc, "close", None)
    if close is not None:
        return int(await close())
    proc.terminate()
    with contextlib.suppress(OSError):
        os.close(proc.fd)
    return await proc.wait()


def register(reg: Registry, hive: Hive) -> None:
    sessions: dict[str, _Session] = {}

    def session(sid: str, caller: Caller) -> _Session:
        found = sessions.get(sid)
        if found is None or found.owner != caller.conn:
            # another connection's terminal does not exist for this one
            raise NotFound(f"no terminal session {sid!r}")
        return found

    async def hang_up_owned(conn: int) -> None:
        """A connection that goes away takes its terminals with it."""
        for s in [s for s in sessions.values() if s.owner == conn]:
            if s.pump is not None:
                s.pump.cancel()
            await s.closed.wait()

    reg.on_disconnect.append(hang_up_owned)

    async def pump(s: _Session) -> None:
        code: int | None = None
        try:
            budget, stamp = float(RATE), time.monotonic()
            while data := await _read(s.pty.fd):
                hive.events.publish(
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
            sessions.pop(s.id, None)
            try:
                code = await asyncio.shield(_end(s.pty))
            except (OSError, ContainerError) as exc:
                logger.warning("closing terminal %s failed: %s", s.id, exc)
            hive.events.publish(
                "pty.closed", {"id": s.id, "agent": s.agent, "code": code}, only=s.owner
            )
            s.closed.set()
            await hive.audit.record(s.actor, "pty.close", s.agent, {"id": s.id, "code": code})

    @reg.method(
        "pty.open",
        Scope.HOST,
        decides=True,
        agent=p(str),
        rows=p(int, default=24),
        cols=p(int, default=80),
    )
    async def open_(caller: Caller, agent: str, rows: int, cols: int) -> Any:
        """Start a login shell in ``agent``'s container on a ``rows`` x ``cols`` terminal."""
        _size(rows, cols)
        hive.agents.get(agent)
        if len(sessions) >= MAX_SESSIONS:
            raise Refused(f"too many open terminals (max {MAX_SESSIONS}); close one first")
        proc = await hive.runtime.open_pty(agent, SHELL, rows=rows, cols=cols)
        s = _Session(secrets.token_hex(8), agent, caller.actor, proc, owner=caller.conn)
        sessions[s.id] = s
        s.pump = hive.spawn_task(pump(s), f"terminal {s.id} of {agent}")
        await hive.audit.record(
            caller.actor, "pty.open", agent, {"id": s.id, "rows": rows, "cols": cols}
        )
        return {"id": s.id, "agent": agent}

    @reg.method("pty.input", Scope.HOST, decides=True, id=p(str), data_b64=p(str))
    async def input_(caller: Caller, id: str, data_b64: str) -> Any:
        """Type into a session (base64 of the bytes, at most 64 KiB per call)."""
        s = session(id, caller)
        try:
            data = base64.b64decode(data_b64, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise InvalidInput(f"pty.input: data_b64 is not base64: {exc}") from exc
        if len(data) > MAX_INPUT:
            raise InvalidInput(f"pty.input: at most {MAX_INPUT} bytes per call")
        await _write(s.pty.fd, data)
        return {"written": len(data)}

    @reg.method("pty.resize", Scope.HOST, id=p(str), rows=p(int), cols=p(int))
    async def resize(caller: Caller, id: str, rows: int, cols: int) -> Any:
        """Tell the session's program its terminal is now ``rows`` x ``cols``."""
        _size(rows, cols)
        session(id, caller).pty.resize(rows, cols)
        return {"rows": rows, "cols": cols}

    @reg.method("pty.close", Scope.HOST, id=p(str))
    async def close(caller: Caller, id: str) -> Any:
        """Hang up a session; ``pty.closed`` follows."""
        s = session(id, caller)
        if s.pump is not None:
            s.pump.cancel()
        await s.closed.wait()
        return {"closed": id}

    @reg.method("pty.list", Scope.HOST)
    async def list_(caller: Caller) -> Any:
        """The open terminal sessions."""
        return {
            "sessions": [
                {"id": s.id, "agent": s.agent, "by": s.actor, "yours": s.owner == caller.conn}
                for s in sessions.values()
            ]
        }
