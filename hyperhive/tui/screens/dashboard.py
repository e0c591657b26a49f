"""The dashboard: swarm first, then decisions, then messages (on the right at wide terminals)."""

from __future__ import annotations

from typing import ClassVar

from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Container
from textual.widgets import Collapsible, DataTable

from hyperhive.core.names import OPERATOR
from hyperhive.tui.context import Ctx
from hyperhive.tui.format import clock
from hyperhive.tui.model import Change, Unavailable
from hyperhive.tui.panes.approvals import ApprovalsPane
from hyperhive.tui.panes.base import ListPane
from hyperhive.tui.panes.compose import ComposeBox
from hyperhive.tui.panes.drafts import DraftsPane, drafts
from hyperhive.tui.panes.kept import KeptPane
from hyperhive.tui.panes.messages import InboxList, MessageList, MessagesPane
from hyperhive.tui.panes.questions import QuestionsPane
from hyperhive.tui.panes.reminders import RemindersPane, reminders_of
from hyperhive.tui.panes.swarm import SwarmPane
from hyperhive.tui.screens.base import HiveScreen, loader
from hyperhive.tui.screens.modals import TextScreen
from hyperhive.tui.views import MessageView, rows_of

WIDE = 160  # columns from which messages move to a right-hand column
SWARM_TOPICS = {"agents", "role", "reload"}
AGE_TICKS = 5  # redraw relative ages every fifth tick
# where focus goes when the focused list empties: what waits for the operator first
WORK_ORDER: tuple[type[ListPane], ...] = (
    QuestionsPane,
    ApprovalsPane,
    DraftsPane,
    InboxList,
    SwarmPane,
)


class DashboardScreen(HiveScreen):
    """Everything that needs the operator, on one screen."""

    MODE = "dashboard"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("c", "compose", "compose"),
        Binding("m", "mark_all_read", "all read"),
    ]

    def __init__(self, ctx: Ctx) -> None:
        super().__init__(ctx)
        self._viewer = False
        self._unread = False
        self._ticks = 0

    def compose_body(self) -> ComposeResult:
        with Container(id="columns"):
            with Container(id="left"):
                yield SwarmPane(self.ctx.clock, id="swarm")
                with Collapsible(title="kept state", collapsed=True, id="kept-section"):
                    yield KeptPane(id="kept")
                with Collapsible(title="reminders", collapsed=True, id="reminders-section"):
                    yield RemindersPane(id="reminders")
                yield DraftsPane(id="drafts")
                yield QuestionsPane(id="questions")
                yield ApprovalsPane(id="approvals")
            with Container(id="right"):
                yield MessagesPane(id="messages")
        yield ComposeBox(id="compose")

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one(SwarmPane).focus_table()

    def on_resize(self, event: events.Resize) -> None:
        self.set_class(event.size.width >= WIDE, "-wide")

    # --- attributes down -------------------------------------------------------------
    def show(self, change: Change) -> None:
        super().show(change)
        m = self.ctx.model
        now = self.ctx.clock()
        topics = change.topics
        every = "reload" in topics or "role" in topics
        note = {name: u.reason for name, u in m.missing.items()}
        if every or topics & SWARM_TOPICS:
            swarm = self.query_one(SwarmPane)
            swarm.show(m.live_agents(), now, note=note.get("agents"))
            swarm.set_viewer(m.viewer)
        if every or "kept" in topics:
            kept = self.query_one(KeptPane)
            kept.show(sorted(m.kept.values(), key=lambda k: k.name), now, note=note.get("kept"))
            kept.set_viewer(m.viewer)
            count = f" · {len(m.kept)}" if m.kept else ""
            self.query_one("#kept-section", Collapsible).title = f"kept state{count}"
        if (every and "reload" in topics) or "reminder" in topics:
            self._load_reminders()  # re-read on a reminder event, never on a timer
        if every or topics & {"agents", "approvals"}:
            pane = self.query_one(DraftsPane)
            pane.show(drafts(m.drafts(), m.pending_approvals()), now)
            pane.set_viewer(m.viewer)
        if every or "questions" in topics:
            questions = self.query_one(QuestionsPane)
            questions.show(m.open_questions(), now, note=note.get("questions"))
            questions.set_viewer(m.viewer)
        if every or "approvals" in topics:
            approvals = self.query_one(ApprovalsPane)
            approvals.show(m.pending_approvals(), now, note=note.get("approvals"))
            approvals.set_viewer(m.viewer)
        messages = self.query_one(MessagesPane)
        if every or topics & {"messages", "inbox"}:
            messages.show(
                list(m.inbox.values()),
                list(m.messages.values()),
                notes={"inbox": note.get("inbox"), "messages": note.get("messages")},
            )
        if every or "agents" in topics:
            box = self.query_one(ComposeBox)
            box.names = [r for r in m.recipients() if r != OPERATOR]
            box.display = not m.viewer
            messages.set_viewer(m.viewer)
        if m.viewer != self._viewer:
            self._viewer = m.viewer
            self.refresh_bindings()
        if "inbox" in topics and bool(m.unread()) != self._unread:
            self._unread = bool(m.unread())
            self.refresh_bindings()  # "m all read" comes and goes
        if topics & {"questions", "approvals", "agents", "kept", "inbox"}:
            self.call_after_refresh(self.refocus)

    def on_screen_resume(self) -> None:
        super().on_screen_resume()
        self.call_after_refresh(self.refocus)

    def refocus(self, *, force: bool = False) -> None:
        """When the focused list emptied (or ``force``), focus the next pane with work."""
        if not self.is_attached or self.app.screen is not self:
            return  # under a dialog: resuming refocuses, a focus queued now would land later
        focused = self.focused
        if not force and focused is not None and focused.display:
            if not isinstance(focused, DataTable) or focused.row_count:
                return
        for kind in WORK_ORDER:
            pane = self.query_one(kind)
            if pane.row_keys and pane.is_attached:
                self.set_focus(pane.query_one(DataTable))  # at once, not queued
                return
        self.set_focus(self.query_one(SwarmPane).query_one(DataTable))

    def tick(self, now: float) -> None:
        # countdowns move every second; ages only need a redraw now and then
        self._ticks += 1
        self.query_one(QuestionsPane).tick(now)
        if self._ticks % AGE_TICKS == 0:
            self.query_one(SwarmPane).tick(now)
            self.query_one(ApprovalsPane).tick(now)
            self.query_one(RemindersPane).tick(now)

    @loader("reminders")
    async def _load_reminders(self) -> None:
        m = self.ctx.model
        if not m.connected:
            return
        got = await self.ctx.ops.fetch("reminders.list", status="pending")
        pane = self.query_one(RemindersPane)
        note = got.reason if isinstance(got, Unavailable) else None
        found = reminders_of(got)
        pane.show(found, self.ctx.clock(), note=note)
        pane.set_viewer(m.viewer)
        count = f" · {len(found)}" if found else ""
        self.query_one("#reminders-section", Collapsible).title = f"reminders{count}"

    def compose_to(self, to: str | None, reply_to: int | None = None) -> None:
        """Focus the compose box, addressed to ``to``."""
        self.query_one(ComposeBox).address(to, reply_to)

    # --- messages up -----------------------------------------------------------------
    @on(ListPane.RowAction)
    def _row_action(self, event: ListPane.RowAction) -> None:
        event.stop()
        ops, pane, key, action = self.ctx.ops, event.pane, event.key, event.action
        if isinstance(pane, SwarmPane):
            if action == "open":
                ops.open_agent(key)
            elif action == "terminal":
                ops.open_terminal(key)
            elif action == "compose":
                self.compose_to(key)
            else:
                ops.lifecycle(key, action)
        elif isinstance(pane, RemindersPane):
            reminder = pane.reminder(key)
            if reminder is not None and action == "cancel":
                ops.cancel_reminder(reminder.id, reminder.agent, reminder.body)
        elif isinstance(pane, KeptPane):
            if action == "revive":
                ops.revive(key)
            elif action == "purge":
                ops.purge(key)
        elif isinstance(pane, DraftsPane):
            draft = pane.draft(key)
            if draft is None:
                return
            if draft.approval is None:
                if action == "open" and draft.agent is not None:
                    ops.open_agent(key)
            elif action == "open":
                ops.open_approval(draft.approval.id)
            elif action == "approve":
                ops.approve(draft.approval)
            elif action == "deny":
                ops.deny(draft.approval)
        elif isinstance(pane, QuestionsPane):
            question = pane.question(key)
            if question is not None:
                (ops.cancel_question if action == "cancel" else ops.answer)(question)
        elif isinstance(pane, ApprovalsPane):
            approval = pane.approval(key)
            if approval is not None:
                ops.on_approval(approval, action)
        elif isinstance(pane, MessageList):
            message = pane.message(key)
            if message is not None:
                self._message_action(message, action)

    def _message_action(self, m: MessageView, action: str) -> None:
        if action == "compose":
            to = m.sender if m.sender != OPERATOR else m.recipient
            self.compose_to(to, reply_to=m.id)
            return
        if m.recipient == OPERATOR and not m.acked:
            self.ctx.ops.mark_read([m.id])
        header = f"#{m.id} {m.sender} → {m.recipient} at {clock(m.ts)} ({m.status})"
        reply = f"\nin reply to #{m.in_reply_to}" if m.in_reply_to else ""

        async def load() -> str:
            return f"{header}{reply}\n\n{m.body}"

        self.app.push_screen(TextScreen(f"message #{m.id}", load, wrap=True))

    @on(ComposeBox.Submitted)
    def _send(self, event: ComposeBox.Submitted) -> None:
        event.stop()
        self._deliver(event.to, event.body, event.in_reply_to)

    @work(group="send")
    async def _deliver(self, to: str, body: str, in_reply_to: int | None) -> None:
        if await self.ctx.ops.send(to, body, in_reply_to):
            self.query_one(ComposeBox).sent()

    @on(ComposeBox.Left)
    def _left_compose(self, event: ComposeBox.Left) -> None:
        event.stop()
        self.refocus(force=True)

    @on(MessagesPane.HistoryWanted)
    def _history(self, event: MessagesPane.HistoryWanted) -> None:
        event.stop()
        self._load_history(event.before_id)

    @loader("history", exclusive=False)
    async def _load_history(self, before_id: int | None) -> None:
        result = await self.ctx.ops.fetch("messages.history", before_id=before_id, limit=200)
        rows = [
            MessageView.from_json(d) for d in rows_of(result, "messages") if isinstance(d, dict)
        ]
        self.query_one(MessagesPane).add_history(rows)

    def action_compose(self) -> None:
        self.compose_to(None)

    def action_mark_all_read(self) -> None:
        ids = [m.id for m in self.ctx.model.inbox.values() if not m.acked]
        if ids:
            self.ctx.ops.mark_read(ids)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "compose":
            return not self.ctx.model.viewer
        if action == "mark_all_read":
            return not self.ctx.model.viewer and self.ctx.model.unread() > 0
        return super().check_action(action, parameters)
