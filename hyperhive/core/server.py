"""Unix-socket servers: host.sock for the operator, one socket per agent, the manager's.

The identity of a connection is the socket it arrived on: an agent socket only ever
acts as that agent, and the methods that exist on it are the agent methods only.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import itertools
import logging
import os
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any, cast

from hyperhive.core import safefs
from hyperhive.core.errors import HyperhiveError, ProtocolError, Refused
from hyperhive.core.events import EventBus, Subscription
from hyperhive.core.protocol import (
    CANCEL,
    BadRequest,
    Caller,
    ConnectionRole,
    Delivery,
    LineBuffer,
    LineTooLong,
    Registry,
    Scope,
    encode,
    parse_request,
    peek_id,
    reply_error,
    reply_ok,
)
from hyperhive.core.safetext import terminal_safe

logger = logging.getLogger(__name__)

MAX_IN_FLIGHT = 64
RECENT_DELIVERIES = 64  # answered deliveries a late `$/cancel` can still take back
SUBSCRIBE = "events.subscribe"
HELLO = "session.hello"


class _Connection(asyncio.Protocol):
    """One client connection: its lines are read, answered and cancelled here.

    A protocol rather than a stream pair: a request costs a callback and a task, not a
    reader coroutine's wake-ups and a drain per reply. While the client does not read its
    replies (the write buffer is over its high-water mark) nothing more is read from it.
    """

    def __init__(self, server: SocketServer, caller: Caller, path: Path, cap: int) -> None:
        self.server = server
        self.path = path
        self.cap = cap
        self.id = next(server.ids)
        self.caller = replace(caller, conn=self.id)
        self.lines = LineBuffer(server.line_limit)
        self.backlog: deque[bytes | LineTooLong] = deque()  # read while writing was paused
        self.transport: asyncio.Transport | None = None
        self.writable = asyncio.Event()
        self.writable.set()
        self.tasks: set[asyncio.Task[None]] = set()
        self.running: dict[Any, asyncio.Task[None]] = {}  # by request id
        self.cancelled: set[asyncio.Task[None]] = set()  # by `$/cancel`: still answered
        self.delivered: OrderedDict[Any, Callable[[], object]] = OrderedDict()
        self.subscription: Subscription | None = None
        self.pump: asyncio.Task[None] | None = None
        self.counted = False
        self.closing: asyncio.Task[None] | None = None
        self.closed = False

    # --- the transport's callbacks ------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        opened = self.server._open
        if self.cap and opened.get(self.path, 0) >= self.cap:
            self.closed = True  # never served: no disconnect hooks either
            self._turn_away()
            return
        opened[self.path] = opened.get(self.path, 0) + 1
        self.counted = True
        self.server._connections.add(self)

    def data_received(self, data: bytes) -> None:
        if self.closed:
            return
        self.backlog.extend(self.lines.feed(data))
        self._serve_backlog()

    def eof_received(self) -> bool:
        last = self.lines.end()
        if last is not None and not self.closed:
            self.backlog.append(last)
            self._serve_backlog()
        self._begin_close()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.writable.set()  # a sender waiting for room learns the connection is gone
        self._begin_close()

    def pause_writing(self) -> None:
        self.writable.clear()
        if self.transport is not None and not self.transport.is_closing():
            self.transport.pause_reading()

    def resume_writing(self) -> None:
        self.writable.set()
        if self.transport is not None and not self.transport.is_closing():
            self.transport.resume_reading()
        self._serve_backlog()

    # --- requests ---------------------------------------------------------------------

    def _serve_backlog(self) -> None:
        while self.backlog and self.writable.is_set() and not self.closed:
            self._serve(self.backlog.popleft())

    def _serve(self, line: bytes | LineTooLong) -> None:
        """Answer one line at once, or start the task that will."""
        if isinstance(line, LineTooLong):
            limit = self.server.line_limit
            error: HyperhiveError = ProtocolError(f"line too long (limit {limit} bytes)")
            self._write(reply_error(peek_id(line.head), error))
            return
        if not line.strip():
            return
        try:
            req_id, name, params = parse_request(line)
        except BadRequest as exc:
            self._write(reply_error(exc.req_id, exc.error))
            return
        if name == CANCEL:
            # answered inline: a cancel must work when the connection is full
            self._write(self.cancel(req_id, params))
            return
        if len(self.tasks) >= MAX_IN_FLIGHT:
            error = Refused(f"too many requests in flight (max {MAX_IN_FLIGHT})")
            self._write(reply_error(req_id, error))
            return
        task = asyncio.create_task(self.handle(req_id, name, params))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        if req_id is not None:
            self.running[req_id] = task  # `handle` removes it when it ends

    def _write(self, data: bytes) -> bool:
        transport = self.transport
        if transport is None or transport.is_closing():
            return False
        try:
            transport.write(data)
        except (ConnectionError, OSError, RuntimeError):
            return False
        return True

    async def send(self, data: bytes) -> bool:
        """Write one line; False when it could not be (the connection is gone).

        Waits while the client is not reading (the write buffer is full).
        """
        if not self._write(data):
            return False
        if not self.writable.is_set():
            await self.writable.wait()
        return self.transport is not None and not self.transport.is_closing()

    def _turn_away(self) -> None:
        """Answer a connection over the cap with one error line, then close it."""
        caller, cap = self.caller, self.cap
        who = "host" if caller.scope is Scope.HOST else f"{caller.name}'s"
        err = Refused(f"too many connections on the {who} socket (max {cap}); close some first")
        logger.warning("refused a connection: %s", err.message)
        self._write(reply_error(None, err))
        assert self.transport is not None
        self.transport.close()  # after what is buffered is written

    def _begin_close(self) -> None:
        if self.closing is None:
            self.closing = asyncio.get_running_loop().create_task(self._close())

    def cancel(self, req_id: Any, params: Any) -> bytes:
        """``$/cancel``: stop request ``params.id``, or take back the delivery it answered."""
        target = params.get("id") if isinstance(params, dict) else None
        if target is None or isinstance(target, bool) or not isinstance(target, int | str):
            return reply_error(req_id, ProtocolError(f"{CANCEL}: params need the request 'id'"))
        task = self.running.pop(target, None)
        if task is not None and not task.done():
            self.cancelled.add(task)
            task.add_done_callback(self.cancelled.discard)
            task.cancel()
            return reply_ok(req_id, {"cancelled": True})
        undo = self.delivered.pop(target, None)
        if undo is not None:
            self._undo(undo)
            return reply_ok(req_id, {"cancelled": True})
        return reply_ok(req_id, {"cancelled": False})

    @staticmethod
    def _undo(undo: Callable[[], object]) -> None:
        try:
            undo()
        except Exception:  # the edge: a failed undo must not break the connection
            logger.exception("taking back an unseen delivery failed")

    async def close(self) -> None:
        """Close the connection; returns once its cleanup ran, whoever began it."""
        self._begin_close()
        assert self.closing is not None
        await asyncio.shield(self.closing)

    async def _close(self) -> None:
        if self.closed:
            return  # turned away: it was never served
        self.closed = True
        for task in list(self.tasks):
            task.cancel()
        self.running.clear()
        self.delivered.clear()
        self.backlog.clear()
        for hook in self.server.registry.on_disconnect:
            try:
                await hook(self.id)
            except Exception:  # the edge: a cleanup hook must not break the others
                logger.exception("disconnect hook failed")
        if self.subscription is not None:
            self.server.events.unsubscribe(self.subscription)
        if self.pump is not None:
            self.pump.cancel()
        if self.transport is not None:
            self.transport.close()
        self.server._connections.discard(self)
        if self.counted:
            self.counted = False
            self.server._open[self.path] -= 1

    async def handle(self, req_id: Any, name: str, params: Any) -> None:
        undo: Callable[[], object] | None = None
        try:
            result = await self.dispatch(name, params)
            if isinstance(result, Delivery):
                result, undo = result.result, result.undo
            data = reply_ok(req_id, result)
        except HyperhiveError as exc:
            data = reply_error(req_id, self._shown(exc))
        except asyncio.CancelledError:
            if self.closed or asyncio.current_task() not in self.cancelled:
                raise
            # every request gets one answer, a cancelled one too (nobody waits for it)
            data = reply_error(req_id, Refused("cancelled by the caller ($/cancel)"))
        except Exception as exc:  # the edge: nothing a client sends may crash the daemon
            logger.exception("internal error handling a request on %s", self.caller.name)
            data = reply_error(req_id, HyperhiveError(f"internal error: {type(exc).__name__}"))
        sent = False
        try:
            sent = await self.send(data)
        finally:
            if req_id is not None and self.running.get(req_id) is asyncio.current_task():
                del self.running[req_id]
            if undo is not None:
                if not sent:
                    # nobody read it: what it handed over goes back
                    self._undo(undo)
                elif req_id is not None:
                    self.delivered[req_id] = undo
                    while len(self.delivered) > RECENT_DELIVERIES:
                        self.delivered.popitem(last=False)

    def _shown(self, exc: HyperhiveError) -> HyperhiveError:
        """The error as this caller may see it: agents are never told host paths."""
        redact = self.server.redact
        if self.caller.scope is Scope.HOST or redact is None:
            return exc
        shown = copy.copy(exc)
        shown.message = redact(exc.message)
        return shown

    async def dispatch(self, name: str, params: Any) -> Any:
        if name == SUBSCRIBE and self.caller.scope is Scope.HOST:
            return self.subscribe(params)
        if name == HELLO and self.caller.scope is Scope.HOST:
            return self.hello(params)
        method = self.server.methods[self.caller.scope].get(name)
        if method is None:
            where = {Scope.HOST: "host", Scope.MANAGER: "the manager", Scope.AGENT: "an agent"}
            raise ProtocolError(f"unknown method {name!r} on {where[self.caller.scope]} socket")
        kwargs = method.bind(params)
        if method.decides and self.caller.role is ConnectionRole.VIEWER:
            raise Refused(f"{name}: the viewer role can look but not decide")
        return await method.handler(self.caller, **kwargs)

    def subscribe(self, params: Any) -> dict[str, Any]:
        patterns: list[str] = ["*"]
        if isinstance(params, dict) and "events" in params:
            raw = params["events"]
            if not isinstance(raw, list) or not all(isinstance(x, str) for x in raw):
                raise ProtocolError(f"{SUBSCRIBE}: 'events' must be a list of name patterns")
            patterns = raw or ["*"]
        if self.subscription is not None:
            self.server.events.unsubscribe(self.subscription)
            if self.pump is not None:
                self.pump.cancel()
        self.subscription = self.server.events.subscribe(patterns, owner=self.id)
        self.pump = asyncio.create_task(self._pump(self.subscription))
        return {"subscribed": patterns}

    def hello(self, params: Any) -> dict[str, Any]:
        """Let a client name itself and lower (never raise) its role, e.g. an SSH viewer."""
        if not isinstance(params, dict):
            raise ProtocolError(f"{HELLO}: params must be an object")
        who = params.get("who", self.caller.who)
        role = params.get("role", self.caller.role.value)
        if not isinstance(who, str) or not who or len(who) > 64:
            raise ProtocolError(f"{HELLO}: 'who' must be a short string")
        if role not in (ConnectionRole.OPERATOR.value, ConnectionRole.VIEWER.value):
            raise ProtocolError(f"{HELLO}: 'role' must be operator or viewer")
        if self.caller.role is ConnectionRole.VIEWER and role == ConnectionRole.OPERATOR.value:
            raise Refused(f"{HELLO}: a viewer cannot become an operator")
        who = terminal_safe(who, newlines=False)  # stored and shown: never a control code
        self.caller = replace(self.caller, who=who, role=ConnectionRole(role))
        return {"who": who, "role": role}

    async def _pump(self, sub: Subscription) -> None:
        try:
            async for event in sub:
                await self.send(encode(event.to_json()))
        except (ConnectionError, OSError):
            pass


class SocketServer:
    """Serves the registry on any number of unix sockets, each with a fixed caller."""

    def __init__(
        self,
        registry: Registry,
        events: EventBus,
        *,
        line_limit: int,
        redact: Callable[[str], str] | None = None,
    ) -> None:
        self.registry = registry
        self.redact = redact  # applied to error messages sent to agent sockets
        self.events = events
        self.line_limit = line_limit
        self.methods = {scope: registry.for_scope(scope) for scope in Scope}
        self.ids = itertools.count(1)
        self._servers: dict[Path, asyncio.Server] = {}
        self._connections: set[_Connection] = set()
        self._open: dict[Path, int] = {}  # connections per socket, for the cap

    def open_connections(self, path: Path) -> int:
        return self._open.get(path, 0)

    async def listen(
        self, path: Path, caller: Caller, *, mode: int = 0o600, max_connections: int = 0
    ) -> None:
        """Serve ``caller``'s identity on ``path``, replacing a stale socket file.

        Past ``max_connections`` open connections (0: no cap) a new one gets one
        ``refused`` error line and is closed before anything of it is read, so that no
        client can make the daemon hold more than the cap times the line limit.
        """
        if path in self._servers:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        # whatever an agent left at its socket's name (a directory, a link) goes, unfollowed
        safefs.remove(path.parent, path.name)

        old = os.umask(0o177)
        try:
            server = await asyncio.get_running_loop().create_unix_server(
                lambda: _Connection(self, caller, path, max_connections), path=str(path)
            )
        finally:
            os.umask(old)
        os.chmod(path, mode)
        self._servers[path] = server

    def listening(self, path: Path) -> bool:
        return path in self._servers

    async def unlisten(self, path: Path) -> None:
        """Stop serving ``path``, close its connections, remove the socket file."""
        server = self._servers.pop(path, None)
        if server is None:
            return
        server.close()
        for conn in [c for c in self._connections if c.path == path]:
            await conn.close()
        with contextlib.suppress(FileNotFoundError):
            path.unlink()

    async def close(self) -> None:
        for path in list(self._servers):
            await self.unlisten(path)
        for conn in list(self._connections):
            await conn.close()
