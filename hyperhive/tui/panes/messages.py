"""Messages: the operator's inbox, the live message flow, older history, and the compose box."""

from __future__ import annotations

from collections.abc import Iterable
from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Collapsible, DataTable

from hyperhive.tui.format import clock, one_line
from hyperhive.tui.panes.base import ListPane, Row, RowMemo
from hyperhive.tui.views import MessageView

STATUS_STYLES = {
    "queued": "yellow",
    "delivered": "cyan",
    "redelivered": "bold yellow",
    "acked": "dim",
    "read": "dim",
}


class MessageList(ListPane):
    """Messages, oldest first; follows the newest while the cursor sits on the last row."""

    DEFAULT_CSS = """
    MessageList > DataTable { max-height: 14; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [Binding("c", "row('compose')", "reply")]

    EMPTY = "no messages"
    FLEX_COLUMN = "body"
    DECISIONS = frozenset({"compose"})
    COLUMNS: ClassVar[tuple[tuple[str, str], ...]] = (
        ("id", "#"),
        ("time", "time"),
        ("route", "from → to"),
        ("body", "message"),
        ("status", "status"),
    )

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._messages: dict[str, MessageView] = {}
        self._made: RowMemo[MessageView] = RowMemo()

    def show(self, messages: Iterable[MessageView], *, note: str | None = None) -> None:
        self._messages = {str(m.id): m for m in messages}
        self._note = note
        table = self.query_one(DataTable) if self.is_mounted else None
        follow = table is not None and table.cursor_row >= table.row_count - 1
        self.set_rows(self._rows_of(self._messages), note=note)
        if table is not None and follow and table.row_count:
            table.move_cursor(row=table.row_count - 1, animate=False)

    def refit(self) -> None:
        self.set_rows(self._rows_of(self._messages), note=self._note)

    def _rows_of(self, messages: dict[str, MessageView]) -> dict[str, Row]:
        width = self.flex_width
        return self._made.rows(((k, m, width) for k, m in messages.items()), self.row)

    def message(self, key: str) -> MessageView | None:
        return self._messages.get(key)

    def row(self, m: MessageView) -> Row:
        route = f"{m.sender} → {m.recipient}"
        body = one_line(m.body, self.flex_width)
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
    FLEX_COLUMN = "body"

    def row(self, m: MessageView) -> Row:
        unread = not m.acked
        return (
            clock(m.ts),
            Text(m.sender, style="bold" if unread else ""),
            Text(one_line(m.body, self.flex_width), style="bold" if unread else ""),
            Text("new" if unread else "read", style="bold yellow" if unread else "dim"),
        )


class FlowList(MessageList):
    """Every message between agents, the manager and the operator."""

    TITLE = "message flow"


class HistoryList(FlowList):
    TITLE = "older messages"
    EMPTY = "nothing older"


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

    def set_viewer(self, viewer: bool) -> None:
        for pane in self.query(ListPane):
            pane.set_viewer(viewer)

    def add_history(self, messages: list[MessageView]) -> None:
        """Older messages arrived (oldest first)."""
        for m in messages:
            self._history[m.id] = m
        ordered = sorted(self._history.values(), key=lambda m: m.id)
        self.query_one(HistoryList).show(ordered)
