"""Verbs for the agents' loose ends and operator edges: reminders, threads, logs, model."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from hyperhive.commands import Context, Output, Verb, ago, table
from hyperhive.core.ages import until
from hyperhive.core.errors import DaemonUnavailable, InvalidInput, NotFound, Refused
from hyperhive.core.replies import (
    AgentsReply,
    LogFollowReply,
    LogsReply,
    ModelReply,
    ReminderRow,
    RemindersReply,
    ThreadsReply,
)
from hyperhive.core.safetext import terminal_safe


def _cell(text: object, width: int = 60) -> str:
    flat = terminal_safe(" ".join(str(text or "").split()), newlines=False)
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def reminder_rows(reminders: Sequence[ReminderRow]) -> str:
    rows = []
    for r in reminders:
        when = until(r["due_at"]) if r["status"] == "pending" else ago(r.get("decided_at"))
        rows.append(
            (
                r["id"],
                _cell(r["agent"], 12),
                r["status"],
                when,
                _cell(r["body"]),
                _cell(r.get("file_path") or "", 30),
            )
        )
    return table(rows, ["ID", "AGENT", "STATUS", "WHEN", "MESSAGE", "FILE"])


def _reminders_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("name", metavar="NAME", nargs="?", help="only this agent's")
    p.add_argument("--all", action="store_true", help="fired and cancelled ones too")


async def reminders(ctx: Context) -> Output:
    a = ctx.args
    status = None if a.all else "pending"
    listed: RemindersReply = await ctx.call("reminders.list", agent=a.name, status=status)
    found = listed["reminders"]
    if not found:
        return found, "no pending reminders" if status else "no reminders"
    return found, reminder_rows(found)


def _id(p: argparse.ArgumentParser) -> None:
    p.add_argument("id", metavar="ID", type=int, help="the reminder id")


async def remind_cancel(ctx: Context) -> Output:
    done: ReminderRow = await ctx.call("reminders.cancel", id=ctx.args.id)
    return done, f"cancelled reminder #{done['id']} of {done['agent']}"


def threads_text(got: ThreadsReply) -> str:
    parts = []
    questions = got["questions"]
    rows = [
        (
            q["id"],
            _cell(q["asker"], 12),
            _cell(q["target"], 12),
            q.get("role", ""),
            until(q["deadline"]),
            _cell(q["question"]),
        )
        for q in questions
    ]
    parts.append(
        f"open questions ({len(questions)})\n"
        + table(rows, ["ID", "ASKER", "TO", "ROLE", "EXPIRES", "QUESTION"])
    )
    approvals = got["approvals"]
    approval_rows = [
        (
            a["id"],
            a["kind"],
            a["agent"],
            _cell(a["requested_by"], 12),
            _cell(str(a.get("message") or "").partition("\n")[0]),
        )
        for a in approvals
    ]
    parts.append(
        f"pending approvals ({len(approvals)})\n"
        + table(approval_rows, ["ID", "KIND", "AGENT", "BY", "WHY"])
    )
    parts.append(f"pending reminders ({len(got['reminders'])})\n" + reminder_rows(got["reminders"]))
    return "\n\n".join(parts)


def _threads_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("name", metavar="NAME", nargs="?", help="one agent (default: the swarm)")


async def threads(ctx: Context) -> Output:
    got: ThreadsReply = await ctx.call("threads.get", agent=ctx.args.name)
    return got, threads_text(got)


def _logs_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("name", metavar="NAME", help="the agent")
    p.add_argument("-n", "--lines", type=int, default=100, help="how many lines (default 100)")
    p.add_argument("-f", "--follow", action="store_true", help="keep printing new lines")


async def logs(ctx: Context) -> Output:
    a = ctx.args
    async with ctx.client() as client:
        if not a.follow:
            got: LogsReply = await client.call("logs.tail", name=a.name, lines=a.lines)
            return got, terminal_safe(got["text"].rstrip("\n"))
        # the daemon watches the log and pushes what is appended: nothing polls here
        await client.subscribe(["log.*"])
        followed: LogFollowReply = await client.call("logs.follow", name=a.name, lines=a.lines)
        _emit(followed, as_json=a.json)
        async for event in client.events():
            data = event.get("data") or {}
            if data.get("id") != followed["id"]:
                continue
            if event.get("event") == "log.output":
                _emit(data, as_json=a.json)
            elif event.get("event") == "log.closed":
                raise Refused(f"stopped following {a.name}'s log: {data.get('reason')}")
        raise DaemonUnavailable("the daemon closed the connection")


def _emit(got: Mapping[str, Any], *, as_json: bool) -> None:
    if as_json:
        print(json.dumps(got), flush=True)
    elif got["text"]:
        sys.stdout.write(terminal_safe(got["text"]))
        sys.stdout.flush()


def _model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("name", metavar="NAME", help="the agent")
    p.add_argument("model", metavar="MODEL", nargs="?", help="the model from its next turn")
    p.add_argument("--clear", action="store_true", help="use its config's model again")


async def model(ctx: Context) -> Output:
    a = ctx.args
    if a.clear and a.model:
        raise InvalidInput("give MODEL or --clear, not both")
    if a.clear:
        done: ModelReply = await ctx.call("agents.set_model", name=a.name, model=None)
        said = "cleared the model override" if done.get("cleared") else "had no model override"
        return done, f"{a.name}: {said}; its config's model applies from the next turn"
    if a.model:
        set_: ModelReply = await ctx.call("agents.set_model", name=a.name, model=a.model)
        return set_, f"{a.name}: model {a.model} from the next turn"
    listed_agents: AgentsReply = await ctx.call("agents.list")
    agents = listed_agents["agents"]
    found = next((x for x in agents if x["name"] == a.name), None)
    if found is None:
        raise NotFound(f"no agent named {a.name!r}")
    current = found.get("model_override")
    data = {"agent": a.name, "model": current}
    return data, f"{a.name}: " + (f"model override {current}" if current else "no model override")


VERBS = [
    Verb("reminders", "list pending reminders (an agent's, or all)", reminders, _reminders_args),
    Verb("remind-cancel", "cancel a pending reminder", remind_cancel, _id),
    Verb("threads", "an agent's loose ends (or the swarm's)", threads, _threads_args),
    Verb("logs", "the tail of an agent's harness log (-f follows it)", logs, _logs_args),
    Verb("model", "show, set or --clear an agent's model override", model, _model_args),
]
