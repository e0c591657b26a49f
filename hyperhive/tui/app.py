"""The operator TUI: the app, its factory, and the routing of daemon events to screens."""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Iterable, Sequence
from functools import partial
from typing import ClassVar

from textual.app import App
from textual.binding import Binding, BindingType
from textual.command import Provider
from textual.css.query import NoMatches
from textual.theme import Theme

from hyperhive.core.runner import Runner
from hyperhive.tui.actions import Operations, Pages
from hyperhive.tui.bridge import DEFAULT_BACKOFF, Bridge, ClientFactory
from hyperhive.tui.context import Ctx
from hyperhive.tui.messages import Connected, ConnectionLost, EventsArrived
from hyperhive.tui.model import Change, HiveModel
from hyperhive.tui.notify import Notifier
from hyperhive.tui.palette import HiveCommands
from hyperhive.tui.screens.agent import AgentScreen
from hyperhive.tui.screens.approval import ApprovalScreen
from hyperhive.tui.screens.audit import AuditScreen
from hyperhive.tui.screens.base import HiveScreen
from hyperhive.tui.screens.dashboard import DashboardScreen
from hyperhive.tui.screens.help import HelpScreen
from hyperhive.tui.screens.hosts import HostsScreen
from hyperhive.tui.screens.modals import Confirmation, ConfirmScreen
from hyperhive.tui.screens.repos import ReposScreen
from hyperhive.tui.screens.stats import StatsScreen
from hyperhive.tui.screens.terminal import TerminalScreen
from hyperhive.tui.widgets.terminal import TerminalWidget

# colours from the xterm-256 palette: exact in 256 colours, mapped cleanly down to 16
THEME = Theme(
    name="hyperhive",
    primary="#5f87d7",
    secondary="#5fafaf",
    accent="#d7af5f",
    warning="#d7af00",
    error="#d75f5f",
    success="#5faf5f",
    foreground="#d0d0d0",
    background="#121212",
    surface="#1c1c1c",
    panel="#303030",
    dark=True,
)
SCREENS = Binding.Group("screens", compact=True)
MODES: dict[str, type[HiveScreen]] = {
    "dashboard": DashboardScreen,
    "repos": ReposScreen,
    "stats": StatsScreen,
    "audit": AuditScreen,
    "hosts": HostsScreen,  # no tab on the status line: `5` or the palette
}


class HiveApp(App[None]):
    """A client of host.sock: a snapshot, then pushed events; no polling."""

    CSS_PATH = "hyperhive.tcss"
    TITLE = "hyperhive"
    DEFAULT_MODE = "dashboard"  # start on it: no blank default screen to build first
    mode_names: ClassVar[tuple[str, ...]] = tuple(MODES)  # what the palette offers
    COMMANDS: ClassVar[set[type[Provider] | Callable[[], type[Provider]]]] = {HiveCommands}
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+q", "request_quit", "quit", show=False, priority=True),
        Binding("question_mark", "help", "help"),
        *(
            Binding(str(n), f"mode('{mode}')", mode, group=SCREENS)
            for n, mode in enumerate(("dashboard", "repos", "stats", "audit"), start=1)
        ),
        Binding("5", "mode('hosts')", "hosts", show=False),
    ]

    def __init__(
        self,
        client_factory: ClientFactory,
        *,
        who: str | None = None,
        role: str | None = None,
        clock: Callable[[], float] = time.time,
        backoff: Sequence[float] = DEFAULT_BACKOFF,
        runner: Runner | None = None,
        desktop_notify: bool = True,
        tick_seconds: float = 1.0,
        quit_warning: str = "",
    ) -> None:
        super().__init__()
        self._quit_warning = quit_warning
        self.model = HiveModel()
        if role:
            self.model.role = role
        self.bridge = Bridge(self, client_factory, who=who, role=role, backoff=backoff)
        pages = Pages(agent=AgentScreen, approval=ApprovalScreen, terminal=TerminalScreen)
        self.ops = Operations(self, self.model, self.bridge, pages, self._route)
        self.ctx = Ctx(self.model, self.bridge, client_factory, clock, self.ops)
        self.ops.ctx = self.ctx
        self.notifier = Notifier(self, runner=runner, desktop=desktop_notify)
        self._clock = clock
        self._tick_seconds = tick_seconds
        self._role = self.model.role
        for name, screen in MODES.items():
            self.add_mode(name, partial(screen, self.ctx))
        # before the first mount: a theme set later restyles every widget once more
        self.register_theme(THEME)
        self.theme = THEME.name

    def on_mount(self) -> None:
        self.run_worker(self.bridge.run(), name="bridge", group="bridge")
        self.set_interval(self._tick_seconds, self._tick)

    # --- from the bridge -------------------------------------------------------------
    def on_connected(self, message: Connected) -> None:
        first = self.model.loads == 0
        self._route(self.model.load(message.snapshot))
        if first:
            # what the first snapshot built lives as long as the app: keep it out of the
            # garbage collector's full scans, which otherwise stall event handling
            self.call_after_refresh(gc.freeze)

    def on_connection_lost(self, message: ConnectionLost) -> None:
        note = (
            f"daemon unreachable: {message.reason} — reconnecting in {message.retry_in:g}s"
            f" (attempt {message.attempt})"
        )
        self._route(self.model.disconnected(note))

    def on_events_arrived(self, message: EventsArrived) -> None:
        events = self.bridge.take()
        if events:
            self._route(self.model.apply(events))

    # --- the screen routes the rest --------------------------------------------------
    def _route(self, change: Change) -> None:
        if "approvals" in change.topics:
            self.model.record_queue(self._clock())
        self.notifier.announce(change.notices)
        for screen in self._hive_screens():
            screen.show(change)
        if self.model.role != self._role:
            self._role = self.model.role
            self.refresh_bindings()

    def _tick(self) -> None:
        now = self._clock()
        for screen in [s for s in self.screen_stack if isinstance(s, HiveScreen) and s.is_mounted]:
            try:
                screen.tick(now)
            except NoMatches:  # the screen is being torn down and lost its panes
                continue

    def _hive_screens(self) -> Iterable[HiveScreen]:
        """Every live screen of every mode: a screen you are not looking at follows too."""
        stacks = [self.screen_stack] + [
            stack for mode, stack in self._screen_stacks.items() if mode != self.current_mode
        ]
        return [
            s
            for stack in stacks
            for s in stack
            if isinstance(s, HiveScreen) and s.is_mounted and s.is_attached and s.is_running
        ]

    # --- actions -----------------------------------------------------------------
    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    async def action_mode(self, mode: str) -> None:
        if mode in MODES and self.current_mode != mode:
            await self.switch_mode(mode)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # inside a live terminal every key belongs to the shell: the app's own bindings
        # (ctrl+q, ctrl+p, ?, 1-4) stand aside; the terminal screen's ctrl+] still leaves
        focused = self.focused
        if isinstance(focused, TerminalWidget) and not focused.closed:
            return False
        if action == "request_spawn":
            return not self.model.viewer
        return True

    def action_request_spawn(self) -> None:
        """Ask for a name and file a spawn request, like ``hyperhive request-spawn``."""
        self.ops.request_spawn()

    async def action_request_quit(self) -> None:
        """Quit; ask first when quitting stops what this TUI started (``up --demo``)."""
        if not self._quit_warning:
            self.exit()
            return

        def done(result: Confirmation | None) -> None:
            if result is not None:
                self.exit()

        if not isinstance(self.screen, ConfirmScreen):
            self.push_screen(
                ConfirmScreen("Quit hyperhive?", self._quit_warning, confirm="quit", danger=True),
                done,
            )

    async def action_quit_or_back(self) -> None:
        """`q`: back out of a page; on a top screen, quit (always asking)."""
        if len(self.screen_stack) > 1:
            self.pop_screen()
            return

        def done(result: Confirmation | None) -> None:
            if result is not None:
                self.exit()

        self.push_screen(
            ConfirmScreen(
                "Quit hyperhive?", self._quit_warning or "The swarm keeps running.", confirm="quit"
            ),
            done,
        )


def make_app(
    client_factory: ClientFactory,
    *,
    who: str | None = None,
    role: str | None = None,
    clock: Callable[[], float] = time.time,
    backoff: Sequence[float] = DEFAULT_BACKOFF,
    runner: Runner | None = None,
    desktop_notify: bool = True,
    quit_warning: str = "",
) -> HiveApp:
    """Build the TUI (used by `hyperhive tui`, the SSH server and the tests).

    Args:
        client_factory: Opens a new `HiveClient` on host.sock; called again on every
            reconnect and once per terminal.
        who: The name the daemon records in the audit log for this session.
        role: "operator" or "viewer" (a viewer sees everything and decides nothing).
        clock: Wall time, for ages and countdowns (tests freeze it).
        backoff: Seconds to wait between reconnect attempts (the last repeats).
        runner: Runs ``notify-send`` (tests pass a FakeRunner).
        desktop_notify: Send desktop notifications where ``notify-send`` exists.
        quit_warning: What quitting stops (``up`` stops the daemon it started); when
            set, quitting asks first, saying this.
    """
    return HiveApp(
        client_factory,
        who=who,
        role=role,
        clock=clock,
        backoff=backoff,
        runner=runner,
        desktop_notify=desktop_notify,
        quit_warning=quit_warning,
    )
