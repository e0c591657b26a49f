"""Pending reminders (an agent's, or the swarm's): when each wakes whom, and `x` cancels one."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from rich.text import Text
from textual.binding import Binding, BindingType

from hyperhive.tui.format import one_line
from hyperhive.tui.panes.base import ListPane, Row
from hyperhive.tui.views import as_float, as_int, as_str


@dataclass(frozen=True)
class ReminderView:
    """One durable self-wake, as ``reminders.list`` and ``threads.get`` return it."""

    id: int
    agent: str
    body: str
    due_at: float
    file_path: str = ""

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> ReminderView:
        return cls(
            id=as_int(d.get("id"), -1),
            agent=as_str(d.get("agent")),
            body=as_str(d.get("body")),
            due_at=as_float(d.get("due_at")) or 0.0,
            file_path=as_str(d.get("file_path")),
        )


def due_in(ts: float, now: float) -> str:
    """``in 5m``, ``in 2h``; ``due`` once it is time."""
    left = ts - now
    if left <= 0:
        return "due"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if left >= size:
            return f"in {int(left // size)}{unit}"
    return f"in {int(left)}s"


class RemindersPane(ListPane):
    """Pending reminders, soonest first; `x` cancels the one under the cursor (asks first)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("x", "row('cancel')", "cancel reminder"),
    ]
    TITLE = "reminders"
    COLUMNS = (
        ("id", "#"),
        ("agent", "agent"),
        ("due", "due"),
        ("body", "message"),
        ("file", "file"),
    )
    EMPTY = "no pending reminders"
    FLEX_COLUMN = "body"
    DECISIONS = frozenset({"cancel"})

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.reminders: list[ReminderView] = []
        self._now = 0.0

    def show(self, reminders: list[ReminderView], now: float, *, note: str | None = None) -> None:
        self.reminders = sorted(reminders, key=lambda r: (r.due_at, r.id))
        self._now, self._note = now, note
        self.set_rows({str(r.id): _row(r, now, self.flex_width) for r in self.reminders}, note=note)
        self.set_title(f"reminders · {len(reminders)}" if reminders else "reminders")

    def tick(self, now: float) -> None:
        if self.reminders:
            self.show(self.reminders, now, note=self._note)

    def refit(self) -> None:
        self.show(self.reminders, self._now, note=self._note)

    def reminder(self, key: str) -> ReminderView | None:
        return next((r for r in self.reminders if str(r.id) == key), None)


def _row(r: ReminderView, now: float, width: int) -> Row:
    due = due_in(r.due_at, now)
    return (
        str(r.id),
        r.agent,
        Text(due, style="bold yellow" if due == "due" else ""),
        one_line(r.body or "(no text)", width),
        one_line(r.file_path, 30),
    )


def reminders_of(result: Any, key: str = "reminders") -> list[ReminderView]:
    """The reminders in a reply (``{"reminders": [...]}``), skipping what is not a row."""
    rows = result.get(key) if isinstance(result, dict) else None
    return [ReminderView.from_json(d) for d in rows or [] if isinstance(d, dict)]
