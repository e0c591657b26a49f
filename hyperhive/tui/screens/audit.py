"""The audit screen: who did what, when, with what result; `v` verifies the hash chain."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult

from hyperhive.tui.model import Change, Unavailable
from hyperhive.tui.panes.audit import AuditPane, AuditView, parse_audit
from hyperhive.tui.panes.base import ListPane
from hyperhive.tui.screens.base import HiveScreen, loader

BACKFILL = 500


class AuditScreen(HiveScreen):
    MODE = "audit"
    DEFAULT_CSS = """
    AuditScreen > AuditPane { height: 1fr; }
    """

    def compose_body(self) -> ComposeResult:
        yield AuditPane(id="audit")

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one(AuditPane).focus_table()
        self._load()

    def show(self, change: Change) -> None:
        super().show(change)
        if "reload" in change.topics:
            self._load()
        appended = [
            AuditView.from_json(d) for name, d in change.passthrough if name == "audit.appended"
        ]
        if appended:
            self.query_one(AuditPane).append(appended)

    @loader("audit")
    async def _load(self) -> None:
        result = await self.ctx.ops.fetch("audit.list", limit=BACKFILL)
        pane = self.query_one(AuditPane)
        if isinstance(result, Unavailable):
            pane.show([], note=result.reason)
        else:
            pane.show(parse_audit(result))

    @on(ListPane.RowAction)
    def _row(self, event: ListPane.RowAction) -> None:
        event.stop()
        if event.action == "verify":
            self.ctx.ops.verify_audit()
