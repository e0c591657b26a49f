"""The turn log: an agent's harness events (turns, tool calls, text, errors) as they stream."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from rich.text import Text
from textual.widgets import RichLog

from hyperhive.tui.format import clock, one_line, safe
from hyperhive.tui.views import rows_of

KIND_STYLES = {
    "turn_start": "bold cyan",
    "turn_end": "bold cyan",
    "text": "",
    "thinking": "dim italic",
    "tool_use": "magenta",
    "tool_result": "dim",
    "result": "cyan",
    "system": "dim",
    "driver": "yellow",
    "notes": "green",
    "error": "bold red",
}
MAX_LINES = 2000


def event_agent(data: Mapping[str, Any]) -> str | None:
    agent = data.get("agent")
    return agent if isinstance(agent, str) else None


def parse_events(result: Any) -> list[dict[str, Any]]:
    return [d for d in rows_of(result, "events", "rows") if isinstance(d, dict)]


def render_event(data: Mapping[str, Any]) -> Text:
    """One line for one harness event: time, turn, kind, and what it says."""
    kind = str(data.get("kind", data.get("type", "event")))
    ts = data.get("ts")
    turn = data.get("turn")
    body = data.get("data", {})
    if isinstance(body, str):
        try:
            body = json.loads(body)
        except ValueError:
            pass
    text = _summary(kind, body)
    head = f"{clock(ts if isinstance(ts, int | float) else None)} "
    if isinstance(turn, int):
        head += f"t{turn} "
    return Text.assemble(
        (head, "dim"),
        (safe(f"{kind:<12}", newlines=False), KIND_STYLES.get(kind, "bold")),
        " ",
        safe(text, newlines=False),
    )


def _summary(kind: str, body: Any) -> str:
    if not isinstance(body, dict):
        return one_line(str(body), 200)
    if kind == "tool_use":
        args = body.get("input", "")
        shown = args if isinstance(args, str) else json.dumps(args, default=str)
        return one_line(f"{body.get('tool', '?')} {shown}", 200)
    if kind == "turn_end":
        secs = _seconds(body.get("duration_ms"))
        error = body.get("error") or ""
        return one_line(f"{body.get('exit_class', '?')}{secs} {error}", 200)
    if kind == "result":
        cost = body.get("cost_usd")
        money = f" ${cost:.4f}" if isinstance(cost, int | float) else ""
        return one_line(f"{body.get('subtype', '')}{_seconds(body.get('duration_ms'))}{money}", 200)
    prefix = "error: " if body.get("is_error") else ""
    for key in ("text", "message", "error"):
        if isinstance(body.get(key), str) and body[key]:
            sub = f"[{body['subtype']}] " if isinstance(body.get("subtype"), str) else ""
            return one_line(prefix + sub + body[key], 200)
    rest = {k: v for k, v in body.items() if k != "type"}
    return one_line(" ".join(f"{k}={_short(v)}" for k, v in rest.items()), 200)


def _short(value: Any) -> str:
    """A value of an event field, readable: strings bare, the rest compact JSON, cut short."""
    text = (
        value if isinstance(value, str) else json.dumps(value, default=str, separators=(",", ":"))
    )
    return one_line(text, 60)


def _seconds(ms: Any) -> str:
    return f" in {ms / 1000:.1f}s" if isinstance(ms, int | float) and ms else ""


class TurnLog(RichLog):
    """A bounded log of harness events; new lines scroll in at the bottom."""

    DEFAULT_CSS = """
    TurnLog { height: 1fr; min-height: 8; border-top: solid $primary-muted; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, max_lines=MAX_LINES, wrap=False, markup=False, auto_scroll=True)
        self.border_title = "turn events"

    def add_events(self, events: Sequence[Mapping[str, Any]]) -> None:
        for data in events:
            self.write(render_event(data))
