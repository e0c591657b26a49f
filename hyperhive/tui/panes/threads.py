"""An agent's loose ends: peer questions it asked or must answer, its approvals, its reminders.

Read from ``threads.get``; the agent page reloads it when a question, approval or
reminder event arrives (never on a timer).
"""

from __future__ import annotations

from typing import Any, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical

from hyperhive.tui.format import countdown, one_line
from hyperhive.tui.model import Unavailable
from hyperhive.tui.panes.approvals import ApprovalsPane
from hyperhive.tui.panes.base import ListPane, Row
from hyperhive.tui.panes.reminders import RemindersPane, reminders_of
from hyperhive.tui.views import ApprovalView, QuestionView, as_str

# the events after which an agent's loose ends are read again
THREAD_EVENTS = ("question.", "approval.", "reminder.")


class ThreadQuestionsPane(ListPane):
    """Open questions the agent asked or must answer; `enter` answers, `x` cancels."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("x", "row('cancel')", "cancel question"),
    ]
    TITLE = "questions"
    COLUMNS = (
        ("id", "#"),
        ("role", "role"),
        ("asker", "from"),
        ("target", "to"),
        ("question", "question"),
        ("ttl", "ttl"),
    )
    EMPTY = "no open questions"
    FLEX_COLUMN = "question"
    DECISIONS = frozenset({"open", "cancel"})

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.questions: list[tuple[QuestionView, str]] = []
        self._now = 0.0

    def show(
        self, questions: list[tuple[QuestionView, str]], now: float, *, note: str | None = None
    ) -> None:
        self.questions = questions
        self._now, self._note = now, note
        rows = {str(q.id): _row(q, role, now, self.flex_width) for q, role in questions}
        self.set_rows(rows, note=note)
        self.set_title(f"questions · {len(questions)}" if questions else "questions")

    def tick(self, now: float) -> None:
        if self.questions:
            self.show(self.questions, now, note=self._note)

    def refit(self) -> None:
        self.show(self.questions, self._now, note=self._note)

    def question(self, key: str) -> QuestionView | None:
        return next((q for q, _ in self.questions if str(q.id) == key), None)


def _row(q: QuestionView, role: str, now: float, width: int) -> Row:
    label = {"asked": "asked", "to_answer": "to answer"}.get(role, role)
    return (
        str(q.id),
        Text(label, style="bold yellow" if role == "to_answer" else ""),
        q.asker,
        q.target,
        one_line(q.question or "(no text)", width),
        countdown(q.deadline, now),
    )


class ThreadsView(Vertical):
    """The three lists of an agent's loose ends, filled from one ``threads.get`` reply."""

    DEFAULT_CSS = """
    ThreadsView { height: auto; }
    ThreadsView > ListPane { border-top: solid $primary-darken-2; }
    """

    def compose(self) -> ComposeResult:
        yield ThreadQuestionsPane(id="thread-questions")
        yield ApprovalsPane(id="thread-approvals")
        yield RemindersPane(id="thread-reminders")

    def show(self, result: Any, now: float, *, viewer: bool) -> None:
        panes: tuple[ListPane, ...] = (
            self.query_one(ThreadQuestionsPane),
            self.query_one(ApprovalsPane),
            self.query_one(RemindersPane),
        )
        for pane in panes:
            pane.set_viewer(viewer)
        questions, approvals, reminders = panes
        assert isinstance(questions, ThreadQuestionsPane)
        assert isinstance(approvals, ApprovalsPane)
        assert isinstance(reminders, RemindersPane)
        if isinstance(result, Unavailable) or not isinstance(result, dict):
            note = result.reason if isinstance(result, Unavailable) else "not available"
            questions.show([], now, note=note)
            approvals.show([], now, note=note)
            reminders.show([], now, note=note)
            return
        questions.show(
            [
                (QuestionView.from_json(d), as_str(d.get("role")))
                for d in result.get("questions") or []
                if isinstance(d, dict)
            ],
            now,
        )
        rows = result.get("approvals") or []
        approvals.show([ApprovalView.from_json(d) for d in rows if isinstance(d, dict)], now)
        reminders.show(reminders_of(result), now)

    def tick(self, now: float) -> None:
        self.query_one(ThreadQuestionsPane).tick(now)
        self.query_one(RemindersPane).tick(now)
