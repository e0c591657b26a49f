"""The swarm pane: every agent, its state (spinner while transient), inbox, last turn, badges."""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

from rich.text import Text
from textual import on
from textual.binding import Binding, BindingType
from textual.timer import Timer
from textual.widgets import DataTable

from hyperhive.tui.actions import LIFECYCLE, applies
from hyperhive.tui.format import SPIN_RATE, ago, short, state_text
from hyperhive.tui.panes.base import ListPane, Row, RowMemo
from hyperhive.tui.views import AgentView


class SwarmPane(ListPane):
    """Agents, manager first; `s k r u d` act on the agent under the cursor (after a confirm)."""

    DEFAULT_CSS = """
    SwarmPane > DataTable { max-height: 22; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("s", "row('start')", "start"),
        Binding("k", "row('kill')", "kill"),
        Binding("r", "row('restart')", "restart"),
        Binding("u", "row('update')", "update"),
        Binding("d", "row('destroy')", "destroy"),
        Binding("t", "row('terminal')", "terminal"),
        Binding("c", "row('compose')", "compose"),
        Binding("n", "app.request_spawn", "spawn new"),
    ]

    TITLE = "swarm"
    COLUMNS = (
        ("name", "agent"),
        ("state", "state"),
        ("inbox", "inbox"),
        ("turn", "last turn"),
        ("flags", "flags"),
        ("sha", "applied"),
    )
    EMPTY = "no agents yet"
    DECISIONS = frozenset({"start", "kill", "restart", "update", "destroy", "terminal", "compose"})

    def __init__(self, clock: Callable[[], float], *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._clock = clock
        self._agents: list[AgentView] = []
        self._made: RowMemo[AgentView] = RowMemo()
        self._spinner: Timer | None = None
        self._offered: frozenset[str] | None = None

    def show(self, agents: list[AgentView], now: float, *, note: str | None = None) -> None:
        """Display ``agents`` as of ``now``."""
        self._agents = agents
        # a row shows `now` as the last turn's age, and as the spinner of a transient state
        items = ((a.name, a, (ago(a.last_turn_at, now), a.transient and now)) for a in agents)
        self.set_rows(self._made.rows(items, lambda a: _row(a, now)), note=note)
        self.set_title(f"swarm · {len(agents)} agent{'' if len(agents) == 1 else 's'}")
        self._offer()
        self._set_spinning(any(a.transient for a in agents))

    def tick(self, now: float) -> None:
        """Refresh the relative times."""
        self.show(self._agents, now)

    def agent(self, name: str) -> AgentView | None:
        return next((a for a in self._agents if a.name == name), None)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # offer only what applies to the agent under the cursor: no "start" on a running one
        if action == "row" and parameters and parameters[0] in LIFECYCLE:
            key = self.cursor_key
            if self.viewer or key is None or not applies(self.agent(key), str(parameters[0])):
                return False
        return super().check_action(action, parameters)

    @on(DataTable.RowHighlighted)
    def _moved(self, event: DataTable.RowHighlighted) -> None:
        self._offer()

    def _offer(self) -> None:
        # the footer is rebuilt only when what applies to the cursor's agent changed
        agent = self.agent(self.cursor_key) if self.is_mounted and self.cursor_key else None
        offered = frozenset(verb for verb in LIFECYCLE if applies(agent, verb))
        if offered != self._offered:
            self._offered = offered
            self.refresh_bindings()

    def _set_spinning(self, on: bool) -> None:
        # the spinner runs only while some agent is in a transient state
        if on and self._spinner is None:
            self._spinner = self.set_interval(1 / SPIN_RATE, self._spin_frame)
        elif not on and self._spinner is not None:
            self._spinner.stop()
            self._spinner = None

    def _spin_frame(self) -> None:
        now = self._clock()
        self.set_rows({a.name: _row(a, now) for a in self._agents})


def _row(a: AgentView, now: float) -> Row:
    name = Text(a.name, style="bold" if a.role == "manager" else "")
    flags = Text()
    if a.needs_login:
        flags.append("needs login ", style="bold yellow")
    if a.stale:
        flags.append("stale ", style="yellow")
    if a.state_reason:
        flags.append(a.state_reason[:40], style="dim")
    inbox = Text(str(a.inbox), style="bold" if a.inbox else "dim")
    return (
        name,
        state_text(a.state, now, transient=a.transient),
        inbox,
        ago(a.last_turn_at, now),
        flags,
        short(a.applied_sha),
    )
