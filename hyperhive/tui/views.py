"""Views of the daemon's rows as the TUI shows them, parsed leniently from JSON.

A row with an odd field still shows (with its error) instead of vanishing: an operator
must always see a stored question.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hyperhive.core.models import TRANSIENT_STATES
from hyperhive.core.names import OPERATOR

TRANSIENT = frozenset(s.value for s in TRANSIENT_STATES)
CLOSED_QUESTION = frozenset({"answered", "cancelled", "expired"})


def as_float(value: Any, default: float | None = None) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return default
    return float(value)


def as_int(value: Any, default: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return default
    return int(value)


def as_str(value: Any, default: str = "") -> str:
    return value if isinstance(value, str) else default


def rows_of(result: Any, *keys: str) -> list[Any]:
    """The list inside a reply: the reply itself, or its first list-valued key of ``keys``."""
    if isinstance(result, list):
        return result
    if isinstance(result, dict):
        for key in keys:
            value = result.get(key)
            if isinstance(value, list):
                return value
    return []


@dataclass(frozen=True)
class AgentView:
    """One live agent as the swarm pane shows it."""

    name: str
    role: str = "agent"
    state: str = "stopped"
    inbox: int = 0
    last_turn_at: float | None = None
    stale: bool = False
    state_reason: str = ""
    incarnation: int = 0
    applied_sha: str | None = None
    runtime: str = ""

    @property
    def transient(self) -> bool:
        return self.state in TRANSIENT

    @property
    def needs_login(self) -> bool:
        return self.state == "needs_login"

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> AgentView:
        sha = d.get("applied_sha")
        return cls(
            name=as_str(d.get("name"), "?"),
            role=as_str(d.get("role"), "agent"),
            state=unreachable_or(d, as_str(d.get("state"), "unknown")),
            inbox=as_int(d.get("inbox")),
            last_turn_at=as_float(d.get("last_turn_at")),
            stale=bool(d.get("stale")),
            state_reason=as_str(d.get("state_reason")),
            incarnation=as_int(d.get("incarnation")),
            applied_sha=sha if isinstance(sha, str) else None,
            runtime=as_str(d.get("runtime")),
        )


def unreachable_or(d: Mapping[str, Any], state: str) -> str:
    """An agent whose host cannot be reached shows ``unreachable``, not its stale state."""
    host_state = d.get("host_state")
    return "unreachable" if host_state not in (None, "reachable") else state


@dataclass(frozen=True)
class MessageView:
    id: int
    ts: float
    sender: str
    recipient: str
    body: str
    in_reply_to: int | None = None
    delivered: bool = False
    acked: bool = False
    deliveries: int = 0

    @property
    def status(self) -> str:
        if self.acked:
            return "acked" if self.recipient != OPERATOR else "read"
        if self.delivered:
            return "redelivered" if self.deliveries > 1 else "delivered"
        return "queued"

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> MessageView:
        reply = d.get("in_reply_to")
        return cls(
            id=as_int(d.get("id")),
            ts=as_float(d.get("ts"), 0.0) or 0.0,
            sender=as_str(d.get("sender"), "?"),
            recipient=as_str(d.get("recipient"), "?"),
            body=as_str(d.get("body")),
            in_reply_to=reply if isinstance(reply, int) and not isinstance(reply, bool) else None,
            delivered=d.get("delivered_at") is not None,
            acked=d.get("acked_at") is not None,
            deliveries=as_int(d.get("deliveries"), 1 if d.get("delivered_at") is not None else 0),
        )


@dataclass(frozen=True)
class ApprovalView:
    id: int
    kind: str
    agent: str
    status: str
    commit_ref: str = ""
    fetched_sha: str = ""
    requested_by: str = ""
    decided_by: str = ""
    note: str = ""
    error: str = ""
    created_at: float | None = None
    host: str = ""  # where the agent runs or will run ("" for a draft)
    host_picked: bool = False  # the daemon chose it (agent.toml names no host)

    @property
    def pending(self) -> bool:
        return self.status == "pending"

    @property
    def where(self) -> str:
        """The host, said the way the operator reads it ("" when there is none)."""
        if not self.host:
            return ""
        if self.host_picked:
            chosen = "chosen at request" if self.pending else "chosen by the daemon"
            return f"{self.host} ({chosen})"
        return self.host

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> ApprovalView:
        return cls(
            id=as_int(d.get("id")),
            kind=as_str(d.get("kind"), "?"),
            agent=as_str(d.get("agent"), "?"),
            status=as_str(d.get("status"), "pending"),
            commit_ref=as_str(d.get("commit_ref")),
            fetched_sha=as_str(d.get("fetched_sha")),
            requested_by=as_str(d.get("requested_by")),
            decided_by=as_str(d.get("decided_by")),
            note=as_str(d.get("note")),
            error=as_str(d.get("error")),
            created_at=as_float(d.get("created_at")),
            host=as_str(d.get("host")),
            host_picked=d.get("host_picked") is True,
        )


@dataclass(frozen=True)
class QuestionView:
    """A question for the operator. ``error`` is set when the stored row did not parse."""

    id: int
    asker: str
    question: str
    options: tuple[str, ...] = ()
    multi: bool = False
    deadline: float | None = None
    status: str = "pending"
    target: str = OPERATOR
    error: str = ""

    @property
    def open(self) -> bool:
        """Still waiting; a row whose status did not decode counts as waiting."""
        return self.status not in CLOSED_QUESTION

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> QuestionView:
        qid = as_int(d.get("id"), -1)
        problems: list[str] = []
        for key in ("broken", "error"):
            if isinstance(d.get(key), str) and d[key]:
                problems.append(d[key])
        raw = d.get("options", d.get("options_json", []))
        if isinstance(raw, str):
            try:
                raw = json.loads(raw)
            except ValueError as exc:
                problems.append(f"options do not parse: {exc}")
                raw = []
        if not isinstance(raw, list):
            problems.append(f"options are {type(raw).__name__}, not a list")
            raw = []
        text = d.get("question")
        if not isinstance(text, str):
            problems.append("the question text is missing")
            text = ""
        return cls(
            id=qid,
            asker=as_str(d.get("asker"), "?"),
            question=text,
            options=tuple(str(o) for o in raw),
            multi=bool(d.get("multi")),
            deadline=as_float(d.get("deadline")),
            status=as_str(d.get("status"), "pending"),
            target=as_str(d.get("target"), OPERATOR),
            error="; ".join(problems),
        )


@dataclass(frozen=True)
class KeptView:
    """A tombstone: a destroyed agent whose state, config and creds are kept."""

    name: str
    destroyed_at: float | None = None
    size: int | None = None
    has_creds: bool = False

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> KeptView:
        size = d.get("size", d.get("size_bytes"))
        return cls(
            name=as_str(d.get("name"), "?"),
            destroyed_at=as_float(d.get("destroyed_at", d.get("updated_at"))),
            size=size if isinstance(size, int) and not isinstance(size, bool) else None,
            has_creds=bool(d.get("has_creds", d.get("creds"))),
        )
