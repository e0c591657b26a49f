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

from hyperhive.tui.format import ago, safe
from hyperhive.tui.views import AgentView, rows_of
from hyperhive.tui.widgets.chart import ChartWidget

Kind = Literal["line", "bar"]
Points = list[tuple[float, float]]


@dataclass(frozen=True)
class Chart:
    """What one chart plots: series by name, how, and where its still-filling bucket starts."""

    series: dict[str, Points]
    kind: Kind = "line"
    partial_after: float | None = None  # sums and counts of a bucket still filling

    @property
    def latest(self) -> str:
        """The newest value of each series ("3" or "p50 1.2 · p95 3.4")."""
        last = {name: points[-1][1] for name, points in self.series.items() if points}
        if len(last) == 1:
            return _value(next(iter(last.values())))
        return " · ".join(f"{name} {_value(v)}" for name, v in last.items())


def _value(v: float) -> str:
    return f"{v:.0f}" if v == int(v) and abs(v) < 1e9 else f"{v:.3g}"


Charts = dict[str, Chart]

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


def partial_after(series: Mapping[str, Series], now: float) -> float | None:
    """The start of the newest bucket when it is still filling at ``now``, else None."""
    starts = [
        s.buckets[-1].t
        for s in series.values()
        if s.buckets and s.buckets[-1].t + s.bucket_seconds > now
    ]
    return max(starts) if starts else None


def agent_charts(series: Mapping[str, Series], now: float = float("inf")) -> Charts:
    """Every agent chart from its series by key; sums of a filling bucket are marked partial."""
    duration = series.get("turn.duration_ms")
    per_min = 60.0 / duration.bucket_seconds if duration else 1.0
    tools = _grouped(series, "turn.tool.", "sum")
    top = sorted(tools, key=lambda t: -sum(v for _, v in tools[t]))[:TOP_TOOLS]
    filling = partial_after(series, now)
    return {
        "turns": Chart({"turns": _points(duration, "count", per_min)}, "line", filling),
        "duration": Chart(
            {"p50": _points(duration, "p50", 1e-3), "p95": _points(duration, "p95", 1e-3)}
        ),
        "tool_calls": Chart({"calls": _points(series.get("turn.tool_calls"), "avg")}),
        "exits": Chart(_grouped(series, "turn.exit.", "sum"), "bar", filling),
        "inbox": Chart({"depth": _points(series.get("inbox.depth"), "max")}),
        "recipients": Chart(_grouped(series, "turn.sent.", "sum"), "bar", filling),
        "tools": Chart({t: tools[t] for t in top}, "bar", filling),
        "tokens": Chart(
            {
                "in": _points(series.get("tokens.input"), "sum"),
                "out": _points(series.get("tokens.output"), "sum"),
            },
            "line",
            filling,
        ),
        "cost": Chart({"USD": _points(series.get("cost.usd"), "sum")}, "line", filling),
        "notes": Chart({"KiB": _points(series.get("notes.bytes"), "max", 1 / 1024)}),
    }


def swarm_charts(
    series: Mapping[str, Series],
    queue: Iterable[tuple[float, float]] = (),
    *,
    now: float | None = None,
    pending_now: int | None = None,
) -> Charts:
    """The swarm charts. The queue ends with ``pending_now`` at ``now``: what the header says.

    The daemon samples the queue every few seconds; between samples the newest point
    is what this TUI knows now, so the chart never disagrees with the header.
    """
    pending = sorted(
        {
            **dict(_points(series.get("approvals.pending"), "max")),
            **{t: v for t, v in queue if now is None or t <= now},
        }.items()
    )
    if now is not None and pending_now is not None:
        pending = [(t, v) for t, v in pending if t < now] + [(now, float(pending_now))]
    states = {
        state: points
        for state, points in _grouped(series, "agents.", "max").items()
        if state != "total" and any(v for _, v in points)
    }
    return {
        "queue": Chart({"pending": pending}),
        "agents": Chart(states),
        "inbox": Chart({"waiting": _points(series.get("inbox.total"), "max")}),
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
            chart = charts.get(chart_id, Chart({}))
            self.query_one(f"#chart-{chart_id}", ChartWidget).set_series(
                chart.series,
                kind=chart.kind,
                partial_after=chart.partial_after,
                latest=chart.latest,
            )

    def last_turns(self, agents: list[AgentView], now: float) -> None:
        """Time since each agent's last turn, the stalest first (helps spot stuck agents)."""
        ordered = sorted(agents, key=lambda a: a.last_turn_at or 0.0)
        text = " · ".join(
            f"{safe(a.name, newlines=False)} {ago(a.last_turn_at, now)}" for a in ordered
        )
        self.query_one("#last-turns", Static).update(
            f"time since last turn: {text}" if text else ""
        )
