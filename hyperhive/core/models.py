"""Rows and vocabulary shared by every part of the core: frozen dataclasses and string enums.

Every row type the store reads lives here (`store/` holds SQL only); agent names and sender
classes are in `core/names.py`.
"""

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
    # the host the agent runs on, or will: a spawn whose agent.toml names none shows the
    # daemon's pick at request time (``host_picked``), and the build records where it landed
    host: str | None = None
    host_picked: bool = False

    def to_json(self) -> dict[str, Any]:
        return _as_dict(self)


# --- Audit log rows -----------------------------------------------------------


@dataclass(frozen=True)
class AuditEntry:
    """One audit row. ``detail`` is decoded from ``detail_json`` (``broken`` if it failed)."""

    id: int
    ts: float
    actor: str
    action: str
    target: str
    detail: dict[str, Any]
    result: str
    prev_hash: str
    hash: str
    broken: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "ts": self.ts,
            "actor": self.actor,
            "action": self.action,
            "target": self.target,
            "detail": self.detail,
            "result": self.result,
            "prev_hash": self.prev_hash,
            "hash": self.hash,
            "broken": self.broken,
        }


# --- Operator questions rows --------------------------------------------------


class QuestionStatus(StrEnum):
    PENDING = "pending"
    ANSWERED = "answered"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


@dataclass(frozen=True)
class Question:
    """One operator question. ``broken`` names the columns that did not decode, if any."""

    id: int
    asker: str
    target: str
    question: str
    options: tuple[str, ...]
    multi: bool
    deadline: float
    status: str  # a QuestionStatus, or the raw text of a corrupt row
    answer_options: tuple[str, ...]
    answer_text: str | None
    answerer: str | None
    created_at: float
    answered_at: float | None
    broken: str = ""

    @property
    def pending(self) -> bool:
        return self.status == QuestionStatus.PENDING

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "asker": self.asker,
            "target": self.target,
            "question": self.question,
            "options": list(self.options),
            "multi": self.multi,
            "deadline": self.deadline,
            "status": str(self.status),
            "answer": None
            if not self.answer_options and self.answer_text is None
            else {"options": list(self.answer_options), "text": self.answer_text},
            "answerer": self.answerer,
            "created_at": self.created_at,
            "answered_at": self.answered_at,
            "broken": self.broken,
        }


# --- Reminders rows -----------------------------------------------------------


class ReminderStatus(StrEnum):
    PENDING = "pending"
    FIRED = "fired"
    CANCELLED = "cancelled"
    DROPPED = "dropped"  # its agent was gone when it came due


@dataclass(frozen=True)
class Reminder:
    id: int
    agent: str
    body: str
    file_path: str | None
    due_at: float
    status: str
    created_at: float
    decided_at: float | None
    decided_by: str | None
    message_id: int | None

    @property
    def pending(self) -> bool:
        return self.status == ReminderStatus.PENDING

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "agent": self.agent,
            "body": self.body,
            "file_path": self.file_path,
            "due_at": self.due_at,
            "status": str(self.status),
            "created_at": self.created_at,
            "decided_at": self.decided_at,
            "decided_by": self.decided_by,
            "message_id": self.message_id,
        }


# --- Stats series rows --------------------------------------------------------


@dataclass(frozen=True)
class SeriesBucket:
    """Aggregates of one time bucket starting at ``t``; p50/p95 are ``exact`` or sampled."""

    t: float
    count: int
    sum: float
    avg: float
    min: float
    max: float
    p50: float
    p95: float
    exact: bool = True

    def to_json(self) -> dict[str, Any]:
        return {
            "t": self.t,
            "count": self.count,
            "sum": self.sum,
            "avg": self.avg,
            "min": self.min,
            "max": self.max,
            "p50": self.p50,
            "p95": self.p95,
            "exact": self.exact,
        }


@dataclass(frozen=True)
class LastValue:
    """The newest sample of one series."""

    agent: str
    key: str
    ts: float
    value: float

    def to_json(self) -> dict[str, Any]:
        return {"agent": self.agent, "key": self.key, "ts": self.ts, "value": self.value}


# --- Turn events rows ---------------------------------------------------------


@dataclass(frozen=True)
class TurnEvent:
    """One stored harness event; ``data`` is the event dict the harness sent."""

    id: int
    agent: str
    ts: float
    turn: int | None
    kind: str
    data: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "agent": self.agent,
            "ts": self.ts,
            "turn": self.turn,
            "kind": self.kind,
            "data": self.data,
        }


# --- Hosts rows ------------------------------------------------------------------


@dataclass(frozen=True)
class HostRecord:
    """One registered host. ``host_key`` is the pinned OpenSSH public key line
    (``ssh-ed25519 AAAA…``); the host ``local`` has an empty url and key."""

    name: str
    url: str
    host_key: str
    drained: bool
    added_at: float
    added_by: str

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "url": self.url,
            "host_key": self.host_key,
            "drained": self.drained,
            "added_at": self.added_at,
            "added_by": self.added_by,
        }
