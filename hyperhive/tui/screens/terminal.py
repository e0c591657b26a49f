"""A terminal into an agent's container: every key goes to the shell until ctrl+] leaves."""

from __future__ import annotations

from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import Static

from hyperhive.tui.context import Ctx
from hyperhive.tui.format import safe
from hyperhive.tui.pty_transport import DaemonPtyTransport
from hyperhive.tui.screens.base import HiveScreen
from hyperhive.tui.widgets.terminal import TerminalTransport, TerminalWidget


class TerminalScreen(HiveScreen):
    """A shell over the daemon's PTY service. ``ctrl+]`` leaves, like telnet."""

    DEFAULT_CSS = """
    TerminalScreen > #term-title { height: 1; background: $panel; padding: 0 1; }
    TerminalScreen > TerminalWidget { height: 1fr; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        # the one key that stays with the TUI; every other key goes to the shell
        Binding("ctrl+right_square_bracket", "leave", "leave terminal", priority=True),
    ]

    def __init__(self, ctx: Ctx, agent: str, transport: TerminalTransport | None = None) -> None:
        super().__init__(ctx)
        self.agent = agent
        self.transport = transport or DaemonPtyTransport(ctx.factory, agent)

    def compose_body(self) -> ComposeResult:
        title = f"terminal · {safe(self.agent, newlines=False)} — ctrl+] leaves"
        yield Static(title, id="term-title", markup=False)
        yield TerminalWidget(self.transport, id="terminal")

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one(TerminalWidget).focus()

    @on(TerminalWidget.Closed)
    def _session_ended(self, event: TerminalWidget.Closed) -> None:
        why = safe(f": {event.error}" if event.error else "", newlines=False)
        name = safe(self.agent, newlines=False)
        self.query_one("#term-title", Static).update(
            f"terminal · {name} — session ended{why} — esc goes back"
        )
        self.set_focus(None)  # the dead terminal no longer swallows esc

    def action_leave(self) -> None:
        self.app.pop_screen()
