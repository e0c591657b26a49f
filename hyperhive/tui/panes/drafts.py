"""The drafts pane: two-step spawns in progress, from the draft request to the first commit."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from rich.text import Text
from textual.binding import Binding, BindingType

from hyperhive.tui.format import ago
from hyperhive.tui.panes.base import ListPane, Row
from hyperhive.tui.views import AgentView, ApprovalView

# a one-shot spawn, and step 1 of a two-step spawn: both are agents on their way in
DRAFT_KINDS = frozenset({"spawn", "spawn_draft"})


def drafts(agents: list[AgentView], pending: list[ApprovalView]) -> list[Draft]:
    """Agents in the draft state plus draft requests that wait for the operator."""
    by_agent: dict[str, list[ApprovalView]] = {}
    for a in pending:
        by_agent.setdefault(a.agent, []).append(a)
    out = [Draft(a.name, a, by_agent[a.name][0] if a.name in by_agent else None) for a in agents]
    names = {a.name for a in agents}
    out += [
        Draft(a.agent, None, a) for a in pending if a.kind in DRAFT_KINDS and a.agent not in names
    ]
    return sorted(out, key=lambda d: d.name)


@dataclass(frozen=True)
class Draft:
    """One agent on its way in: its draft record (once approved) and the approval it waits on."""

    name: str
    agent: AgentView | None
    approval: ApprovalView | None

    @property
    def stage(self) -> str:
        if self.agent is None:
            if self.approval is not None and self.approval.kind == "spawn":
                return "spawn waits for approval"
            return "draft requested"
        if self.approval is None:
            return "manager is editing the config"
        return "first commit waits for approval"


class DraftsPane(ListPane):
    """Drafts; `enter` opens the pending approval's diff, `a`/`x` decide it."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("a", "row('approve')", "approve"),
        Binding("x", "row('deny')", "deny"),
    ]

    TITLE = "drafts"
    COLUMNS = (("name", "agent"), ("stage", "stage"), ("approval", "approval"), ("age", "since"))
    EMPTY = "no spawns in progress"
    DECISIONS = frozenset({"approve", "deny"})

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._drafts: list[Draft] = []

    def show(self, items: list[Draft], now: float) -> None:
        self._drafts = items
        self.set_rows({d.name: _row(d, now) for d in items})
        self.set_title(f"drafts · {len(items)}" if items else "drafts")

    def draft(self, key: str) -> Draft | None:
        return next((d for d in self._drafts if d.name == key), None)


def _row(d: Draft, now: float) -> Row:
    approval = f"#{d.approval.id} {d.approval.kind}" if d.approval else "-"
    since = d.approval.created_at if d.agent is None and d.approval else None
    return (
        d.name,
        Text(d.stage, style="yellow" if d.approval else "cyan"),
        approval,
        ago(since, now) if since else "-",
    )
