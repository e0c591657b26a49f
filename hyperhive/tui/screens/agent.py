"""The agent page: its state; tabs for live turn events, notes, config and charts
(activity), its loose ends (threads) and its harness log followed live (log)."""

from __future__ import annotations

from typing import Any, ClassVar

from rich.text import Text
from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.timer import Timer
from textual.widgets import Collapsible, Static, TabbedContent, TabPane

from hyperhive.tui.actions import LIFECYCLE_KEYS, applies
from hyperhive.tui.context import Ctx
from hyperhive.tui.format import ago, short, state_text
from hyperhive.tui.model import Change, Unavailable
from hyperhive.tui.panes.approvals import ApprovalsPane
from hyperhive.tui.panes.base import ListPane
from hyperhive.tui.panes.reminders import RemindersPane
from hyperhive.tui.panes.stats import AGENT_CHARTS, StatsPane, agent_charts
from hyperhive.tui.panes.threads import THREAD_EVENTS, ThreadQuestionsPane, ThreadsView
from hyperhive.tui.panes.turns import TurnLog, event_agent, parse_events
from hyperhive.tui.screens.base import HiveScreen, loader
from hyperhive.tui.screens.modals import highlight
from hyperhive.tui.screens.stats import SETTLE, load_series
from hyperhive.tui.widgets.logview import BACKLOG, LogView

BACKFILL = 200
TABS = ("tab-activity", "tab-threads", "tab-log")


def text_of(result: Any) -> str | None:
    """The text inside a reply: the reply itself or its text/content field."""
    if isinstance(result, str):
        return result
    if isinstance(result, dict):
        for key in ("text", "content", "data", "notes"):
            if isinstance(result.get(key), str):
                return str(result[key])
    return None


class AgentScreen(HiveScreen):
    """One agent up close; the same letters as in the swarm act on it."""

    DEFAULT_CSS = """
    AgentScreen > #summary { height: auto; padding: 0 1; }
    AgentScreen > #tabs { height: 1fr; }
    AgentScreen #body, AgentScreen #threads-body { height: 1fr; }
    AgentScreen TurnLog { height: 20; }
    AgentScreen .doc { padding: 0 1; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        *(Binding(key, f"lifecycle('{verb}')", verb) for verb, key in LIFECYCLE_KEYS.items()),
        Binding("t", "terminal", "terminal"),
        Binding("c", "compose", "compose"),
        Binding("x", "cancel_turn", "cancel turn"),
        Binding("n", "new_session", "new session"),
        Binding("o", "compact", "compact"),
        Binding("left_square_bracket", "tab(-1)", "prev tab"),
        Binding("right_square_bracket", "tab(1)", "next tab"),
    ]
    DECISIONS = frozenset(
        {"lifecycle", "terminal", "compose", "cancel_turn", "new_session", "compact"}
    )

    def __init__(self, ctx: Ctx, name: str) -> None:
        super().__init__(ctx)
        self.agent = name
        self._stats_timer: Timer | None = None
        self._following = False  # the log tab was opened: its follow restarts on a reload
        self._log = LogView(name, id="log")

    def compose_body(self) -> ComposeResult:
        yield Static("", id="summary")
        with TabbedContent(id="tabs"):
            with TabPane("activity", id="tab-activity"), VerticalScroll(id="body"):
                yield TurnLog(id="turns")
                with Collapsible(title="notes.md", collapsed=True, id="notes-section"):
                    yield Static("loading…", id="notes", classes="doc")
                with Collapsible(
                    title="config (agent.toml, applied)", collapsed=True, id="config-section"
                ):
                    yield Static("loading…", id="config", classes="doc")
                with Collapsible(title="stats", collapsed=True, id="stats-section"):
                    yield StatsPane(AGENT_CHARTS, id="stats")
            with TabPane("threads", id="tab-threads"), VerticalScroll(id="threads-body"):
                yield ThreadsView(id="threads")
            with TabPane("log", id="tab-log"):
                yield self._log

    def on_mount(self) -> None:
        super().on_mount()
        self._load()

    def on_resize(self, event: events.Resize) -> None:
        # the turn log takes the screen; the three sections below stay one line each
        self.query_one(TurnLog).styles.height = max(8, event.size.height - 12)

    def show(self, change: Change) -> None:
        super().show(change)
        if "reload" in change.topics:
            self._load()
        if change.topics & {"agents", "role", "connection"}:
            self._summary()
            self.refresh_bindings()
        if "reload" in change.topics and self._following:
            self._follow()  # a new connection: the old follow ended with the old one
        for name, data in change.passthrough:
            if name.startswith("log."):
                self._log.feed(name, data)
        threads = change.topics & {"questions", "approvals"} or any(
            n.startswith(THREAD_EVENTS) for n, _ in change.passthrough
        )
        if threads and "reload" not in change.topics:
            self._load_threads()
        turns = [d for n, d in change.passthrough if n == "turn.event" and self._mine(d)]
        if turns:
            self.query_one(TurnLog).add_events(turns)
        fresh = any(
            n == "stats.recorded" and event_agent(d) == self.agent for n, d in change.passthrough
        )
        if fresh and not self.query_one("#stats-section", Collapsible).collapsed:
            if self._stats_timer is None:
                self._stats_timer = self.set_timer(SETTLE, self._load_stats)

    def tick(self, now: float) -> None:
        self._summary()
        self.query_one(ThreadsView).tick(now)

    def _mine(self, data: dict[str, Any]) -> bool:
        return event_agent(data) in (self.agent, None)

    def _summary(self) -> None:
        now = self.ctx.clock()
        agent = self.ctx.model.agents.get(self.agent)
        summary = self.query_one("#summary", Static)
        if agent is None:
            kept = self.agent in self.ctx.model.kept
            summary.update(
                Text(f"{self.agent}: {'destroyed (kept state)' if kept else 'gone'}", style="dim")
            )
            return
        summary.update(
            Text.assemble(
                (agent.name, "bold"),
                f" ({agent.role}, {agent.runtime or '?'} runtime,",
                f" incarnation {agent.incarnation})  ",
                state_text(agent.state, now, transient=agent.transient),
                f"  inbox {agent.inbox}  last turn {ago(agent.last_turn_at, now)}",
                f"  applied {short(agent.applied_sha)}",
                ("  stale" if agent.stale else "", "yellow"),
                (f"  {agent.state_reason}" if agent.state_reason else "", "dim"),
            )
        )

    @loader("agent-load")
    async def _load(self) -> None:
        ops = self.ctx.ops
        events = await ops.fetch("turns.events", agent=self.agent, limit=BACKFILL)
        log = self.query_one(TurnLog)
        log.clear()
        if isinstance(events, Unavailable):
            log.write(Text(events.reason, style="dim"))
        else:
            log.add_events(parse_events(events))
        notes = await ops.fetch("agents.notes", name=self.agent)
        self._fill("#notes", notes, "markdown", "notes.md is empty")
        config = await ops.fetch("repos.show", agent=self.agent, ref="main", path="agent.toml")
        self._fill("#config", config, "toml", "no applied config yet")
        if not self.query_one("#stats-section", Collapsible).collapsed:
            self._load_stats()
        self._load_threads()

    @loader("agent-threads")
    async def _load_threads(self) -> None:
        if not self.ctx.model.connected:
            return
        got = await self.ctx.ops.fetch("threads.get", agent=self.agent)
        self.query_one(ThreadsView).show(got, self.ctx.clock(), viewer=self.ctx.model.viewer)

    @on(TabbedContent.TabActivated, "#tabs")
    def _tab_opened(self, event: TabbedContent.TabActivated) -> None:
        if event.pane.id == "tab-log" and not self._following:
            self._following = True
            self._follow()

    @loader("agent-log")
    async def _follow(self) -> None:
        if not self.ctx.model.connected:
            return
        if self._log.follow_id is not None:  # a resync on the same connection: not twice
            self.ctx.ops.unfollow(self._log.follow_id)
            self._log.follow_id = None
        got = await self.ctx.ops.fetch("logs.follow", name=self.agent, lines=BACKLOG)
        self._log.started(got)

    def on_unmount(self) -> None:
        follow = self._log.follow_id
        if follow is not None:
            self.ctx.ops.unfollow(follow)

    def action_tab(self, step: int) -> None:
        tabs = self.query_one("#tabs", TabbedContent)
        at = TABS.index(tabs.active) if tabs.active in TABS else 0
        tabs.active = TABS[(at + step) % len(TABS)]

    @on(ListPane.RowAction)
    def _row_action(self, event: ListPane.RowAction) -> None:
        event.stop()
        ops, pane, key, action = self.ctx.ops, event.pane, event.key, event.action
        if isinstance(pane, ThreadQuestionsPane):
            question = pane.question(key)
            if question is not None:
                (ops.cancel_question if action == "cancel" else ops.answer)(question)
        elif isinstance(pane, ApprovalsPane):
            approval = pane.approval(key)
            if approval is not None:
                ops.on_approval(approval, action)
        elif isinstance(pane, RemindersPane):
            reminder = pane.reminder(key)
            if reminder is not None and action == "cancel":
                ops.cancel_reminder(reminder.id, reminder.agent, reminder.body)

    @on(Collapsible.Expanded, "#stats-section")
    def _stats_opened(self) -> None:
        self._load_stats()

    @loader("agent-stats")
    async def _load_stats(self) -> None:
        self._stats_timer = None
        now = self.ctx.clock()
        series = await load_series(self.ctx.ops, self.agent, now)
        pane = self.query_one(StatsPane)
        if isinstance(series, Unavailable):
            pane.show({}, note=series.reason)
        else:
            pane.show(agent_charts(series, now))

    def _fill(self, selector: str, result: Any, lexer: str, empty: str) -> None:
        widget = self.query_one(selector, Static)
        if isinstance(result, Unavailable):
            widget.update(Text(result.reason, style="dim"))
            return
        text = text_of(result)
        widget.update(highlight(text, lexer) if text else Text(empty, style="dim"))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "lifecycle" and parameters:
            agent = self.ctx.model.agents.get(self.agent)
            return not self.ctx.model.viewer and applies(agent, str(parameters[0]))
        if action in self.DECISIONS:
            return not self.ctx.model.viewer and self.agent in self.ctx.model.agents
        return super().check_action(action, parameters)

    def action_lifecycle(self, verb: str) -> None:
        self.ctx.ops.lifecycle(self.agent, verb)

    def action_terminal(self) -> None:
        self.ctx.ops.open_terminal(self.agent)

    def action_compose(self) -> None:
        self.ctx.ops.compose(self.agent)

    def action_cancel_turn(self) -> None:
        self.ctx.ops.cancel_turn(self.agent)

    def action_new_session(self) -> None:
        self.ctx.ops.new_session(self.agent)

    def action_compact(self) -> None:
        self.ctx.ops.compact(self.agent)
