"""The stats screen: the swarm's charts, or every chart of one agent."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, ClassVar

from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.timer import Timer
from textual.widgets import Select, Static

from hyperhive.tui.context import Ctx
from hyperhive.tui.format import safe
from hyperhive.tui.model import Change, Unavailable
from hyperhive.tui.panes.stats import (
    AGENT_CHARTS,
    SWARM,
    SWARM_CHARTS,
    Series,
    StatsPane,
    agent_charts,
    parse_series,
    swarm_charts,
    wanted_keys,
)
from hyperhive.tui.panes.turns import event_agent
from hyperhive.tui.screens.base import HiveScreen, loader

if TYPE_CHECKING:
    from hyperhive.tui.actions import Operations

WIDE = 160
# the windows `w` steps through: (label, seconds)
WINDOWS: tuple[tuple[str, float], ...] = (
    ("1h", 3600.0),
    ("6h", 6 * 3600.0),
    ("24h", 86400.0),
    ("7d", 7 * 86400.0),
    ("30d", 30 * 86400.0),
)
DEFAULT_WINDOW = 1  # six hours
POINTS = 60  # buckets across the window, or across the data when it is younger
MIN_SPAN = 60.0  # a span shorter than this is shown as a minute
SETTLE = 2.0  # new samples redraw the charts at most this often


async def load_series(
    ops: Operations, agent: str, now: float, window: float = WINDOWS[DEFAULT_WINDOW][1]
) -> dict[str, Series] | Unavailable:
    """Every series of ``agent`` (``*``: the swarm) that a chart uses.

    The buckets follow the window and the data's age: a swarm a minute old is shown
    over that minute in buckets of a second or two, not as one dot of a five-minute
    bucket. The first query finds where the data starts; when that is well inside the
    window, the series are read again over just the span that has data.
    """
    keys = await ops.fetch("stats.keys", agent=agent)
    if isinstance(keys, Unavailable):
        return keys
    if keys is None:
        return Unavailable("the stats could not be loaded")
    wanted = wanted_keys(keys, agent)
    series = await _query(ops, agent, wanted, now - window, now)
    firsts = [s.buckets[0].t for s in series.values() if s.buckets]
    if firsts:
        span = max(MIN_SPAN, now - min(firsts))
        if span < window / 4:
            series = await _query(ops, agent, wanted, now - span, now)
    return series


async def _query(
    ops: Operations, agent: str, keys: list[str], since: float, until: float
) -> dict[str, Series]:
    replies = await asyncio.gather(
        *(
            ops.fetch("stats.query", agent=agent, key=k, since=since, until=until, points=POINTS)
            for k in keys
        )
    )
    return {
        k: parse_series(r, k) for k, r in zip(keys, replies, strict=True) if isinstance(r, dict)
    }


class StatsScreen(HiveScreen):
    """Charts of telemetry; pick the whole swarm or one agent at the top."""

    MODE = "stats"

    DEFAULT_CSS = """
    StatsScreen > VerticalScroll { height: 1fr; }
    StatsScreen #top { height: auto; }
    StatsScreen Select { width: 40; margin: 0 1; }
    StatsScreen #window { width: auto; padding: 1 1 0 1; color: $text-muted; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("w", "window(1)", "wider"),
        Binding("W", "window(-1)", "narrower"),
    ]

    def __init__(self, ctx: Ctx) -> None:
        super().__init__(ctx)
        self.agent = SWARM
        self._pending: Timer | None = None
        self._choices: list[str] = [SWARM]
        self.window = DEFAULT_WINDOW

    def compose_body(self) -> ComposeResult:
        with VerticalScroll():
            with Horizontal(id="top"):
                yield Select[str](
                    [("whole swarm", SWARM)], value=SWARM, allow_blank=False, id="agent"
                )
                yield Static(self._window_label(), id="window", markup=False)
            yield StatsPane(SWARM_CHARTS, id="swarm-stats")
            yield StatsPane(AGENT_CHARTS, id="agent-stats")

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one("#agent-stats").display = False
        self._load()

    def on_resize(self, event: events.Resize) -> None:
        for pane in self.query(StatsPane):
            pane.set_class(event.size.width >= WIDE, "-wide")

    def show(self, change: Change) -> None:
        super().show(change)
        m = self.ctx.model
        if "agents" in change.topics:
            select = self.query_one(Select)
            choices = [SWARM] + [a.name for a in m.live_agents()]
            if choices != self._choices:
                self._choices = choices
                select.set_options(
                    [("whole swarm", SWARM)] + [(safe(n, newlines=False), n) for n in choices[1:]]
                )
                select.value = self.agent if self.agent in choices else SWARM
            self.query_one("#swarm-stats", StatsPane).last_turns(m.live_agents(), self.ctx.clock())
        fresh = any(
            name == "stats.recorded" and event_agent(data) == self.agent
            for name, data in change.passthrough
        )
        if "reload" in change.topics:
            self._load()
        elif fresh or (self.agent == SWARM and "approvals" in change.topics):
            self._soon()

    def tick(self, now: float) -> None:
        self.query_one("#swarm-stats", StatsPane).last_turns(self.ctx.model.live_agents(), now)

    @on(Select.Changed, "#agent")
    def _agent(self, event: Select.Changed) -> None:
        agent = str(event.value) if event.value != Select.BLANK else SWARM
        if agent != self.agent:
            self.agent = agent
            self.query_one("#swarm-stats").display = agent == SWARM
            self.query_one("#agent-stats").display = agent != SWARM
            self._load()

    def action_window(self, step: int) -> None:
        self.window = max(0, min(len(WINDOWS) - 1, self.window + step))
        self.query_one("#window", Static).update(self._window_label())
        self._load()

    def _window_label(self) -> str:
        keys = "  ".join(
            f"[{label}]" if i == self.window else label for i, (label, _) in enumerate(WINDOWS)
        )
        return f"window {keys}  (w wider · W narrower; young data shows its own span)"

    def _soon(self) -> None:
        # a sample set arrives per turn of every agent: redraw once they settle
        if self._pending is None:
            self._pending = self.set_timer(SETTLE, self._load)

    @loader("stats")
    async def _load(self) -> None:
        self._pending = None
        agent = self.agent
        now = self.ctx.clock()
        series = await load_series(self.ctx.ops, agent, now, WINDOWS[self.window][1])
        pane = self.query_one("#swarm-stats" if agent == SWARM else "#agent-stats", StatsPane)
        m = self.ctx.model
        if isinstance(series, Unavailable):
            pane.show({}, note=series.reason)
        elif agent == SWARM:
            pending = len(m.pending_approvals())
            pane.show(swarm_charts(series, m.queue_history, now=now, pending_now=pending))
        else:
            pane.show(agent_charts(series, now))
