"""Messages: the operator's inbox, the live message flow, older history, and the compose box."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.suggester import Suggester
from textual.widget import Widget
from textual.widgets import Collapsible, DataTable, Input, Static

from hyperhive.core.settings import MANAGER, OPERATOR
from hyperhive.tui.format import clock, one_line
from hyperhive.tui.panes.base import ListPane, Row
from hyperhive.tui.views import MessageView

STATUS_STYLES = {
    "queued": "yellow",
    "delivered": "cyan",
    "redelivered": "bold yellow",
    "acked": "dim",
    "read": "dim",
}
ALIASES = {"hm1nd": MANAGER}  # the manager's container name also reaches the manager


class MessageList(ListPane):
    """Messages, oldest first; follows the newest while the cursor sits on the last row."""

    DEFAULT_CSS = """
    MessageList > DataTable { max-height: 14; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [Binding("c", "row('compose')", "reply")]

    EMPTY = "no messages"
    DECISIONS = frozenset({"compose"})
    COLUMNS = (
        ("id", "#"),
        ("time", "time"),
        ("route", "from → to"),
        ("body", "message"),
        ("status", "status"),
    )

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._messages: dict[str, MessageView] = {}

    def show(self, messages: Iterable[MessageView], *, note: str | None = None) -> None:
        self._messages = {str(m.id): m for m in messages}
        table = self.query_one(DataTable) if self.is_mounted else None
        follow = table is not None and table.cursor_row >= table.row_count - 1
        self.set_rows({k: self.row(m) for k, m in self._messages.items()}, note=note)
        if table is not None and follow and table.row_count:
            table.move_cursor(row=table.row_count - 1, animate=False)

    def message(self, key: str) -> MessageView | None:
        return self._messages.get(key)

    def row(self, m: MessageView) -> Row:
        route = f"{m.sender} → {m.recipient}"
        body = one_line(m.body, 44)
        if m.in_reply_to is not None:
            body = f"↳#{m.in_reply_to} {body}"
        return (
            str(m.id),
            clock(m.ts),
            route,
            body,
            Text(m.status, style=STATUS_STYLES.get(m.status, "")),
        )


class InboxList(MessageList):
    """Messages addressed to the operator; unread ones stand out."""

    TITLE = "operator inbox"
    COLUMNS = (("time", "time"), ("from", "from"), ("body", "message"), ("status", ""))
    EMPTY = "nothing for you"

    def row(self, m: MessageView) -> Row:
        unread = not m.acked
        return (
            clock(m.ts),
            Text(m.sender, style="bold" if unread else ""),
            Text(one_line(m.body, 56), style="bold" if unread else ""),
            Text("new" if unread else "read", style="bold yellow" if unread else "dim"),
        )


class FlowList(MessageList):
    """Every message between agents, the manager and the operator."""

    TITLE = "message flow"


class HistoryList(FlowList):
    TITLE = "older messages"
    EMPTY = "nothing older"


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
    """One line to write as the operator: ``@name`` picks the recipient, and it sticks."""

    DEFAULT_CSS = """
    ComposeBox { height: auto; }
    ComposeBox > #to { color: $text-muted; padding: 0 1; }
    ComposeBox > Input { margin: 0; }
    """

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
            placeholder="@name message — enter sends, → completes the name",
            suggester=NameSuggester(lambda: self.names),
            id="compose-input",
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
        to = f"to @{self.recipient}" if self.recipient else "to: type @name first"
        reply = f" · replying to #{self.reply_to}" if self.reply_to else ""
        self.query_one("#to", Static).update(to + reply)


class MessagesPane(Widget):
    """The messages column: inbox, flow, older history (collapsed) and the compose box."""

    DEFAULT_CSS = """
    MessagesPane { height: auto; }
    MessagesPane > Collapsible { padding: 0; }
    """

    class HistoryWanted(Message):
        """The operator opened the older messages: load the ones before ``before_id``."""

        def __init__(self, before_id: int | None) -> None:
            super().__init__()
            self.before_id = before_id

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._oldest: int | None = None
        self._history: dict[int, MessageView] = {}

    def compose(self) -> ComposeResult:
        yield InboxList(id="inbox")
        yield FlowList(id="flow")
        with Collapsible(title="older messages", collapsed=True, id="history"):
            yield HistoryList(id="history-list")
        yield ComposeBox(id="compose")

    @on(Collapsible.Expanded, "#history")
    def _history_opened(self, event: Collapsible.Expanded) -> None:
        event.stop()
        oldest = min(self._history) if self._history else self._oldest
        if not self._history:
            self.post_message(self.HistoryWanted(oldest))

    def show(
        self,
        inbox: list[MessageView],
        flow: list[MessageView],
        *,
        notes: dict[str, str | None],
    ) -> None:
        """Attributes down from the screen: the messages."""
        self.query_one(InboxList).show(inbox, note=notes.get("inbox"))
        self.query_one(FlowList).show(flow, note=notes.get("messages"))
        self._oldest = flow[0].id if flow else None

    def set_people(self, recipients: list[str], *, viewer: bool) -> None:
        """Who the compose box completes, and whether this session may write at all."""
        box = self.query_one(ComposeBox)
        box.names = [r for r in recipients if r != OPERATOR]
        box.display = not viewer
        for pane in self.query(ListPane):
            pane.set_viewer(viewer)

    def add_history(self, messages: list[MessageView]) -> None:
        """Older messages arrived (oldest first)."""
        for m in messages:
            self._history[m.id] = m
        ordered = sorted(self._history.values(), key=lambda m: m.id)
        self.query_one(HistoryList).show(ordered)

    def compose_to(self, to: str | None, reply_to: int | None = None) -> None:
        self.query_one(ComposeBox).address(to, reply_to)

    def sent(self) -> None:
        self.query_one(ComposeBox).sent()
