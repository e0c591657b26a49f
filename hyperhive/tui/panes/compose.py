"""The compose box: one line to write as the operator, anchored under the dashboard."""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.suggester import Suggester
from textual.widget import Widget
from textual.widgets import Input, Static

from hyperhive.core.names import MANAGER
from hyperhive.tui.format import safe

ALIASES = {"hm1nd": MANAGER}  # the manager's container name also reaches the manager


class NameSuggester(Suggester):
    """Completes ``@na`` to ``@name `` from the current recipients."""

    def __init__(self, names: Callable[[], list[str]]) -> None:
        super().__init__(use_cache=False, case_sensitive=True)
        self._names = names

    async def get_suggestion(self, value: str) -> str | None:
        if not value.startswith("@") or " " in value:
            return None
        prefix = value[1:]
        for name in self._names():
            if name.startswith(prefix) and name != prefix:
                return f"@{name} "
        return None


def parse_compose(value: str, sticky: str | None) -> tuple[str | None, str]:
    """Split ``@name body`` into recipient and body; without ``@`` the sticky recipient holds."""
    text = value.strip()
    if text.startswith("@"):
        head, _, body = text.partition(" ")
        name = head[1:]
        return ALIASES.get(name, name) or sticky, body.strip()
    return sticky, text


class ComposeBox(Widget):
    """One line to write as the operator: ``@name`` picks the recipient, and it sticks.

    `esc` backs out: first it drops "replying to #N", then it leaves the box (what was
    typed stays for later).
    """

    DEFAULT_CSS = """
    ComposeBox { height: 1; layout: horizontal; }
    ComposeBox > #to { width: auto; max-width: 50%; color: $text-muted; padding: 0 1; }
    ComposeBox > Input { width: 1fr; margin: 0; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "back_out", "leave")]

    class Left(Message):
        """The operator left the box with esc: focus goes back to the lists."""

    class Submitted(Message):
        """The operator pressed enter on a message for ``to``."""

        def __init__(self, to: str, body: str, in_reply_to: int | None) -> None:
            super().__init__()
            self.to = to
            self.body = body
            self.in_reply_to = in_reply_to

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.names: list[str] = []
        self.recipient: str | None = None
        self.reply_to: int | None = None

    def compose(self) -> ComposeResult:
        yield Static("", id="to", markup=False)
        yield Input(
            placeholder="c: @name message — enter sends, → completes the name, esc leaves",
            suggester=NameSuggester(lambda: self.names),
            id="compose-input",
            compact=True,
        )

    def on_mount(self) -> None:
        self._label()

    @on(Input.Submitted, "#compose-input")
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        to, body = parse_compose(event.value, self.recipient)
        if to is None:
            self.notify("start with @name to choose a recipient", severity="warning")
            return
        if to != self.recipient:
            self.recipient = to
            self.reply_to = None
            self._label()
        if not body:
            self.query_one(Input).value = ""
            return
        self.post_message(self.Submitted(to, body, self.reply_to))

    def action_back_out(self) -> None:
        if self.reply_to is not None:
            self.reply_to = None
            self._label()
            return
        self.post_message(self.Left())

    def address(self, to: str | None, reply_to: int | None = None) -> None:
        """Point the box at ``to`` (replying to message ``reply_to``) and focus it."""
        if to:
            self.recipient = to
        self.reply_to = reply_to
        self.query_one(Input).focus()
        self._label()

    def sent(self) -> None:
        """The daemon took the message: clear the line, keep the recipient."""
        self.query_one(Input).value = ""
        self.reply_to = None
        self._label()

    def _label(self) -> None:
        to = f"to @{safe(self.recipient, newlines=False)}" if self.recipient else "to: @name"
        reply = f" · replying to #{self.reply_to} (esc drops)" if self.reply_to else ""
        self.query_one("#to", Static).update(to + reply + " ›")
