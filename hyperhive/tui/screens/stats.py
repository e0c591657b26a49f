"""The stats screen: the swarm's charts, or every chart of one agent."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from textual import events, on, work
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.timer import Timer
from textual.widgets import Select

from hyperhive.tui.context import Ctx
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
from hyperhive.tui.screens.base import HiveScreen

if TYPE_CHECKING:
    from hyperhive.tui.actions import Operations

WIDE = 160
WINDOW = 6 * 3600.0  # the charts show the last six hours
POINTS = 72  # five-minute buckets
SETTLE = 2.0  # new samples redraw the charts at most this often


async def load_series(ops: Operations, agent: str, now: float) -> dict[str, Series] | Unavailable:
    """Every series of ``agent`` (``*``: the swarm) that a chart uses, over the window."""
    keys = await ops.fetch("stats.keys", agent=agent)
    if isinstance(keys, Unavailable):
        return keys
    if keys is None:
        return Unavailable("the stats could not be loaded")
    wanted = wanted_keys(keys, agent)
    replies = await asyncio.gather(
        *(
            ops.fetch(
                "stats.query", agent=agent, key=k, since=now - WINDOW, until=now, points=POINTS
            )
            for k in wanted
        )
    )
    return {
        k: parse_series(r, k) for k, r in zip(wanted, replies, strict=True) if isinstance(r, dict)
    }


class StatsScreen(HiveScreen):
    """Charts of telemetry; pick the whole swarm or one agent at the top."""

    MODE = "stats"

    DEFAULT_CSS = """
    StatsScreen > VerticalScroll { height: 1fr; }
    StatsScreen Select { width: 40; margin: 0 1; }
    """

    def __init__(self, ctx: Ctx) -> None:
        super().__init__(ctx)
        self.agent = SWARM
        self._pending: Timer | None = None
        self._choices: list[str] = [SWARM]

    def compose_body(self) -> ComposeResult:
        with VerticalScroll():
            yield Select[str]([("whole swarm", SWARM)], value=SWARM, allow_blank=False, id="agent")
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
                select.set_options([("whole swarm", SWARM)] + [(n, n) for n in choices[1:]])
                select.value = self.agent if self.agent in choices else SWARM
            self.query_one("#swarm-stats", StatsPane).last_turns(m.live_agents(), self.ctx.clock())
        fresh = any(
            name == "stats.recorded" and event_agent(data) == self.agent
            for name, data in change.passthrough
        )
        if "reload" in change.topics:
            self._load()
        elif fresh:
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

    def _soon(self) -> None:
        # a sample set arrives per turn of every agent: redraw once they settle
        if self._pending is None:
            self._pending = self.set_timer(SETTLE, self._load)

    @work(group="stats", exclusive=True)
    async def _load(self) -> None:
        self._pending = None
        agent = self.agent
        series = await load_series(self.ctx.ops, agent, self.ctx.clock())
        pane = self.query_one("#swarm-stats" if agent == SWARM else "#agent-stats", StatsPane)
        if isinstance(series, Unavailable):
            pane.show({}, note=series.reason)
        elif agent == SWARM:
            pane.show(swarm_charts(series, self.ctx.model.queue_history))
        else:
            pane.show(agent_charts(series))
