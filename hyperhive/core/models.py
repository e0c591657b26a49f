"""Frozen dataclasses and string enums shared by every part of the host core."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class Role(StrEnum):
    MANAGER = "manager"
    AGENT = "agent"


class AgentState(StrEnum):
    """What an agent is doing. The transient states end in -ing and never outlive a task."""

    DRAFT = "draft"  # proposed repo exists, no container (two-step spawn)
    STOPPED = "stopped"
    RUNNING = "running"
    CRASHED = "crashed"
    NEEDS_LOGIN = "needs_login"
    DRIVER_MISSING = "driver_missing"
    RATE_LIMITED = "rate_limited"
    DESTROYED = "destroyed"  # tombstone: kept state, no container
    SPAWNING = "spawning"
    STARTING = "starting"
    STOPPING = "stopping"
    RESTARTING = "restarting"
    REBUILDING = "rebuilding"
    DESTROYING = "destroying"

    @property
    def transient(self) -> bool:
        return self in TRANSIENT_STATES


TRANSIENT_STATES = frozenset(
    {
        AgentState.SPAWNING,
        AgentState.STARTING,
        AgentState.STOPPING,
        AgentState.RESTARTING,
        AgentState.REBUILDING,
        AgentState.DESTROYING,
    }
)

# "Up": the container is supposed to be running. These are also the only states a harness
# may report; the lifecycle states (stopped, the transient ones) belong to the daemon, and a
# late report from a harness that is being stopped must not undo them.
UP_STATES = frozenset(
    {
        AgentState.RUNNING,
        AgentState.NEEDS_LOGIN,
        AgentState.DRIVER_MISSING,
        AgentState.RATE_LIMITED,
    }
)


class SenderClass(StrEnum):
    OPERATOR = "operator"
    MANAGER = "manager"
    PEER = "peer"
    SYSTEM = "system"


class ExitClass(StrEnum):
    """How a turn ended, as the harness reports it (the table in agent/drivers/base.py)."""

    OK = "ok"
    COMPACT_RETRY = "compact_retry"
    FAILED = "failed"
    RATE_LIMITED = "rate_limited"
    NEEDS_LOGIN = "needs_login"
    CANCELLED = "cancelled"
    DRIVER_MISSING = "driver_missing"

    @property
    def succeeded(self) -> bool:
        """True when the turn ran to its end (the wake message was handled)."""
        return self in (ExitClass.OK, ExitClass.COMPACT_RETRY)


EXIT_CLASSES = frozenset(e.value for e in ExitClass)


def _as_dict(obj: Any) -> dict[str, Any]:
    return {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}


@dataclass(frozen=True)
class Agent:
    name: str
    role: Role
    state: AgentState
    runtime: str
    incarnation: int
    applied_sha: str | None
    created_at: float
    updated_at: float
    state_reason: str = ""
    stale: bool = False
    last_turn_at: float | None = None

    def to_json(self) -> dict[str, Any]:
        return _as_dict(self)


@dataclass(frozen=True)
class Message:
    id: int
    ts: float
    sender: str
    recipient: str
    body: str
    in_reply_to: int | None
    delivered_at: float | None
    acked_at: float | None
    deliveries: int = 0

    @property
    def redelivered(self) -> bool:
        return self.deliveries > 1

    def to_json(self) -> dict[str, Any]:
        # hot path (every message is encoded at least twice): no dataclasses.fields()
        return {
            "id": self.id,
            "ts": self.ts,
            "sender": self.sender,
            "recipient": self.recipient,
            "body": self.body,
            "in_reply_to": self.in_reply_to,
            "delivered_at": self.delivered_at,
            "acked_at": self.acked_at,
            "deliveries": self.deliveries,
            "redelivered": self.deliveries > 1,
        }


class ApprovalKind(StrEnum):
    SPAWN = "spawn"  # one-shot: template config, container on approval
    SPAWN_DRAFT = "spawn_draft"  # two-step spawn, step 1: proposed repo, no container
    SPAWN_COMMIT = "spawn_commit"  # two-step spawn, step 2: container from a reviewed commit
    APPLY_COMMIT = "apply_commit"  # config change of a running agent
    DESTROY = "destroy"


class ApprovalStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    BUILDING = "building"
    DEPLOYED = "deployed"
    FAILED = "failed"
    DENIED = "denied"

    @property
    def terminal(self) -> bool:
        return self in (ApprovalStatus.DEPLOYED, ApprovalStatus.FAILED, ApprovalStatus.DENIED)


@dataclass(frozen=True)
class Approval:
    id: int
    kind: ApprovalKind
    agent: str
    commit_ref: str | None
    fetched_sha: str | None  # the pinned commit
    base_sha: str | None  # what the agent ran when the request was made
    status: ApprovalStatus
    requested_by: str
    decided_by: str | None
    note: str
    error: str
    created_at: float
    updated_at: float
    decided_at: float | None
    message: str = ""  # the pinned commit's message: why the change is asked for
    author: str = ""  # the pinned commit's author

    def to_json(self) -> dict[str, Any]:
        return _as_dict(self)
