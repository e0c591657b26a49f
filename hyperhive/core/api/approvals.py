"""RPC methods of the approval queue: requests (manager, operator) and decisions (operator)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from hyperhive.core.protocol import Caller, Registry, Scope, p
from hyperhive.core.replies import (
    ApprovalDetail,
    ApprovalRow,
    ApprovalsReply,
    approval_diffs,
    approval_row,
)

if TYPE_CHECKING:
    from hyperhive.core.hive import Hive


def _by(caller: Caller) -> str:
    return caller.actor


def register(reg: Registry, hive: Hive) -> None:
    approvals = hive.approvals

    @reg.method(
        "approvals.list",
        Scope.HOST,
        Scope.MANAGER,
        status=p(str, None, default=None),
        agent=p(str, None, default=None),
        limit=p(int, default=500),
    )
    async def list_(
        caller: Caller, status: str | None, agent: str | None, limit: int
    ) -> ApprovalsReply:
        """Approvals, oldest first (pending ones by default first in the TUI)."""
        found = await approvals.list(status=status, agent=agent, limit=max(1, min(limit, 5000)))
        return {"approvals": [approval_row(a.to_json()) for a in found]}

    @reg.method("approvals.get", Scope.HOST, Scope.MANAGER, id=p(int))
    async def get(caller: Caller, id: int) -> ApprovalDetail:
        """One approval with its diffs vs the running tree and vs the last approved proposal."""
        approval = await approvals.get(id)
        diffs = approval_diffs(await approvals.diffs(approval))
        return {**approval_row(approval.to_json()), "diffs": diffs}

    @reg.method(
        "approvals.approve", Scope.HOST, decides=True, id=p(int), wait=p(bool, default=False)
    )
    async def approve(caller: Caller, id: int, wait: bool) -> ApprovalRow:
        """Approve a pending request; the build starts at once (``wait`` for its end)."""
        return approval_row((await approvals.approve(id, by=_by(caller), wait=wait)).to_json())

    @reg.method("approvals.deny", Scope.HOST, decides=True, id=p(int), note=p(str, default=""))
    async def deny(caller: Caller, id: int, note: str) -> ApprovalRow:
        """Deny a pending request with an optional note for the manager."""
        return approval_row((await approvals.deny(id, by=_by(caller), note=note)).to_json())

    @reg.method("approvals.request_spawn", Scope.HOST, Scope.MANAGER, decides=True, name=p(str))
    async def request_spawn(caller: Caller, name: str) -> ApprovalRow:
        """Ask to spawn a new agent with the default config."""
        return approval_row((await approvals.request_spawn(name, by=_by(caller))).to_json())

    @reg.method(
        "approvals.request_spawn_draft", Scope.HOST, Scope.MANAGER, decides=True, name=p(str)
    )
    async def request_spawn_draft(caller: Caller, name: str) -> ApprovalRow:
        """Two-step spawn, step 1: ask for a proposed repo to edit before the agent exists."""
        return approval_row((await approvals.request_spawn_draft(name, by=_by(caller))).to_json())

    @reg.method(
        "approvals.request_spawn_commit",
        Scope.HOST,
        Scope.MANAGER,
        decides=True,
        name=p(str),
        commit_ref=p(str),
    )
    async def request_spawn_commit(caller: Caller, name: str, commit_ref: str) -> ApprovalRow:
        """Two-step spawn, step 2: ask to create the draft's container from a commit."""
        return approval_row(
            (await approvals.request_spawn_commit(name, commit_ref, by=_by(caller))).to_json()
        )

    @reg.method(
        "approvals.request_apply_commit",
        Scope.HOST,
        Scope.MANAGER,
        decides=True,
        agent=p(str),
        commit_ref=p(str),
    )
    async def request_apply_commit(caller: Caller, agent: str, commit_ref: str) -> ApprovalRow:
        """Ask to deploy a commit of an agent's proposed repo."""
        return approval_row(
            (await approvals.request_apply_commit(agent, commit_ref, by=_by(caller))).to_json()
        )

    @reg.method("approvals.request_destroy", Scope.MANAGER, name=p(str))
    async def request_destroy(caller: Caller, name: str) -> ApprovalRow:
        """Ask to destroy an agent (its state is kept as a tombstone)."""
        return approval_row((await approvals.request_destroy(name, by=_by(caller))).to_json())
