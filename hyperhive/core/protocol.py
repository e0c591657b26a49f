"""JSON-lines RPC: framing, the method registry, and parameter validation.

Request ``{"id": 1, "method": "messages.send", "params": {...}}``; reply
``{"id": 1, "result": ...}`` or ``{"id": 1, "error": {"code": ..., "message": ...}}``;
pushed events ``{"event": "approval.created", "seq": 7, "ts": ..., "data": {...}}``.
"""

from __future__ import annotations

import json
import math
import re
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from hyperhive.core.errors import HyperhiveError, InvalidInput, ProtocolError


class Scope(StrEnum):
    """Which socket a method exists on."""

    HOST = "host"  # operator, on host.sock
    MANAGER = "manager"  # the manager's own socket
    AGENT = "agent"  # every agent socket (the manager's too)


class ConnectionRole(StrEnum):
    """What a host.sock connection may do: an operator decides, a viewer only looks."""

    OPERATOR = "operator"
    VIEWER = "viewer"


@dataclass(frozen=True)
class Caller:
    """Who is on the other end of a connection; decided by the socket, never by the client."""

    scope: Scope
    name: str  # agent name, "manager", or "operator"
    who: str = "operator"  # for the audit log: local user or SSH key name
    role: ConnectionRole = ConnectionRole.OPERATOR
    conn: int = 0  # the connection, for what belongs to it alone (terminal output)

    @property
    def actor(self) -> str:
        return self.who if self.scope is Scope.HOST else self.name


REQUIRED: Any = object()
# integers travel on to sqlite, whose integers are signed 64-bit
INT_MIN, INT_MAX = -(2**63), 2**63 - 1


@dataclass(frozen=True)
class Param:
    """A typed parameter: ``types`` accepted (``None`` in the tuple allows null)."""

    types: tuple[type | None, ...]
    default: Any = REQUIRED
    doc: str = ""

    def check(self, method: str, name: str, value: Any) -> Any:
        if value is None and None in self.types:
            return None
        for t in self.types:
            if t is None:
                continue
            if t is float and isinstance(value, int) and not isinstance(value, bool):
                return float(self._in_range(method, name, value))
            if t is int and isinstance(value, bool):
                continue
            if isinstance(value, t):
                if isinstance(value, int) and not isinstance(value, bool):
                    return self._in_range(method, name, value)
                if isinstance(value, float) and not math.isfinite(value):
                    raise InvalidInput(f"{method}: param {name!r} must be a finite number")
                return value
        names = " or ".join("null" if t is None else t.__name__ for t in self.types)
        raise InvalidInput(f"{method}: param {name!r} must be {names}, not {_kind(value)}")

    @staticmethod
    def _in_range(method: str, name: str, value: int) -> int:
        if not INT_MIN <= value <= INT_MAX:
            raise InvalidInput(f"{method}: param {name!r} is out of range")
        return value


def _kind(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def p(*types: type | None, default: Any = REQUIRED, doc: str = "") -> Param:
    return Param(tuple(types), default, doc)


Handler = Callable[..., Awaitable[Any]]


@dataclass(frozen=True)
class Method:
    name: str
    handler: Handler  # handler(caller, **params)
    params: dict[str, Param]
    scopes: frozenset[Scope]
    decides: bool = False  # an operator decision: viewers may not call it
    doc: str = ""

    def bind(self, params: Any) -> dict[str, Any]:
        """Validate raw params against the declaration; return kwargs for the handler."""
        if params is None:
            params = {}
        if not isinstance(params, dict):
            raise InvalidInput(f"{self.name}: 'params' must be an object, not {_kind(params)}")
        unknown = sorted(set(params) - set(self.params))
        if unknown:
            raise InvalidInput(f"{self.name}: unknown param(s) {', '.join(map(repr, unknown))}")
        out = {}
        for name, spec in self.params.items():
            if name in params:
                out[name] = spec.check(self.name, name, params[name])
            elif spec.default is REQUIRED:
                raise InvalidInput(f"{self.name}: missing param {name!r}")
            else:
                out[name] = spec.default
        return out


@dataclass
class Registry:
    """All RPC methods, by name, and what to do when a connection closes."""

    methods: dict[str, Method] = field(default_factory=dict)
    on_disconnect: list[Callable[[int], Awaitable[None]]] = field(default_factory=list)

    def add(
        self,
        name: str,
        handler: Handler,
        scopes: set[Scope] | frozenset[Scope],
        params: dict[str, Param] | None = None,
        *,
        decides: bool = False,
        doc: str = "",
    ) -> None:
        if name in self.methods:
            raise ValueError(f"method {name} registered twice")
        self.methods[name] = Method(name, handler, params or {}, frozenset(scopes), decides, doc)

    def method(
        self,
        name: str,
        /,
        *scopes: Scope,
        decides: bool = False,
        **params: Param,
    ) -> Callable[[Handler], Handler]:
        """Decorator form of `add`."""

        def wrap(fn: Handler) -> Handler:
            self.add(name, fn, set(scopes), params, decides=decides, doc=fn.__doc__ or "")
            return fn

        return wrap

    def for_scope(self, scope: Scope) -> dict[str, Method]:
        """The methods that exist on a socket of ``scope`` (the manager sees agent ones too)."""
        wanted = {scope, Scope.AGENT} if scope is Scope.MANAGER else {scope}
        return {n: m for n, m in self.methods.items() if m.scopes & wanted}


class BadRequest(Exception):
    """A line that is not a valid request; carries the request id when one was readable."""

    def __init__(self, req_id: Any, error: HyperhiveError) -> None:
        super().__init__(error.message)
        self.req_id = req_id
        self.error = error


def parse_request(line: bytes) -> tuple[Any, str, Any]:
    """Decode one request line into ``(id, method, params)`` or raise `BadRequest`."""
    try:
        msg = json.loads(line)
    except (UnicodeDecodeError, ValueError) as exc:
        raise BadRequest(None, ProtocolError(f"not valid JSON: {exc}")) from exc
    except RecursionError as exc:
        raise BadRequest(None, ProtocolError("not valid JSON: nested too deeply")) from exc
    if not isinstance(msg, dict):
        raise BadRequest(None, ProtocolError(f"a request must be a JSON object, not {_kind(msg)}"))
    req_id = msg.get("id")
    if req_id is not None and (
        isinstance(req_id, bool) or not isinstance(req_id, int | str) or len(str(req_id)) > 64
    ):
        raise BadRequest(None, ProtocolError("'id' must be an integer or a string of ≤ 64 chars"))
    method = msg.get("method")
    if not isinstance(method, str) or not method:
        raise BadRequest(req_id, ProtocolError("a request needs a 'method' string"))
    params = msg.get("params")
    # Python's json reads NaN, Infinity and 1e400 (as inf); JSON has no such numbers, and
    # a reply or an event carrying one back would not be JSON either
    if isinstance(params, dict | list) and _non_finite(params):
        raise BadRequest(req_id, ProtocolError("not valid JSON: NaN and Infinity are not numbers"))
    return req_id, method, params


def _non_finite(params: Any) -> bool:
    """Whether ``params`` hold NaN or an infinity anywhere (iterative: nesting may be deep)."""
    stack = [params]
    while stack:
        value = stack.pop()
        if isinstance(value, float):
            if not math.isfinite(value):
                return True
        elif isinstance(value, dict):
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)
    return False


CANCEL = "$/cancel"
"""``{"method": "$/cancel", "params": {"id": <id>}}``: the caller stopped waiting for ``id``."""
ID_SCAN_BYTES = 4096


@dataclass(frozen=True)
class Delivery:
    """A result that hands something over (messages): ``undo`` takes it back.

    The server calls ``undo`` when the reply could not be written, or when the caller
    cancels the request (``$/cancel``) after the reply left: nobody saw the result.
    """

    result: Any
    undo: Callable[[], object]


class LineTooLong(Exception):
    """A line passed the limit; it was discarded up to and including its newline.

    ``head`` is the line's first bytes (at most `ID_SCAN_BYTES`), to find its id in.
    """

    def __init__(self, head: bytes = b"") -> None:
        super().__init__("line too long")
        self.head = head


_ID_VALUE = re.compile(rb'\s*:\s*(-?[0-9]{1,19}|"[^"\\]{0,64}")')


def peek_id(head: bytes) -> Any:
    """The top-level ``"id"`` of a JSON object whose text starts with ``head``, or None.

    For lines too long to parse: a bounded scan of the first `ID_SCAN_BYTES`, tracking
    strings and nesting so an ``"id"`` inside params or inside a string never counts.
    """
    head = head[:ID_SCAN_BYTES]
    depth = 0
    i, n = 0, len(head)
    while i < n:
        c = head[i]
        if c == 0x22:  # a string: a key at depth 1 may be "id"
            start = i
            i += 1
            while i < n and head[i] != 0x22:
                i += 2 if head[i] == 0x5C else 1
            if i >= n:
                return None
            i += 1
            if depth == 1 and head[start:i] == b'"id"':
                match = _ID_VALUE.match(head, i)
                if match is None:
                    return None
                raw = match.group(1)
                value = json.loads(raw)
                if isinstance(value, int) and not INT_MIN <= value <= INT_MAX:
                    return None
                return value
            continue
        if c in b"{[":
            depth += 1
        elif c in b"}]":
            depth -= 1
        i += 1
    return None


class LineBuffer:
    """Splits a byte stream into newline-terminated lines of bounded length (no I/O).

    A line over the limit is skipped as a whole (through its newline) and comes out as a
    `LineTooLong`, so the stream stays in sync and usable; the buffer never holds more
    than the limit plus one chunk.
    """

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._buf = bytearray()
        self._discarding = False
        self._head = b""

    def feed(self, data: bytes) -> list[bytes | LineTooLong]:
        """The lines ``data`` completes, in order, without their newlines."""
        out: list[bytes | LineTooLong] = []
        self._buf += data
        while (nl := self._buf.find(b"\n")) >= 0:
            line = bytes(self._buf[:nl])
            del self._buf[: nl + 1]
            if self._discarding:
                self._discarding = False
                out.append(LineTooLong(self._head))
            elif len(line) > self._limit:
                out.append(LineTooLong(line[:ID_SCAN_BYTES]))
            else:
                out.append(line)
        if self._discarding:
            self._buf.clear()
        elif len(self._buf) > self._limit:
            self._discarding = True
            self._head = bytes(self._buf[:ID_SCAN_BYTES])
            self._buf.clear()
        return out

    def end(self) -> bytes | None:
        """At the end of the stream: its last, unterminated line (never a discarded one)."""
        if not self._buf or self._discarding:
            return None
        line = bytes(self._buf)
        self._buf.clear()
        return line


class LineReader:
    """Reads the lines of a `LineBuffer` from a stream (the client's side)."""

    def __init__(self, reader: Any, limit: int) -> None:
        self._reader = reader
        self._lines = LineBuffer(limit)
        self._ready: deque[bytes | LineTooLong] = deque()

    async def readline(self) -> bytes | None:
        """The next line without its newline; None at end of stream.

        Raises:
            LineTooLong: the next line passed the limit (it was skipped).
        """
        while not self._ready:
            chunk = await self._reader.read(65536)
            if not chunk:
                return self._lines.end()
            self._ready.extend(self._lines.feed(chunk))
        line = self._ready.popleft()
        if isinstance(line, LineTooLong):
            raise line
        return line


def encode(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), default=_default).encode() + b"\n"


def _default(obj: Any) -> Any:
    if hasattr(obj, "to_json"):
        return obj.to_json()
    if isinstance(obj, set | frozenset | tuple):
        return list(obj)
    raise TypeError(f"cannot encode {type(obj).__name__}")


def reply_ok(req_id: Any, result: Any) -> bytes:
    return encode({"id": req_id, "result": result})


def reply_error(req_id: Any, err: HyperhiveError) -> bytes:
    return encode({"id": req_id, "error": {"code": err.code, "message": err.message}})
