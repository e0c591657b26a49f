"""The agent's tools for loose ends: ask, answer, remind, get_open_threads, get_logs.

Each tool forwards to one daemon method through `HiveTools.call`; every permission
(who may answer, whose reminders, whose log) is decided by the daemon. Text another
agent wrote (question texts, log lines) is fenced with a per-call token before the
model reads it. `register` adds the tools to a server; `TOOLS` names them.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Annotated, Any

from mcp.server.mcpserver.exceptions import ToolError
from pydantic import Field

from hyperhive.core.errors import Refused
from hyperhive.core.safetext import fence, new_fence_token
from hyperhive.core.settings import OPERATOR

if TYPE_CHECKING:
    from mcp.server.mcpserver import MCPServer

    from hyperhive.agent.mcp_server import HiveTools

TOOLS = ("ask", "answer", "remind", "cancel_reminder", "get_open_threads", "get_logs")

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


def register(server: MCPServer[Any], tools: HiveTools) -> None:
    """Add the loose-end tools to ``server`` (agents and the manager alike)."""

    def tool(description: str) -> Any:
        return server.tool(description=description, structured_output=False)

    @tool(
        "Ask a question. to='' or 'operator' asks the human operator; to='<agent>' asks "
        "another agent (it gets the question as a message and answers with `answer`). "
        "Returns a question id at once; the answer arrives later as a message from "
        "'system' ('[answer to question #N from <who>] ...'), so do not wait or poll for "
        "it now. You cannot ask yourself."
    )
    async def ask(
        question: Annotated[
            str, Field(description="the question, self-contained", min_length=1, max_length=4096)
        ],
        to: Annotated[
            str,
            Field(description="'operator' (default) or an agent's name", max_length=32),
        ] = "operator",
        options: Annotated[
            list[Annotated[str, Field(min_length=1, max_length=256)]] | None,
            Field(description="choices to pick from (at most 16)", max_length=16),
        ] = None,
        multi: Annotated[bool, Field(description="allow picking several options")] = False,
        ttl_seconds: Annotated[
            int | None,
            Field(description="expire the question after this many seconds", ge=1, le=TTL_MAX),
        ] = None,
    ) -> str:
        target = to.strip()
        if target not in ("", OPERATOR):
            from hyperhive.agent.mcp_server import check_send_allowed

            try:  # a peer question is a message to the peer: the same allow-list holds
                check_send_allowed(target, manager=tools.manager, etc_dir=tools.etc_dir)
            except Refused as exc:
                raise ToolError(f"ask refused: {exc.message}") from exc
        params: dict[str, Any] = {
            "question": question,
            "options": options or [],
            "multi": multi,
            "to": target or None,
        }
        if ttl_seconds is not None:
            params["ttl_seconds"] = ttl_seconds
        got = await tools.call("ask", "questions.ask", **params)
        who = "the operator" if got.get("target") in (None, "operator") else got["target"]
        return (
            f"question #{got.get('id')} is queued for {who}. The answer arrives later as a "
            "message from system; do not wait for it in this turn — finish what you can "
            "and end the turn."
        )

    @tool(
        "Answer a question another agent asked you ('[question #N from <agent>] ...'). "
        "Only the agent asked (or the operator) may answer. For a question with options, "
        "answer with one option exactly (several joined by ', ' if it allows several); "
        "anything else is sent as free text."
    )
    async def answer(
        id: Annotated[int, Field(description="the question id", ge=1)],
        answer: Annotated[str, Field(description="your answer", min_length=1, max_length=4096)],
    ) -> str:
        got = await tools.call("answer", "questions.reply", id=id, answer=answer)
        return f"answered question #{got['id']}; {got['asker']} is told."

    @tool(
        "Set a reminder: the daemon wakes you with a message from 'system' "
        "('[reminder #N] <message>') after delay_seconds, or at the unix time `at` (give "
        "exactly one). It survives restarts. For details longer than a few KiB, write "
        "them to a file under /state and pass its path as file_path."
    )
    async def remind(
        message: Annotated[
            str, Field(description="what to remind you of", min_length=1, max_length=4000)
        ],
        delay_seconds: Annotated[
            float | None, Field(description="seconds from now", ge=0, le=DELAY_MAX)
        ] = None,
        at: Annotated[float | None, Field(description="unix timestamp (seconds)")] = None,
        file_path: Annotated[
            str | None, Field(description="a file with the details", max_length=1024)
        ] = None,
    ) -> str:
        got = await tools.call(
            "remind",
            "reminders.create",
            message=message,
            delay_seconds=delay_seconds,
            at=at,
            file_path=file_path,
        )
        return f"reminder #{got['id']} is set for {_when(got['due_at'])}."

    @tool("Cancel one of your pending reminders by id (get_open_threads lists them).")
    async def cancel_reminder(
        id: Annotated[int, Field(description="the reminder id", ge=1)],
    ) -> str:
        got = await tools.call("cancel_reminder", "reminders.cancel", id=id)
        return f"reminder #{got['id']} is cancelled."

    @tool(
        "Your loose ends: open questions you asked or must answer, pending approvals that "
        "concern you, and your pending reminders. The manager sees the whole swarm's."
    )
    async def get_open_threads() -> str:
        got = await tools.call("get_open_threads", "threads.get")
        return threads_text(got, new_fence_token())

    @tool(
        "The last lines of your harness log (the process that runs your turns), to "
        "diagnose failures. The manager may name another agent."
    )
    async def get_logs(
        lines: Annotated[int, Field(description="how many lines", ge=1, le=5000)] = 100,
        agent: Annotated[
            str | None, Field(description="another agent (manager only)", max_length=32)
        ] = None,
    ) -> str:
        got = await tools.call("get_logs", "logs.tail", name=agent, lines=lines)
        if not got.get("text"):
            return f"(the harness log of {got.get('name')} is empty)"
        head = f"harness log of {got.get('name')}, last {lines} lines"
        if got.get("truncated"):
            head += " (older lines not shown)"
        return head + ":\n" + fence(str(got["text"]).rstrip("\n"), new_fence_token())
