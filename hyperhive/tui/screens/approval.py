"""One approval up close: its full diff against what runs and against the last approved state."""

from __future__ import annotations

from typing import Any, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import Static, TabbedContent, TabPane

from hyperhive.tui.context import Ctx
from hyperhive.tui.format import ago, safe, short
from hyperhive.tui.model import Change, Unavailable
from hyperhive.tui.screens.base import HiveScreen, loader
from hyperhive.tui.views import ApprovalView
from hyperhive.tui.widgets.textview import TextView

BASES = (("running", "vs running"), ("last_approved", "vs last approved"))


def diffs_of(result: Any) -> dict[str, str | None]:
    """The two diffs in an ``approvals.get`` reply, by base; None where it has none."""
    out: dict[str, str | None] = {base: None for base, _ in BASES}
    if not isinstance(result, dict):
        return out
    nested = result.get("diffs")
    for base, _ in BASES:
        value = None
        if isinstance(nested, dict):
            value = nested.get(f"vs_{base}", nested.get(base))
        if value is None:
            value = result.get(f"diff_vs_{base}")
        if value is None and base == "running":
            value = result.get("diff")
        out[base] = value if isinstance(value, str) else None
    return out


class ApprovalScreen(HiveScreen):
    """`a` approves, `x` denies (with a note), the tabs switch the base of the diff."""

    DEFAULT_CSS = """
    ApprovalScreen > #head { height: auto; padding: 0 1; }
    ApprovalScreen TabbedContent { height: 1fr; }
    ApprovalScreen TabPane { padding: 0; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("a", "approve", "approve"),
        Binding("x", "deny", "deny"),
    ]

    def __init__(self, ctx: Ctx, approval_id: int) -> None:
        super().__init__(ctx)
        self.approval_id = approval_id
        self._fetched: ApprovalView | None = None

    def compose_body(self) -> ComposeResult:
        yield Static("", id="head")
        with TabbedContent():
            for base, title in BASES:
                with TabPane(title, id=f"tab-{base}"):
                    yield TextView(
                        placeholder=Text("loading…", style="dim"), id=f"diff-{base}", classes="diff"
                    )

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one("#diff-running", TextView).focus()
        self._load()

    def unseen_lines(self) -> int:
        """Lines of the diff against what runs (what the approval changes) never seen in full."""
        return self.query_one("#diff-running", TextView).unseen_lines()

    @property
    def approval(self) -> ApprovalView | None:
        return self.ctx.model.approvals.get(self.approval_id) or self._fetched

    def show(self, change: Change) -> None:
        super().show(change)
        if "reload" in change.topics:
            self._load()
        if change.topics & {"approvals", "role"}:
            self._head()
            self.refresh_bindings()

    def _head(self) -> None:
        a = self.approval
        head = self.query_one("#head", Static)
        if a is None:
            head.update(Text(f"approval #{self.approval_id}", style="bold"))
            return
        status_style = {"pending": "bold yellow", "deployed": "green", "failed": "bold red"}
        by = safe(a.requested_by or "?", newlines=False)
        head.update(
            Text.assemble(
                (safe(f"#{a.id} {a.kind} for {a.agent}", newlines=False), "bold"),
                "  ",
                (safe(a.status, newlines=False), status_style.get(a.status, "")),
                f"  sha {safe(short(a.fetched_sha or a.commit_ref, 12), newlines=False)}",
                (f"  on host {safe(a.where, newlines=False)}" if a.where else "", "bold"),
                f"  requested by {by} {ago(a.created_at, self.ctx.clock())} ago",
                (f"\nerror: {safe(a.error)}" if a.error else "", "red"),
                (f"\nnote: {safe(a.note)}" if a.note else "", "dim"),
                ("\n←/→ h/l scroll long lines sideways, End/Home jump", "dim"),
            )
        )

    @loader("approval-load")
    async def _load(self) -> None:
        result = await self.ctx.ops.fetch("approvals.get", id=self.approval_id)
        if isinstance(result, dict):
            self._fetched = ApprovalView.from_json(result.get("approval", result))
            self._head()
            self.refresh_bindings()
        for base, diff in diffs_of(result).items():
            widget = self.query_one(f"#diff-{base}", TextView)
            if isinstance(result, Unavailable):
                widget.show_placeholder(Text(result.reason, style="dim"))
            elif diff is None:
                widget.show_placeholder(Text("no diff for this base", style="dim"))
            elif not diff.strip():
                widget.show_placeholder(Text("no changes", style="dim"))
            else:
                widget.set_text(diff, lexer="diff")

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("approve", "deny"):
            a = self.approval
            return not self.ctx.model.viewer and a is not None and a.pending
        return super().check_action(action, parameters)

    def action_approve(self) -> None:
        if self.approval is not None:
            self.ctx.ops.approve(self.approval, unseen=self.unseen_lines())

    def action_deny(self) -> None:
        if self.approval is not None:
            self.ctx.ops.deny(self.approval)
