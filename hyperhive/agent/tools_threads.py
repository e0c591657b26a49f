"""The agent's tools for loose ends: ask, answer, remind, get_open_threads, get_logs.

Each tool forwards to one daemon method through `HiveTools.call`; every permission
(who may answer, whose reminders, whose log) is decided by the daemon. Text another
agent wrote (question texts, log lines) is fenced with a per-call token before the
model reads it. `SPECS` are their entries in the tool table (`tool_specs.TOOLS`).
"""

from __future__ import annotations

import time
from typing import Any

from hyperhive.agent.hive_tools import (
    HiveTools,
    ToolFailure,
    ToolSpec,
    check_send_allowed,
    object_schema,
)
from hyperhive.core.errors import Refused
from hyperhive.core.names import OPERATOR
from hyperhive.core.safetext import fence, new_fence_token

TTL_MAX = 6 * 3600
DELAY_MAX = 90 * 86400


def _when(ts: object) -> str:
    if not isinstance(ts, int | float):
        return "?"
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(ts))


def _in(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f}s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def threads_text(got: dict[str, Any], token: str) -> str:
    """The loose ends as the model reads them; question texts are fenced."""
    me = got.get("agent")
    lines: list[str] = []
    now = time.time()
    questions = got.get("questions") or []
    lines.append(f"open questions ({len(questions)}):")
    for q in questions:
        role = q.get("role")
        if role == "to_answer":
            what = f"#{q['id']} from {q['asker']}, for you to answer with answer(id={q['id']})"
        elif role == "asked":
            what = f"#{q['id']} you asked {q['target']}"
        else:
            what = f"#{q['id']} {q['asker']} asked {q['target']}"
        left = float(q.get("deadline") or now) - now
        options = f" options: {' | '.join(q['options'])}" if q.get("options") else ""
        lines.append(f"- {what} (expires in {_in(max(left, 0))}){options}")
        lines.append(fence(str(q.get("question", "")), token))
    approvals = got.get("approvals") or []
    lines.append(f"pending approvals ({len(approvals)}):")
    for a in approvals:
        subject = str(a.get("message") or "").partition("\n")[0]
        lines.append(
            f"- #{a['id']} {a['kind']} {a['agent']} (requested by {a['requested_by']})"
            + (f": {subject[:200]}" if subject else "")
        )
    reminders = got.get("reminders") or []
    lines.append(f"pending reminders ({len(reminders)}):")
    for r in reminders:
        owner = "" if me else f"{r['agent']}: "
        path = f" (file: {r['file_path']})" if r.get("file_path") else ""
        lines.append(f"- #{r['id']} {owner}due {_when(r['due_at'])}{path}")
        lines.append(fence(str(r.get("body", "")), token))
    return "\n".join(lines)


async def _ask(tools: HiveTools, a: dict[str, Any]) -> str:
    target = str(a.get("to") or "").strip()
    if target not in ("", OPERATOR):
        try:  # a peer question is a message to the peer: the same allow-list holds
            check_send_allowed(target, manager=tools.manager, etc_dir=tools.etc_dir)
        except Refused as exc:
            raise ToolFailure(f"ask refused: {exc.message}") from exc
    params: dict[str, Any] = {
        "question": a["question"],
        "options": a.get("options") or [],
        "multi": a.get("multi", False),
        "to": target or None,
    }
    if a.get("ttl_seconds") is not None:
        params["ttl_seconds"] = a["ttl_seconds"]
    got = await tools.call("ask", "questions.ask", **params)
    who = "the operator" if got.get("target") in (None, OPERATOR) else got["target"]
    return (
        f"question #{got.get('id')} is queued for {who}. The answer arrives later as a "
        "message from system; do not wait for it in this turn — finish what you can "
        "and end the turn."
    )


async def _answer(tools: HiveTools, a: dict[str, Any]) -> str:
    got = await tools.call("answer", "questions.reply", id=a["id"], answer=a["answer"])
    return f"answered question #{got['id']}; {got['asker']} is told."


async def _remind(tools: HiveTools, a: dict[str, Any]) -> str:
    got = await tools.call(
        "remind",
        "reminders.create",
        message=a["message"],
        delay_seconds=a.get("delay_seconds"),
        at=a.get("at"),
        file_path=a.get("file_path"),
    )
    return f"reminder #{got['id']} is set for {_when(got['due_at'])}."


async def _cancel_reminder(tools: HiveTools, a: dict[str, Any]) -> str:
    got = await tools.call("cancel_reminder", "reminders.cancel", id=a["id"])
    return f"reminder #{got['id']} is cancelled."


async def _get_open_threads(tools: HiveTools, a: dict[str, Any]) -> str:
    got = await tools.call("get_open_threads", "threads.get")
    return threads_text(got, new_fence_token())


async def _get_logs(tools: HiveTools, a: dict[str, Any]) -> str:
    lines = a.get("lines", 100)
    got = await tools.call("get_logs", "logs.tail", name=a.get("agent"), lines=lines)
    if not got.get("text"):
        return f"(the harness log of {got.get('name')} is empty)"
    head = f"harness log of {got.get('name')}, last {lines} lines"
    if got.get("truncated"):
        head += " (older lines not shown)"
    return head + ":\n" + fence(str(got["text"]).rstrip("\n"), new_fence_token())


_ID = {"type": "integer", "minimum": 1, "maximum": 2**53, "description": "the id"}

SPECS: tuple[ToolSpec, ...] = (
    ToolSpec(
        "ask",
        "Ask a question. to='' or 'operator' asks the human operator; to='<agent>' asks "
        "another agent (it gets the question as a message and answers with `answer`). "
        "Returns a question id at once; the answer arrives later as a message from "
        "'system' ('[answer to question #N from <who>] ...'), so do not wait or poll for "
        "it now. You cannot ask yourself.",
        object_schema(
            ["question"],
            question={
                "type": "string",
                "minLength": 1,
                "maxLength": 4096,
                "description": "the question, self-contained",
            },
            to={
                "type": "string",
                "maxLength": 32,
                "default": OPERATOR,
                "description": "'operator' (default) or an agent's name",
            },
            options={
                "type": ["array", "null"],
                "items": {"type": "string", "minLength": 1, "maxLength": 256},
                "maxItems": 16,
                "description": "choices to pick from (at most 16)",
            },
            multi={"type": "boolean", "default": False, "description": "allow several"},
            ttl_seconds={
                "type": ["integer", "null"],
                "minimum": 1,
                "maximum": TTL_MAX,
                "description": "expire the question after this many seconds",
            },
        ),
        _ask,
    ),
    ToolSpec(
        "answer",
        "Answer a question another agent asked you ('[question #N from <agent>] ...'). "
        "Only the agent asked (or the operator) may answer. For a question with options, "
        "answer with one option exactly (several joined by ', ' if it allows several); "
        "anything else is sent as free text.",
        object_schema(
            ["id", "answer"],
            id={**_ID, "description": "the question id"},
            answer={
                "type": "string",
                "minLength": 1,
                "maxLength": 4096,
                "description": "your answer",
            },
        ),
        _answer,
    ),
    ToolSpec(
        "remind",
        "Set a reminder: the daemon wakes you with a message from 'system' "
        "('[reminder #N] <message>') after delay_seconds, or at the unix time `at` (give "
        "exactly one). It survives restarts. For details longer than a few KiB, write "
        "them to a file under /state and pass its path as file_path.",
        object_schema(
            ["message"],
            message={
                "type": "string",
                "minLength": 1,
                "maxLength": 4000,
                "description": "what to remind you of",
            },
            delay_seconds={
                "type": ["number", "null"],
                "minimum": 0,
                "maximum": DELAY_MAX,
                "description": "seconds from now",
            },
            at={"type": ["number", "null"], "minimum": 0, "description": "unix time (seconds)"},
            file_path={
                "type": ["string", "null"],
                "maxLength": 1024,
                "description": "a file with the details",
            },
        ),
        _remind,
    ),
    ToolSpec(
        "cancel_reminder",
        "Cancel one of your pending reminders by id (get_open_threads lists them).",
        object_schema(["id"], id={**_ID, "description": "the reminder id"}),
        _cancel_reminder,
    ),
    ToolSpec(
        "get_open_threads",
        "Your loose ends: open questions you asked or must answer, pending approvals that "
        "concern you, and your pending reminders. The manager sees the whole swarm's.",
        object_schema(),
        _get_open_threads,
    ),
    ToolSpec(
        "get_logs",
        "The last lines of your harness log (the process that runs your turns), to "
        "diagnose failures. The manager may name another agent.",
        object_schema(
            lines={
                "type": "integer",
                "minimum": 1,
                "maximum": 5000,
                "default": 100,
                "description": "how many lines",
            },
            agent={
                "type": ["string", "null"],
                "maxLength": 32,
                "description": "another agent (manager only)",
            },
        ),
        _get_logs,
    ),
)
TOOLS = tuple(spec.name for spec in SPECS)
