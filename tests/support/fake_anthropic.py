"""A scripted Messages-API server on 127.0.0.1 for driving the real Claude Code CLI in tests.

Usage::

    script = [tool_use("mcp__t__echo", {"text": "hi"}), text("done")]
    async with FakeAnthropic(script) as api:
        env = {"ANTHROPIC_BASE_URL": api.base_url, "ANTHROPIC_API_KEY": "test"}
        ...
    api.requests   # every request, in order, with its parsed JSON body

Each *main* request (``POST /v1/messages`` that offers tools) plays the next step of the
script: a `Reply` streamed as SSE (``message_start``, ``content_block_*`` with
``text_delta`` / ``input_json_delta``, ``message_delta`` with stop_reason and usage,
``message_stop``) or an `ApiError` sent as an HTTP error with the API's JSON error body.
Requests the CLI makes on its own get a canned answer and do not consume the script, so a
test's script lists only the model turns it cares about: ``/compact``'s summarisation
request (kind ``compact``, answered with `SUMMARY_TEXT`), side requests that offer no
tools (titles, quota probes: kind ``side``), ``count_tokens`` and ``HEAD /`` (kind
``probe``). Once the script runs out, every main request gets ``text("(script exhausted)")``.

Stdlib only: an `asyncio` server in the test's own event loop.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from dataclasses import dataclass, field
from typing import Any

EXHAUSTED_TEXT = "(script exhausted)"
SIDE_TEXT = "ok"
SUMMARY_TEXT = "<summary>Earlier work, summarised by the fake server.</summary>"
# How the CLI's compaction prompt asks for its summary (Claude Code 2.1).
COMPACT_MARKER = "summary of the conversation"


@dataclass(frozen=True)
class TextBlock:
    """A text content block."""

    text: str


@dataclass(frozen=True)
class ToolUseBlock:
    """A tool_use content block; ``id`` is generated when empty."""

    name: str
    input: dict[str, Any]
    id: str = ""


Block = TextBlock | ToolUseBlock


@dataclass(frozen=True)
class Reply:
    """One streamed assistant message; stop_reason is ``tool_use`` when it calls a tool."""

    blocks: tuple[Block, ...]
    input_tokens: int = 100
    output_tokens: int = 20
    cache_read_tokens: int = 0
    cache_creation_tokens: int = 0


@dataclass(frozen=True)
class ApiError:
    """An HTTP error reply with the Messages API's error body."""

    status: int
    type: str
    message: str
    retry: bool = False  # x-should-retry: the CLI's client honours it


Step = Reply | ApiError


def text(value: str, **usage: int) -> Reply:
    """A reply holding one text block."""
    return Reply((TextBlock(value),), **usage)


def tool_use(name: str, input: dict[str, Any], **usage: int) -> Reply:
    """A reply calling one tool."""
    return Reply((ToolUseBlock(name, input),), **usage)


def reply(*blocks: Block, **usage: int) -> Reply:
    """A reply holding several blocks (say, text then two tool calls)."""
    return Reply(tuple(blocks), **usage)


def error(status: int, type: str, message: str, *, retry: bool = False) -> ApiError:
    """An API error, e.g. ``error(400, "invalid_request_error", "Prompt is too long")``."""
    return ApiError(status, type, message, retry)


def prompt_too_long() -> ApiError:
    """The error the API sends when the context window is full."""
    return error(400, "invalid_request_error", "prompt is too long: 210000 tokens > 200000 maximum")


def rate_limited() -> ApiError:
    """A 429 rate-limit error."""
    return error(429, "rate_limit_error", "Number of request tokens has exceeded your rate limit")


def unauthorized() -> ApiError:
    """A 401 authentication error."""
    return error(401, "authentication_error", "invalid x-api-key")


@dataclass(frozen=True)
class Request:
    """One request the server received."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any  # parsed JSON, or None
    kind: str  # main | compact | side | probe
    ts: float = 0.0  # time.time() when its body was read (benchmarks time against it)

    @property
    def main(self) -> bool:
        """True when the request played a script step."""
        return self.kind == "main"

    @property
    def tool_names(self) -> list[str]:
        """Names of the tools the request offered the model."""
        tools = self.body.get("tools", []) if isinstance(self.body, dict) else []
        return [t.get("name", "") for t in tools]

    @property
    def tool_results(self) -> list[dict[str, Any]]:
        """The tool_result blocks of the request's last message."""
        messages = self.body.get("messages", []) if isinstance(self.body, dict) else []
        content = messages[-1].get("content", []) if messages else []
        if not isinstance(content, list):
            return []
        return [b for b in content if isinstance(b, dict) and b.get("type") == "tool_result"]


@dataclass
class FakeAnthropic:
    """The server; an async context manager that listens on an ephemeral port."""

    script: list[Step]
    requests: list[Request] = field(default_factory=list)
    played: list[Step] = field(default_factory=list)
    _server: asyncio.Server | None = None
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _changed: asyncio.Condition | None = None
    _writers: set[asyncio.StreamWriter] = field(default_factory=set)

    async def __aenter__(self) -> FakeAnthropic:
        self._changed = asyncio.Condition()
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        # Keep-alive connections of a finished CLI may linger: close them, then wait.
        for writer in list(self._writers):
            writer.close()
        await self._server.wait_closed()

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>`` for ANTHROPIC_BASE_URL."""
        assert self._server is not None
        port = self._server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    @property
    def remaining(self) -> int:
        """Script steps not yet played."""
        return len(self.script)

    @property
    def main_requests(self) -> list[Request]:
        """The requests that played a script step."""
        return [r for r in self.requests if r.main]

    async def wait_for_requests(self, count: int) -> None:
        """Wait until ``count`` main requests have arrived (bound it with asyncio.timeout)."""
        assert self._changed is not None
        async with self._changed:
            await self._changed.wait_for(lambda: len(self.main_requests) >= count)

    # -- HTTP ------------------------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, target, _ = lines[0].split(" ", 2)
                headers = {}
                for line in lines[1:]:
                    if ":" in line:
                        k, v = line.split(":", 1)
                        headers[k.strip().lower()] = v.strip()
                raw = await _read_body(reader, headers)
                status, extra, payload = await self._handle(method, target, headers, raw)
                out = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Status')}"]
                out += [f"{k}: {v}" for k, v in extra.items()]
                out += [f"content-length: {len(payload)}", "", ""]
                writer.write("\r\n".join(out).encode("latin-1") + payload)
                await writer.drain()
                if headers.get("connection", "").lower() == "close":
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self._writers.discard(writer)
            writer.close()

    async def _handle(
        self, method: str, target: str, headers: dict[str, str], raw: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        path = target.split("?", 1)[0]
        body: Any = None
        if raw:
            try:
                body = json.loads(raw)
            except ValueError:
                body = raw.decode(errors="replace")
        kind = _kind(method, path, body)
        self.requests.append(Request(method, target, headers, body, kind, time.time()))
        assert self._changed is not None
        async with self._changed:
            self._changed.notify_all()
        if method == "HEAD" or (method == "GET" and path == "/"):
            return 200, {"content-type": "text/plain"}, b""
        if method == "POST" and path == "/v1/messages/count_tokens":
            return 200, _JSON, json.dumps({"input_tokens": 100}).encode()
        if method != "POST" or path != "/v1/messages":
            return 404, _JSON, _error_body("not_found_error", f"no route {method} {path}")
        model = body.get("model", "claude-test") if isinstance(body, dict) else "claude-test"
        if kind == "compact":
            step: Step = text(SUMMARY_TEXT, input_tokens=10, output_tokens=10)
        elif kind == "side":
            step = text(SIDE_TEXT, input_tokens=10, output_tokens=1)
        elif self.script:
            step = self.script.pop(0)
            self.played.append(step)
        else:
            step = text(EXHAUSTED_TEXT)
        if isinstance(step, ApiError):
            extra = {**_JSON, "request-id": f"req_{next(self._ids)}"}
            extra["x-should-retry"] = "true" if step.retry else "false"
            if step.status == 429:
                extra["retry-after"] = "0"
            return step.status, extra, _error_body(step.type, step.message)
        stream = isinstance(body, dict) and body.get("stream", False)
        if stream:
            return 200, {"content-type": "text/event-stream"}, self._sse(step, model)
        return 200, _JSON, json.dumps(self._message(step, model)).encode()

    # -- Messages API ----------------------------------------------------------

    def _message(self, step: Reply, model: str) -> dict[str, Any]:
        content: list[dict[str, Any]] = []
        for block in step.blocks:
            if isinstance(block, TextBlock):
                content.append({"type": "text", "text": block.text})
            else:
                content.append(
                    {
                        "type": "tool_use",
                        "id": block.id or f"toolu_{next(self._ids):04d}",
                        "name": block.name,
                        "input": block.input,
                    }
                )
        return {
            "id": f"msg_{next(self._ids):04d}",
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": content,
            "stop_reason": _stop_reason(step),
            "stop_sequence": None,
            "usage": _usage(step, step.output_tokens),
        }

    def _sse(self, step: Reply, model: str) -> bytes:
        message = self._message(step, model)
        start = {**message, "content": [], "stop_reason": None, "usage": _usage(step, 1)}
        events = [_sse_event("message_start", message=start), _sse_event("ping")]
        for index, block in enumerate(message["content"]):
            if block["type"] == "text":
                empty: dict[str, Any] = {"type": "text", "text": ""}
                delta = {"type": "text_delta", "text": block["text"]}
            else:
                empty = {**block, "input": {}}
                delta = {"type": "input_json_delta", "partial_json": json.dumps(block["input"])}
            events += [
                _sse_event("content_block_start", index=index, content_block=empty),
                _sse_event("content_block_delta", index=index, delta=delta),
                _sse_event("content_block_stop", index=index),
            ]
        stop = {"stop_reason": message["stop_reason"], "stop_sequence": None}
        events += [
            _sse_event("message_delta", delta=stop, usage={"output_tokens": step.output_tokens}),
            _sse_event("message_stop"),
        ]
        return b"".join(events)


def _sse_event(name: str, **data: Any) -> bytes:
    return f"event: {name}\ndata: {json.dumps({'type': name, **data})}\n\n".encode()


_JSON = {"content-type": "application/json"}
_REASONS = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found"}


def _kind(method: str, path: str, body: Any) -> str:
    if method != "POST" or path != "/v1/messages":
        return "probe"
    if not isinstance(body, dict) or not body.get("tools"):
        return "side"  # the agent's own turns always offer tools; titles and probes do not
    messages = body.get("messages") or [{}]
    last = messages[-1].get("content") if isinstance(messages[-1], dict) else ""
    if COMPACT_MARKER in json.dumps(last):
        return "compact"
    return "main"


def _stop_reason(step: Reply) -> str:
    return "tool_use" if any(isinstance(b, ToolUseBlock) for b in step.blocks) else "end_turn"


def _usage(step: Reply, output_tokens: int) -> dict[str, int]:
    return {
        "input_tokens": step.input_tokens,
        "output_tokens": output_tokens,
        "cache_read_input_tokens": step.cache_read_tokens,
        "cache_creation_input_tokens": step.cache_creation_tokens,
    }


def _error_body(type: str, message: str) -> bytes:
    return json.dumps({"type": "error", "error": {"type": type, "message": message}}).encode()


async def _read_body(reader: asyncio.StreamReader, headers: dict[str, str]) -> bytes:
    if headers.get("transfer-encoding", "").lower() == "chunked":
        chunks = []
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            chunk = await reader.readexactly(size + 2)
            if size == 0:
                return b"".join(chunks)
            chunks.append(chunk[:-2])
    length = int(headers.get("content-length", "0") or 0)
    return await reader.readexactly(length) if length else b""
