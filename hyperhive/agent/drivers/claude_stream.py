"""Claude Code's stream-json folded: events summarised, CLI runs counted, turns merged.

`CliRun` counts tool calls from ``tool_use`` blocks (the CLI emits one ``assistant`` event per
content block, all carrying placeholder usage) and takes usage, cost and duration from the
``result`` event only. See docs/claude.md.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from hyperhive.agent.drivers.base import ExitClass, TurnResult

SEND_TOOL = "mcp__hyperhive__send"
TEXT_LIMIT = 500
INPUT_LIMIT = 200
_AUTH_RE = re.compile(
    r"invalid api key|invalid x-api-key|please run /login|authentication_error|"
    r"authentication_failed|oauth token|not logged in|invalid bearer token",
    re.IGNORECASE,
)
_RATE_RE = re.compile(r"rate.?limit|usage limit|hit your limit|overloaded", re.IGNORECASE)
_TOO_LONG_RE = re.compile(r"prompt is too long", re.IGNORECASE)
_USAGE_KEYS = (
    "input_tokens",
    "output_tokens",
    "cache_read_input_tokens",
    "cache_creation_input_tokens",
)


def summarise_event(event: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Turn one stream-json event into the small dicts `OnEvent` receives (one per block)."""
    kind = str(event.get("type", "unknown"))
    message = _message(event)
    if kind == "assistant":
        out = [_summarise_block(b) for b in _blocks(message.get("content"))]
        if event.get("error"):
            for item in out:
                item["error"] = str(event["error"])
        return out or [{"type": "assistant"}]
    if kind == "user":
        content = message.get("content")
        if isinstance(content, str):
            return [{"type": "user", "text": cut(content)}]
        return [_summarise_block(b) for b in _blocks(content)] or [{"type": "user"}]
    if kind == "result":
        return [
            {
                "type": "result",
                "subtype": event.get("subtype"),
                "is_error": bool(event.get("is_error")),
                "text": cut(str(event.get("result") or "")),
                "duration_ms": event.get("duration_ms"),
                "cost_usd": event.get("total_cost_usd"),
                "num_turns": event.get("num_turns"),
                "api_error_status": event.get("api_error_status"),
            }
        ]
    out_event: dict[str, Any] = {"type": kind}
    if "subtype" in event:
        out_event["subtype"] = event["subtype"]
    if kind == "system" and event.get("subtype") == "init":
        servers = event.get("mcp_servers") or []
        out_event["model"] = event.get("model")
        out_event["session_id"] = event.get("session_id")
        out_event["tools"] = len(event.get("tools") or [])
        out_event["mcp_servers"] = {
            str(s.get("name")): str(s.get("status")) for s in servers if isinstance(s, dict)
        }
        return [out_event]
    for key, value in event.items():
        if key in ("type", "subtype", "uuid", "session_id") or isinstance(value, dict | list):
            continue
        out_event[key] = cut(value, INPUT_LIMIT) if isinstance(value, str) else value
    return [out_event]


@dataclass
class CliRun:
    """What one CLI process reported: its events folded into counts, usage and an outcome."""

    tools: Counter[str] = field(default_factory=Counter)
    tool_ids: set[str] = field(default_factory=set)
    sends: dict[str, str] = field(default_factory=dict)
    failed_ids: set[str] = field(default_factory=set)
    api_errors: list[str] = field(default_factory=list)
    result: dict[str, Any] | None = None
    session_id: str = ""
    compact_result: str = ""
    compacted: bool = False  # the CLI compacted the context during the run
    returncode: int | None = None
    stderr: str = ""
    wall_ms: float = 0.0
    error: str = ""  # set by the driver when the run never got going or was stopped
    missing_binary: bool = False

    def feed_line(self, line: str) -> list[dict[str, Any]]:
        """Fold one stdout line; return its summarised events."""
        line = line.strip()
        if not line:
            return []
        try:
            event = json.loads(line)
        except ValueError:
            return [{"type": "driver", "subtype": "stdout", "text": cut(line)}]
        if not isinstance(event, dict):
            return [{"type": "driver", "subtype": "stdout", "text": cut(line)}]
        return self.feed(event)

    def feed(self, event: dict[str, Any]) -> list[dict[str, Any]]:
        """Fold one parsed event; return its summarised events."""
        kind = event.get("type")
        message = _message(event)
        if kind == "assistant":
            if event.get("error"):
                self.api_errors.append(str(event["error"]))
            for block in _blocks(message.get("content")):
                if block.get("type") != "tool_use":
                    continue
                tool_id = str(block.get("id") or f"#{len(self.tool_ids)}")
                if tool_id in self.tool_ids:
                    continue  # the same block seen twice (a re-emitted message)
                self.tool_ids.add(tool_id)
                name = str(block.get("name") or "?")
                self.tools[name] += 1
                tool_input = block.get("input")
                if name == SEND_TOOL and isinstance(tool_input, dict) and "to" in tool_input:
                    self.sends[tool_id] = str(tool_input["to"])
        elif kind == "user":
            for block in _blocks(message.get("content")):
                if block.get("type") == "tool_result" and block.get("is_error"):
                    self.failed_ids.add(str(block.get("tool_use_id")))
        elif kind == "system":
            if event.get("subtype") == "init":
                self.session_id = str(event.get("session_id") or self.session_id)
            if event.get("compact_result"):
                self.compact_result = str(event["compact_result"])
            if event.get("subtype") == "compact_boundary":
                self.compacted = True
        elif kind == "result":
            self.result = event
            self.session_id = str(event.get("session_id") or self.session_id)
        return summarise_event(event)

    @property
    def tool_calls(self) -> int:
        """How many tools the model called."""
        return len(self.tool_ids)

    @property
    def messages_sent(self) -> list[str]:
        """Recipients of hyperhive sends that did not come back as an error."""
        return [to for tool_id, to in self.sends.items() if tool_id not in self.failed_ids]

    @property
    def permission_denials(self) -> list[str]:
        """Refused calls as ``Tool(detail)``, from the result event."""
        denials = (self.result or {}).get("permission_denials") or []
        return [_denial(d) for d in denials if isinstance(d, dict)]

    @property
    def prompt_too_long(self) -> bool:
        """True when the run failed because the context window is full."""
        r = self.result
        if r is None or not r.get("is_error"):
            return False
        return r.get("terminal_reason") == "prompt_too_long" or bool(
            _TOO_LONG_RE.search(str(r.get("result") or ""))
        )

    def outcome(self) -> tuple[ExitClass, str]:
        """Classify the run: exit class and a one-line error ("" when it went well)."""
        if self.missing_binary:
            return ExitClass.DRIVER_MISSING, self.error
        if self.error:
            return ExitClass.FAILED, self.error
        r = self.result
        if r is not None and not r.get("is_error"):
            return ExitClass.OK, ""
        text = str(r.get("result") or r.get("subtype") or "") if r else ""
        tail = self.stderr.strip()[-TEXT_LIMIT:]
        detail = text or tail or f"claude exited {self.returncode} without a result"
        status = r.get("api_error_status") if r else None
        haystack = f"{text}\n{tail}"
        if status in (401, 403) or "authentication_failed" in self.api_errors:
            return ExitClass.NEEDS_LOGIN, detail
        if status in (429, 529) or "rate_limit" in self.api_errors:
            return ExitClass.RATE_LIMITED, detail
        if _AUTH_RE.search(haystack):
            return ExitClass.NEEDS_LOGIN, detail
        if _RATE_RE.search(haystack):
            return ExitClass.RATE_LIMITED, detail
        return ExitClass.FAILED, detail


def turn_result(
    runs: list[CliRun], exit_class: ExitClass, error: str, *, retry_after_s: float = 0.0
) -> TurnResult:
    """Merge the CLI runs of one turn (a compaction makes three) into its `TurnResult`."""
    tools: Counter[str] = Counter()
    usage: Counter[str] = Counter()
    cost = duration = 0.0
    turns = 0
    sent: list[str] = []
    denials: list[str] = []
    for run in runs:
        tools.update(run.tools)
        sent += run.messages_sent
        denials += run.permission_denials
        r = run.result or {}
        u = r.get("usage")
        for key in _USAGE_KEYS:
            usage[key] += int((u.get(key) if isinstance(u, dict) else 0) or 0)
        cost += float(r.get("total_cost_usd") or 0.0)
        turns += int(r.get("num_turns") or 0)
        duration += float(r["duration_ms"]) if r.get("duration_ms") is not None else run.wall_ms
    return TurnResult(
        exit_class=exit_class,
        duration_ms=duration,
        tool_calls=sum(run.tool_calls for run in runs),
        tools=dict(tools),
        input_tokens=usage["input_tokens"],
        output_tokens=usage["output_tokens"],
        cache_read_tokens=usage["cache_read_input_tokens"],
        cache_creation_tokens=usage["cache_creation_input_tokens"],
        cost_usd=cost,
        num_turns=turns,
        error=error,
        permission_denials=denials,
        messages_sent=sent,
        retry_after_s=retry_after_s,
        session_id=next((r.session_id for r in reversed(runs) if r.session_id), ""),
    )


def _message(event: Mapping[str, Any]) -> dict[str, Any]:
    message = event.get("message")
    return message if isinstance(message, dict) else {}


def _blocks(content: Any) -> list[dict[str, Any]]:
    if not isinstance(content, list):
        return []
    return [b for b in content if isinstance(b, dict)]


def _summarise_block(block: dict[str, Any]) -> dict[str, Any]:
    kind = str(block.get("type", "unknown"))
    if kind == "text":
        return {"type": "text", "text": cut(str(block.get("text", "")))}
    if kind == "thinking":
        return {"type": "thinking", "text": cut(str(block.get("thinking", "")))}
    if kind == "tool_use":
        raw = block.get("input")
        tool_input = raw if isinstance(raw, dict) else {}
        return {
            "type": "tool_use",
            "tool": block.get("name"),
            "id": block.get("id"),
            "input": {k: _short(v) for k, v in list(tool_input.items())[:10]},
        }
    if kind == "tool_result":
        return {
            "type": "tool_result",
            "id": block.get("tool_use_id"),
            "is_error": bool(block.get("is_error")),
            "text": cut(_content_text(block.get("content"))),
        }
    return {"type": kind}


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    parts = [str(b.get("text", "")) for b in _blocks(content) if b.get("type") == "text"]
    return "\n".join(parts)


def _denial(denial: dict[str, Any]) -> str:
    name = str(denial.get("tool_name") or "?")
    raw = denial.get("tool_input")
    tool_input = raw if isinstance(raw, dict) else {}
    for key in ("command", "file_path", "path", "pattern", "url"):
        if isinstance(tool_input.get(key), str):
            return f"{name}({cut(tool_input[key], INPUT_LIMIT)})"
    return name


def _short(value: Any) -> Any:
    if isinstance(value, str):
        return cut(value, INPUT_LIMIT)
    if value is None or isinstance(value, bool | int | float):
        return value
    return cut(json.dumps(value, default=str), INPUT_LIMIT)


def cut(text: str, limit: int = TEXT_LIMIT) -> str:
    """``text`` shortened to ``limit`` characters, ending in an ellipsis when cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"
