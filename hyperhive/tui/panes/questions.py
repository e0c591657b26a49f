"""The questions pane: what agents asked the operator, with TTL countdowns; damaged rows show."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.binding import Binding, BindingType

from hyperhive.tui.format import countdown, one_line
from hyperhive.tui.panes.base import ListPane, Row
from hyperhive.tui.views import QuestionView


class QuestionsPane(ListPane):
    """Open questions; `enter` answers (options or free text), `x` cancels."""

    DEFAULT_CSS = """
    QuestionsPane.-waiting { border-top: heavy $warning; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("x", "row('cancel')", "cancel question"),
    ]

    TITLE = "questions"
    COLUMNS = (
        ("id", "#"),
        ("asker", "from"),
        ("question", "question"),
        ("options", "options"),
        ("ttl", "ttl"),
    )
    EMPTY = "no open questions"
    FLEX_COLUMN = "question"
    DECISIONS = frozenset({"open", "cancel"})

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._questions: list[QuestionView] = []
        self._now = 0.0

    def show(self, questions: list[QuestionView], now: float, *, note: str | None = None) -> None:
        self._questions = questions
        self._now, self._note = now, note
        self.set_rows({str(q.id): _row(q, now, self.flex_width) for q in questions}, note=note)
        self.set_title(f"questions · {len(questions)}" if questions else "questions")
        self.set_class(bool(questions), "-waiting")

    def tick(self, now: float) -> None:
        if any(q.deadline is not None for q in self._questions):
            self.show(self._questions, now)

    def refit(self) -> None:
        self.show(self._questions, self._now, note=self._note)

    def question(self, key: str) -> QuestionView | None:
        return next((q for q in self._questions if str(q.id) == key), None)


def _row(q: QuestionView, now: float, width: int = 44) -> Row:
    text = Text(one_line(q.question or "(no text)", width))
    if q.error:
        text = Text.assemble(("⚠ " + one_line(q.error, 40), "bold red"), " ", text)
    kind = "multi" if q.multi else "one"
    options = f"{len(q.options)} ({kind})" if q.options else "free text"
    ttl = countdown(q.deadline, now)
    return (
        str(q.id),
        q.asker,
        text,
        options,
        Text(ttl, style="bold red" if ttl == "expiring" else "yellow"),
    )
