"""The shapes of the daemon's replies that the CLI and the TUI read, as TypedDicts.

The RPC handlers in ``core/api`` are annotated with them and ``hyperhive/commands``
reads replies through them, so a renamed field is a mypy error on both sides instead
of a blank column. The ``*_row`` functions at the end are the one place a row's
``to_json()`` is taken as its shape; ``tests/core/test_replies.py`` checks every shape
here against what a real daemon answers, key for key and type for type.

No ``from __future__ import annotations`` here: a TypedDict needs real annotations to
tell its ``NotRequired`` keys apart (and that test reads them).
"""

from collections.abc import Mapping
from typing import Any, NotRequired, TypedDict, cast

# --- agents ---------------------------------------------------------------------------


class AgentRecord(TypedDict):
    """An agent as stored (``models.Agent``)."""

    name: str
    role: str
    state: str
    runtime: str
    incarnation: int
    applied_sha: str | None
    created_at: float
    updated_at: float
    state_reason: str
    stale: bool
    last_turn_at: float | None


class AgentRow(AgentRecord):
    """A live agent with its live extras (``agents.list``)."""

    built_version: str | None  # the hyperhive that built its container (None: not recorded)
    host: str  # the host it runs on (`local`: the daemon's machine)
    host_state: str  # `reachable`, or why its host is not (`unreachable`, `incompatible`)
    inbox: int
    model_override: str | None


class AgentsReply(TypedDict):
    agents: list[AgentRow]


class WhoamiReply(AgentRow):
    """``agent.whoami``: the caller's own row, the version and who the operator is."""

    version: str
    operator_name: str
    operator_pronouns: str


class KeptRow(AgentRecord):
    """A tombstone (``kept.list``): what it ran, when it went, bytes kept, creds or not."""

    sha: str | None
    destroyed_at: float
    size: int
    has_creds: bool


class KeptReply(TypedDict):
    kept: list[KeptRow]


class NotesReply(TypedDict):
    name: str
    text: str
    truncated: bool


class ModelReply(TypedDict):
    """``agents.set_model``; ``cleared`` only when the override was cleared."""

    agent: str
    model: str | None
    cleared: NotRequired[bool]


class DatabaseUse(TypedDict):
    over: bool
    used_bytes: int
    watermark_bytes: int


class DaemonStatus(TypedDict):
    version: str
    pid: int
    uptime: float
    runtime: str
    isolated: bool
    database: DatabaseUse
    state_dir: str
    run_dir: str
    agents: int
    subscribers: int


# --- approvals ------------------------------------------------------------------------


class ApprovalRow(TypedDict):
    """One approval (``models.Approval``)."""

    id: int
    kind: str
    agent: str
    commit_ref: str | None
    fetched_sha: str | None
    base_sha: str | None
    status: str
    requested_by: str
    decided_by: str | None
    note: str
    error: str
    created_at: float
    updated_at: float
    decided_at: float | None
    message: str
    author: str
    host: str | None
    host_picked: bool


class ApprovalDiffs(TypedDict):
    vs_running: str
    vs_last_approved: str
    vs_previous_pending: str
    previous_pending: int | None


class ApprovalDetail(ApprovalRow):
    """``approvals.get``: the approval with its diffs."""

    diffs: ApprovalDiffs


class ApprovalsReply(TypedDict):
    approvals: list[ApprovalRow]


class SpawnReply(TypedDict):
    """``lifecycle.spawn``: the approval it made and decided, and the agent it built."""

    approval: ApprovalRow
    agent: AgentRow


# --- questions, reminders, threads ----------------------------------------------------


class Answer(TypedDict):
    options: list[str]
    text: str | None


class QuestionRow(TypedDict):
    """One question; ``broken`` names the columns of a damaged row that did not decode."""

    id: int
    asker: str
    target: str
    question: str
    options: list[str]
    multi: bool
    deadline: float
    status: str
    answer: Answer | None
    answerer: str | None
    created_at: float
    answered_at: float | None
    broken: str


class QuestionsReply(TypedDict):
    questions: list[QuestionRow]


class ThreadQuestion(QuestionRow):
    """A question among one agent's loose ends: ``asked`` by it or ``to_answer``."""

    role: NotRequired[str]


class ReminderRow(TypedDict):
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


class RemindersReply(TypedDict):
    reminders: list[ReminderRow]


class ThreadsReply(TypedDict):
    """``threads.get``: one agent's loose ends (``agent`` set) or the swarm's."""

    agent: str | None
    questions: list[ThreadQuestion]
    approvals: list[ApprovalRow]
    reminders: list[ReminderRow]


class LogsReply(TypedDict):
    name: str
    text: str
    offset: int
    size: int
    truncated: bool


class LogFollowReply(LogsReply):
    """``logs.follow``: the tail, and the id its ``log.output`` events carry."""

    id: str


# --- stats ----------------------------------------------------------------------------


class BucketRow(TypedDict):
    t: float
    count: int
    sum: float
    avg: float
    min: float
    max: float
    p50: float
    p95: float
    exact: bool


class SeriesReply(TypedDict):
    """``stats.query``: one series in buckets, oldest first."""

    agent: str
    key: str
    since: float
    until: float
    start: float
    bucket_seconds: float
    resolution: str
    buckets: list[BucketRow]


class LastValueRow(TypedDict):
    agent: str
    key: str
    ts: float
    value: float


class StatsKeysReply(TypedDict):
    series: list[LastValueRow]


# --- where a row's JSON is taken as its shape -----------------------------------------


def agent_row(data: Mapping[str, object]) -> AgentRow:
    return cast(AgentRow, data)


def agent_record(data: Mapping[str, Any]) -> AgentRecord:
    return cast(AgentRecord, data)


def approval_row(data: Mapping[str, Any]) -> ApprovalRow:
    return cast(ApprovalRow, data)


def question_row(data: Mapping[str, Any]) -> QuestionRow:
    return cast(QuestionRow, data)


def thread_question(data: Mapping[str, Any]) -> ThreadQuestion:
    return cast(ThreadQuestion, data)


def reminder_row(data: Mapping[str, Any]) -> ReminderRow:
    return cast(ReminderRow, data)


def series_reply(data: Mapping[str, Any]) -> SeriesReply:
    return cast(SeriesReply, data)


def last_value_row(data: Mapping[str, Any]) -> LastValueRow:
    return cast(LastValueRow, data)


def database_use(data: Mapping[str, object]) -> DatabaseUse:
    return cast(DatabaseUse, data)


def approval_diffs(data: Mapping[str, Any]) -> ApprovalDiffs:
    return cast(ApprovalDiffs, data)
