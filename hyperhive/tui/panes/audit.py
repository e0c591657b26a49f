"""The audit pane: the append-only, hash-chained log of who did what; `v` verifies the chain."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from rich.text import Text
from textual.binding import Binding, BindingType

from hyperhive.tui.format import clock, one_line
from hyperhive.tui.panes.base import ListPane, Row
from hyperhive.tui.views import rows_of

LIMIT = 2000


@dataclass(frozen=True)
class AuditView:
    id: int
    ts: float | None
    actor: str
    action: str
    target: str
    result: str
    detail: str

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> AuditView:
        raw_id, ts = d.get("id"), d.get("ts")
        detail = d.get("detail", d.get("detail_json", ""))
        return cls(
            id=raw_id if isinstance(raw_id, int) and not isinstance(raw_id, bool) else -1,
            ts=float(ts) if isinstance(ts, int | float) else None,
            actor=str(d.get("actor", "?")),
            action=str(d.get("action", "?")),
            target=str(d.get("target", "")),
            result=str(d.get("result", "")),
            detail=detail if isinstance(detail, str) else json.dumps(detail, sort_keys=True),
        )


def parse_audit(result: Any) -> list[AuditView]:
    rows = rows_of(result, "entries", "audit", "rows")
    return sorted((AuditView.from_json(d) for d in rows if isinstance(d, dict)), key=lambda a: a.id)


class AuditPane(ListPane):
    """Every decision and privileged act, oldest first; filter with `/`."""

    DEFAULT_CSS = """
    AuditPane > DataTable { max-height: 100%; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [Binding("v", "verify", "verify chain")]

    TITLE = "audit log"
    COLUMNS = (
        ("id", "#"),
        ("time", "time"),
        ("actor", "who"),
        ("action", "action"),
        ("target", "target"),
        ("result", "result"),
        ("detail", "detail"),
    )
    EMPTY = "the audit log is empty"

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.entries: dict[int, AuditView] = {}

    def show(self, entries: list[AuditView] | None = None, *, note: str | None = None) -> None:
        """Replace the entries (None keeps them) and redraw."""
        if entries is not None:
            self.entries = {e.id: e for e in entries}
        self._draw(note)

    def append(self, entries: list[AuditView]) -> None:
        for e in entries:
            self.entries[e.id] = e
        while len(self.entries) > LIMIT:
            del self.entries[min(self.entries)]
        self._draw(None)

    def action_verify(self) -> None:
        self.post_message(self.RowAction(self, "verify", ""))

    def _draw(self, note: str | None) -> None:
        self.set_rows({str(k): _row(e) for k, e in sorted(self.entries.items())}, note=note)
        self.set_title(f"audit log · {len(self.entries)}")


def _row(e: AuditView) -> Row:
    ok = e.result in ("ok", "")
    return (
        str(e.id),
        clock(e.ts),
        e.actor,
        e.action,
        e.target,
        Text(e.result or "ok", style="" if ok else "bold red"),
        one_line(e.detail, 50),
    )
