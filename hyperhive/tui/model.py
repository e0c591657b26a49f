"""The TUI's picture of the swarm: a snapshot plus pushed events, and the notices they raise.

Pure Python (no Textual): the app feeds it, screens read it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from hyperhive.core.names import OPERATOR
from hyperhive.tui.views import (
    AgentView,
    ApprovalView,
    KeptView,
    MessageView,
    QuestionView,
    as_float,
    as_int,
    as_str,
    rows_of,
)

FLOW_LIMIT = 500  # message rows kept for the flow; older ones are fetched on demand
INBOX_LIMIT = 200
QUEUE_POINTS = 1000
APPROVALS_KEPT = 1000  # decided ones are kept only for the screens showing them
ALARMING = frozenset({"crashed", "needs_login"})

# snapshot sections: (method, params); the key is the topic screens listen to
SNAPSHOT: dict[str, tuple[str, dict[str, Any]]] = {
    "agents": ("agents.list", {}),
    "messages": ("messages.history", {"limit": 200}),
    "inbox": ("messages.inbox", {"limit": 50}),
    "approvals": ("approvals.list", {"status": "pending"}),
    # damaged rows (an unknown status) come with the pending ones: a stored question shows
    "questions": ("questions.list", {"status": "pending"}),
    "kept": ("kept.list", {}),
    # runtime and isolation: the header warns when agents are not isolated
    "status": ("daemon.status", {}),
}
PASSTHROUGH = ("turn.", "stats.", "audit.", "pty.", "host.", "reminder.", "log.")


@dataclass(frozen=True)
class Notice:
    """Something the operator should hear about once: a toast, the bell, a desktop note."""

    key: str
    title: str
    message: str
    severity: str = "information"


@dataclass(frozen=True)
class Unavailable:
    """A section whose method the daemon does not have (yet), or that failed to load."""

    reason: str


@dataclass
class Snapshot:
    """What `load_snapshot` read: the raw results by section, and the sections that failed."""

    results: dict[str, Any] = field(default_factory=dict)
    missing: dict[str, Unavailable] = field(default_factory=dict)
    hello: dict[str, Any] | None = None


@dataclass
class Change:
    """What one batch of input changed, for the screens to route to their panes."""

    topics: set[str] = field(default_factory=set)
    notices: list[Notice] = field(default_factory=list)
    passthrough: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def merge(self, other: Change) -> None:
        self.topics |= other.topics
        self.notices += other.notices
        self.passthrough += other.passthrough

    @classmethod
    def everything(cls) -> Change:
        """Every topic: a screen coming to the front redraws it all (no reload from the daemon)."""
        return cls(topics=set(SNAPSHOT) | {"connection", "role"})


class HiveModel:
    """Agents, messages, decisions and kept state, kept current by pushed events."""

    def __init__(self) -> None:
        self.agents: dict[str, AgentView] = {}
        self.messages: dict[int, MessageView] = {}
        self.inbox: dict[int, MessageView] = {}
        self.approvals: dict[int, ApprovalView] = {}
        self.questions: dict[int, QuestionView] = {}
        self.kept: dict[str, KeptView] = {}
        self.missing: dict[str, Unavailable] = {}
        self.connected = False
        self.connection_note = "connecting to the daemon…"
        self.role = "operator"
        self.who = ""
        self.loads = 0
        self.status: dict[str, Any] = {}
        self.queue_history: list[tuple[float, float]] = []  # (ts, pending approvals)
        self._seen: set[str] = set()

    # --- reading -----------------------------------------------------------------
    @property
    def viewer(self) -> bool:
        return self.role == "viewer"

    def live_agents(self) -> list[AgentView]:
        """Agents other than drafts, manager first."""
        return sorted(
            (a for a in self.agents.values() if a.state != "draft"),
            key=lambda a: (a.role != "manager", a.name),
        )

    def drafts(self) -> list[AgentView]:
        return sorted((a for a in self.agents.values() if a.state == "draft"), key=lambda a: a.name)

    def pending_approvals(self) -> list[ApprovalView]:
        return [a for _, a in sorted(self.approvals.items()) if a.pending]

    def open_questions(self) -> list[QuestionView]:
        return [q for _, q in sorted(self.questions.items()) if q.open]

    def recipients(self) -> list[str]:
        """Who the operator can write to: every agent that can receive, and ``*``."""
        return sorted(a.name for a in self.agents.values() if a.state != "draft") + ["*"]

    @property
    def isolated(self) -> bool | None:
        """False only when the daemon says its agents are not isolated; None: unknown."""
        value = self.status.get("isolated")
        return value if isinstance(value, bool) else None

    @property
    def runtime(self) -> str:
        return as_str(self.status.get("runtime"))

    def unread(self) -> int:
        return sum(1 for m in self.inbox.values() if not m.acked)

    # --- writing -----------------------------------------------------------------
    def load(self, snap: Snapshot) -> Change:
        """Replace everything with a fresh snapshot; notices only for what is new since the last."""
        first = self.loads == 0
        self.loads += 1
        self.missing = dict(snap.missing)
        if snap.hello:
            self.role = as_str(snap.hello.get("role"), self.role)
            self.who = as_str(snap.hello.get("who"), self.who)
        r = snap.results
        self.agents = {
            a.name: a for a in (AgentView.from_json(d) for d in _dicts(r.get("agents"), "agents"))
        }
        self.messages = _by_id(
            MessageView.from_json(d) for d in _dicts(r.get("messages"), "messages")
        )
        self.inbox = _by_id(MessageView.from_json(d) for d in _dicts(r.get("inbox"), "messages"))
        self.approvals = {
            a.id: a
            for a in (ApprovalView.from_json(d) for d in _dicts(r.get("approvals"), "approvals"))
        }
        self.questions = {
            q.id: q
            for q in (QuestionView.from_json(d) for d in _dicts(r.get("questions"), "questions"))
        }
        self.kept = {
            k.name: k
            for k in (KeptView.from_json(d) for d in _dicts(r.get("kept"), "kept", "agents"))
        }
        status = r.get("status")
        self.status = status if isinstance(status, dict) else {}
        self.connected = True
        self.connection_note = ""
        change = Change.everything()
        change.topics.add("reload")  # screens re-read what they fetched themselves
        fresh = [
            *(self._approval_notice(a) for a in self.pending_approvals()),
            *(self._question_notice(q) for q in self.open_questions()),
            *(self._inbox_notice(m) for m in self.inbox.values() if not m.acked),
            *(self._agent_notice(a) for a in self.agents.values() if a.state in ALARMING),
        ]
        fresh = [n for n in fresh if n.key not in self._seen]
        self._seen.update(n.key for n in fresh)
        if first:
            # what waited before the TUI started is one summary, not a burst of toasts
            if fresh:
                change.notices.append(_summary(fresh))
        else:
            change.notices.extend(fresh)
        return change

    def record_queue(self, now: float) -> None:
        """Remember the approval queue length at ``now`` (the swarm-wide queue chart)."""
        n = float(len(self.pending_approvals()))
        if not self.queue_history or self.queue_history[-1][1] != n:
            self.queue_history.append((now, n))
            del self.queue_history[:-QUEUE_POINTS]

    def mark_read(self, ids: Iterable[int]) -> Change:
        """The operator read these inbox messages (the daemon publishes no event for it)."""
        for i in ids:
            if i in self.inbox:
                self.inbox[i] = replace(self.inbox[i], acked=True)
            if i in self.messages:
                self.messages[i] = replace(self.messages[i], acked=True)
        return Change(topics={"inbox", "messages"})

    def disconnected(self, note: str) -> Change:
        self.connected = False
        self.connection_note = note
        return Change(topics={"connection"})

    def apply(self, events: Iterable[tuple[str, dict[str, Any]]]) -> Change:
        """Fold a batch of pushed events into the model."""
        change = Change()
        for name, data in events:
            self._apply_one(name, data if isinstance(data, dict) else {}, change)
        return change

    def _apply_one(self, name: str, data: dict[str, Any], change: Change) -> None:
        if name.startswith(PASSTHROUGH):
            change.passthrough.append((name, data))
            change.topics.add(name.split(".", 1)[0])
            return
        handler = _HANDLERS.get(name)
        if handler is not None:
            handler(self, data, change)

    def _notify(self, notice: Notice, change: Change) -> None:
        if notice.key not in self._seen:
            self._seen.add(notice.key)
            change.notices.append(notice)

    def _on_agent(self, data: dict[str, Any], change: Change) -> None:
        agent = AgentView.from_json(data)
        before = self.agents.get(agent.name)
        change.topics.add("agents")
        if agent.state == "destroyed":
            self.agents.pop(agent.name, None)
            self.kept[agent.name] = KeptView(
                agent.name, destroyed_at=as_float(data.get("updated_at"))
            )
            change.topics.add("kept")
            return
        self.agents[agent.name] = agent
        if agent.name in self.kept:
            del self.kept[agent.name]
            change.topics.add("kept")
        if agent.state in ALARMING and (before is None or before.state != agent.state):
            self._seen.discard(self._agent_notice(agent).key)
            self._notify(self._agent_notice(agent), change)

    def _on_agent_purged(self, data: dict[str, Any], change: Change) -> None:
        name = as_str(data.get("name"))
        self.agents.pop(name, None)
        self.kept.pop(name, None)
        change.topics |= {"agents", "kept"}

    def _on_sent(self, data: dict[str, Any], change: Change) -> None:
        msg = MessageView.from_json(data)
        self.messages[msg.id] = msg
        if len(self.messages) > FLOW_LIMIT:
            del self.messages[next(iter(self.messages))]
        change.topics.add("messages")
        if msg.recipient == OPERATOR:
            self.inbox[msg.id] = msg
            if len(self.inbox) > INBOX_LIMIT:
                del self.inbox[next(iter(self.inbox))]
            change.topics.add("inbox")
            self._notify(self._inbox_notice(msg), change)
        else:
            self._bump_inbox(msg.recipient, +1, change)

    def _on_delivered(self, data: dict[str, Any], change: Change) -> None:
        ids = _ids(data)
        for i in ids:
            if (msg := self.messages.get(i)) is not None:
                self.messages[i] = replace(msg, delivered=True, deliveries=msg.deliveries + 1)
                change.topics.add("messages")
        self._bump_inbox(as_str(data.get("agent")), -len(ids), change)

    def _on_acked(self, data: dict[str, Any], change: Change) -> None:
        for i in _ids(data):
            if (msg := self.messages.get(i)) is not None:
                self.messages[i] = replace(msg, acked=True)
                change.topics.add("messages")

    def _on_requeued(self, data: dict[str, Any], change: Change) -> None:
        ids = _ids(data)
        unseen = data.get("unseen") is True  # a delivery taken back: it did not count
        for i in ids:
            if (msg := self.messages.get(i)) is not None:
                count = max(0, msg.deliveries - 1) if unseen else msg.deliveries
                self.messages[i] = replace(msg, delivered=False, deliveries=count)
                change.topics.add("messages")
        self._bump_inbox(as_str(data.get("agent")), len(ids), change)

    def _bump_inbox(self, name: str, delta: int, change: Change) -> None:
        agent = self.agents.get(name)
        if agent is not None and delta:
            self.agents[name] = replace(agent, inbox=max(0, agent.inbox + delta))
            change.topics.add("agents")

    def _on_approval(self, data: dict[str, Any], change: Change) -> None:
        approval = ApprovalView.from_json(data)
        self.approvals[approval.id] = approval
        change.topics.add("approvals")
        if len(self.approvals) > APPROVALS_KEPT:
            decided = sorted(i for i, a in self.approvals.items() if not a.pending)
            for i in decided[: len(self.approvals) - APPROVALS_KEPT]:
                del self.approvals[i]
        if approval.pending:
            self._notify(self._approval_notice(approval), change)

    def _on_question(self, data: dict[str, Any], change: Change) -> None:
        question = QuestionView.from_json(data)
        if question.target not in (OPERATOR, ""):
            return  # a peer question: not the operator's to answer
        self.questions[question.id] = question
        change.topics.add("questions")
        if question.open:
            self._notify(self._question_notice(question), change)

    def _on_question_closed(self, data: dict[str, Any], change: Change) -> None:
        qid = as_int(data.get("id"), -1)
        if self.questions.pop(qid, None) is not None:
            change.topics.add("questions")

    # --- notices -----------------------------------------------------------------
    @staticmethod
    def _approval_notice(a: ApprovalView) -> Notice:
        what = f"{a.kind} for {a.agent}"
        return Notice(f"approval:{a.id}", "approval requested", f"#{a.id} {what}", "warning")

    @staticmethod
    def _question_notice(q: QuestionView) -> Notice:
        return Notice(f"question:{q.id}", f"question from {q.asker}", q.question[:200], "warning")

    @staticmethod
    def _inbox_notice(m: MessageView) -> Notice:
        return Notice(f"message:{m.id}", f"message from {m.sender}", m.body[:200])

    @staticmethod
    def _agent_notice(a: AgentView) -> Notice:
        what = "needs login" if a.needs_login else "crashed"
        detail = f": {a.state_reason}" if a.state_reason else ""
        return Notice(f"agent:{a.name}:{a.state}", f"{a.name} {what}", f"{a.name}{detail}", "error")


_HANDLERS = {
    "agent.created": HiveModel._on_agent,
    "agent.changed": HiveModel._on_agent,
    "agent.purged": HiveModel._on_agent_purged,
    "message.sent": HiveModel._on_sent,
    "message.delivered": HiveModel._on_delivered,
    "message.acked": HiveModel._on_acked,
    "message.requeued": HiveModel._on_requeued,
    "approval.created": HiveModel._on_approval,
    "approval.changed": HiveModel._on_approval,
    "question.asked": HiveModel._on_question,
    "question.answered": HiveModel._on_question_closed,
    "question.cancelled": HiveModel._on_question_closed,
    "question.expired": HiveModel._on_question_closed,
}


def _summary(notices: list[Notice]) -> Notice:
    kinds: dict[str, int] = {}
    for n in notices:
        kind = n.key.split(":", 1)[0]
        kinds[kind] = kinds.get(kind, 0) + 1
    words = {"approval": "approval", "question": "question", "message": "unread message"}
    parts = [
        f"{count} {words.get(kind, 'agent alert')}{'s' if count > 1 else ''}"
        for kind, count in kinds.items()
    ]
    severity = "error" if "agent" in kinds else "warning"
    return Notice("summary", "waiting for you", ", ".join(parts), severity)


def _dicts(result: Any, *keys: str) -> list[dict[str, Any]]:
    return [d for d in rows_of(result, *keys) if isinstance(d, dict)]


def _by_id(messages: Iterable[MessageView]) -> dict[int, MessageView]:
    return {m.id: m for m in sorted(messages, key=lambda m: m.id)}


def _ids(data: Mapping[str, Any]) -> list[int]:
    raw = data.get("ids")
    if not isinstance(raw, list):
        return []
    return [i for i in raw if isinstance(i, int) and not isinstance(i, bool)]
