"""The approvals pane: the queue of pending changes; `enter` opens the diff, `a`/`x` decide."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.binding import Binding, BindingType

from hyperhive.tui.format import ago, short
from hyperhive.tui.panes.base import ListPane, Row, RowMemo
from hyperhive.tui.views import ApprovalView


class ApprovalsPane(ListPane):
    """Pending approvals, oldest first."""

    DEFAULT_CSS = """
    ApprovalsPane.-waiting { border-top: heavy $warning; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("a", "row('approve')", "approve"),
        Binding("x", "row('deny')", "deny"),
    ]

    TITLE = "approvals"
    COLUMNS = (
        ("id", "#"),
        ("kind", "kind"),
        ("agent", "agent"),
        ("sha", "sha"),
        ("by", "requested by"),
        ("age", "age"),
    )
    EMPTY = "nothing to approve"
    DECISIONS = frozenset({"approve", "deny"})

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._approvals: list[ApprovalView] = []
        self._made: RowMemo[ApprovalView] = RowMemo()

    def show(self, approvals: list[ApprovalView], now: float, *, note: str | None = None) -> None:
        self._approvals = approvals
        items = ((str(a.id), a, ago(a.created_at, now)) for a in approvals)
        self.set_rows(self._made.rows(items, lambda a: _row(a, now)), note=note)
        self.set_title(f"approvals · {len(approvals)}" if approvals else "approvals")
        self.set_class(bool(approvals), "-waiting")

    def tick(self, now: float) -> None:
        self.show(self._approvals, now)

    def approval(self, key: str) -> ApprovalView | None:
        return next((a for a in self._approvals if str(a.id) == key), None)


def _row(a: ApprovalView, now: float) -> Row:
    return (
        str(a.id),
        Text(a.kind, style="bold" if a.kind in ("spawn", "destroy") else ""),
        a.agent if a.host in ("", "local") else f"{a.agent} @{a.host}",
        short(a.fetched_sha or a.commit_ref),
        a.requested_by or "-",
        ago(a.created_at, now),
    )
