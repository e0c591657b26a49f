"""The stats pane: telemetry series (``stats.query`` buckets) as plotext charts.

An agent's charts come from the sample set its harness writes per turn
(``turn.duration_ms``, ``turn.exit.<class>``, ``turn.tool.<tool>``, ...); the swarm's
from the daemon's own samples under the agent ``*`` (``approvals.pending``,
``agents.<state>``, ``inbox.total``). `wanted_keys` picks the series to query and
`agent_charts` / `swarm_charts` turn the buckets into chart series.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from textual.app import ComposeResult
from textual.containers import Grid
from textual.widget import Widget
from textual.widgets import Static

from hyperhive.tui.format import ago
from hyperhive.tui.views import AgentView, rows_of
from hyperhive.tui.widgets.chart import ChartWidget

Kind = Literal["line", "bar"]
Points = list[tuple[float, float]]
Charts = dict[str, tuple[dict[str, Points], Kind]]

SWARM = "*"
AGENT_KEYS = (
    "turn.duration_ms",
    "turn.tool_calls",
    "inbox.depth",
    "tokens.input",
    "tokens.output",
    "cost.usd",
    "notes.bytes",
)
AGENT_PREFIXES = ("turn.exit.", "turn.sent.", "turn.tool.")
SWARM_KEYS = ("approvals.pending", "inbox.total")
SWARM_PREFIXES = ("agents.",)
AGENT_CHARTS: tuple[tuple[str, str], ...] = (
    ("turns", "turns / min"),
    ("duration", "turn duration p50 / p95 (s)"),
    ("tool_calls", "tool calls per turn"),
    ("exits", "exit classes"),
    ("inbox", "inbox depth (max)"),
    ("recipients", "messages sent, by recipient class"),
    ("tools", "tool use"),
    ("tokens", "tokens"),
    ("cost", "cost (USD)"),
    ("notes", "notes.md size (KiB)"),
)
SWARM_CHARTS: tuple[tuple[str, str], ...] = (
    ("queue", "approval queue"),
    ("agents", "agents by state"),
    ("inbox", "messages waiting (all inboxes)"),
)
TOP_TOOLS = 6


@dataclass(frozen=True)
class Bucket:
    """One bucket of a ``stats.query`` series."""

    t: float
    count: int
    sum: float
    avg: float
    max: float
    p50: float
    p95: float


@dataclass(frozen=True)
class Series:
    key: str
    bucket_seconds: float
    buckets: tuple[Bucket, ...]


def _num(value: Any, default: float = 0.0) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return default
    return float(value)


def parse_series(result: Any, key: str = "") -> Series:
    """A ``stats.query`` reply as a `Series` (empty when it is anything else)."""
    if not isinstance(result, dict):
        return Series(key, 60.0, ())
    buckets = tuple(
        Bucket(
            t=_num(b.get("t")),
            count=int(_num(b.get("count"))),
            sum=_num(b.get("sum")),
            avg=_num(b.get("avg")),
            max=_num(b.get("max")),
            p50=_num(b.get("p50")),
            p95=_num(b.get("p95")),
        )
        for b in rows_of(result, "buckets")
        if isinstance(b, dict)
    )
    return Series(str(result.get("key", key)), _num(result.get("bucket_seconds"), 60.0), buckets)


def wanted_keys(keys_reply: Any, agent: str) -> list[str]:
    """The keys of ``agent`` worth a query, from a ``stats.keys`` reply."""
    fixed, prefixes = (
        (SWARM_KEYS, SWARM_PREFIXES) if agent == SWARM else (AGENT_KEYS, AGENT_PREFIXES)
    )
    found = {
        str(row.get("key"))
        for row in rows_of(keys_reply, "series")
        if isinstance(row, dict) and row.get("agent") in (agent, None)
    }
    return sorted(k for k in found if k in fixed or k.startswith(prefixes))


def _points(series: Series | None, field: str, scale: float = 1.0) -> Points:
    if series is None:
        return []
    return [(b.t, float(getattr(b, field)) * scale) for b in series.buckets]


def _grouped(series: Mapping[str, Series], prefix: str, field: str) -> dict[str, Points]:
    return {
        key[len(prefix) :]: _points(s, field)
        for key, s in sorted(series.items())
        if key.startswith(prefix)
    }


def agent_charts(series: Mapping[str, Series]) -> Charts:
    """Every agent chart from its series by key."""
    duration = series.get("turn.duration_ms")
    per_min = 60.0 / duration.bucket_seconds if duration else 1.0
    tools = _grouped(series, "turn.tool.", "sum")
    top = sorted(tools, key=lambda t: -sum(v for _, v in tools[t]))[:TOP_TOOLS]
    return {
        "turns": ({"turns": _points(duration, "count", per_min)}, "line"),
        "duration": (
            {"p50": _points(duration, "p50", 1e-3), "p95": _points(duration, "p95", 1e-3)},
            "line",
        ),
        "tool_calls": ({"calls": _points(series.get("turn.tool_calls"), "avg")}, "line"),
        "exits": (_grouped(series, "turn.exit.", "sum"), "bar"),
        "inbox": ({"depth": _points(series.get("inbox.depth"), "max")}, "line"),
        "recipients": (_grouped(series, "turn.sent.", "sum"), "bar"),
        "tools": ({t: tools[t] for t in top}, "bar"),
        "tokens": (
            {
                "in": _points(series.get("tokens.input"), "sum"),
                "out": _points(series.get("tokens.output"), "sum"),
            },
            "line",
        ),
        "cost": ({"USD": _points(series.get("cost.usd"), "sum")}, "line"),
        "notes": ({"KiB": _points(series.get("notes.bytes"), "max", 1 / 1024)}, "line"),
    }


def swarm_charts(series: Mapping[str, Series], queue: Iterable[tuple[float, float]] = ()) -> Charts:
    """The swarm charts; without a daemon series, the queue comes from what this TUI saw."""
    pending = _points(series.get("approvals.pending"), "max") or sorted(queue)
    states = {
        state: points
        for state, points in _grouped(series, "agents.", "max").items()
        if state != "total" and any(v for _, v in points)
    }
    return {
        "queue": ({"pending": pending}, "line"),
        "agents": (states, "line"),
        "inbox": ({"waiting": _points(series.get("inbox.total"), "max")}, "line"),
    }


class StatsPane(Widget):
    """A grid of charts plus "time since last turn" per agent."""

    DEFAULT_CSS = """
    StatsPane { height: auto; }
    StatsPane > Grid { grid-size: 1; grid-rows: 14; grid-gutter: 0 1; height: auto; }
    StatsPane.-wide > Grid { grid-size: 2; }
    StatsPane > .note { color: $text-muted; padding: 0 1; }
    StatsPane > #last-turns { padding: 0 1; }
    """

    def __init__(
        self, charts: tuple[tuple[str, str], ...] = AGENT_CHARTS, *, id: str | None = None
    ) -> None:
        super().__init__(id=id)
        self.charts = charts

    def compose(self) -> ComposeResult:
        yield Static("", classes="note", markup=False)
        yield Static("", id="last-turns", markup=False)
        with Grid():
            for chart_id, title in self.charts:
                yield ChartWidget(title, id=f"chart-{chart_id}")

    def on_mount(self) -> None:
        self.show({})

    def show(self, charts: Charts, *, note: str | None = None) -> None:
        """Plot ``charts`` (chart id -> series and kind); ``note`` says why there is nothing."""
        widget = self.query_one(".note", Static)
        widget.display = bool(note)
        widget.update(note or "")
        for chart_id, _ in self.charts:
            series, kind = charts.get(chart_id, ({}, "line"))
            self.query_one(f"#chart-{chart_id}", ChartWidget).set_series(series, kind=kind)

    def last_turns(self, agents: list[AgentView], now: float) -> None:
        """Time since each agent's last turn, the stalest first (helps spot stuck agents)."""
        ordered = sorted(agents, key=lambda a: a.last_turn_at or 0.0)
        text = " · ".join(f"{a.name} {ago(a.last_turn_at, now)}" for a in ordered)
        self.query_one("#last-turns", Static).update(
            f"time since last turn: {text}" if text else ""
        )
