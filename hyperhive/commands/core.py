"""Core verbs: the daemon, agents, messages and the operator's inbox."""

from __future__ import annotations

import argparse
from typing import Any

from hyperhive.commands import Context, Output, Verb, ago, table
from hyperhive.core.replies import AgentsReply, DaemonStatus


async def daemon(ctx: Context) -> Output:
    from hyperhive.core.daemon import run_daemon

    await run_daemon(ctx.settings, swarm=not ctx.args.no_swarm, ssh=ctx.args.ssh)
    return None


def _daemon_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--no-swarm",
        action="store_true",
        help="serve the sockets without running any agent (maintenance)",
    )
    p.add_argument(
        "--ssh",
        metavar="HOST:PORT",
        help="also serve the TUI over SSH (keys in <state>/ssh/authorized_keys)",
    )


async def status(ctx: Context) -> Output:
    data: DaemonStatus = await ctx.call("daemon.status")
    lines = [f"{k}: {v}" for k, v in data.items() if k not in ("isolated", "database")]
    if data.get("isolated") is False:
        lines.append(
            f"isolated: NO: the {data.get('runtime')} runtime runs agents as plain processes "
            "on this host; they are not isolated from it or from each other"
        )
    elif "isolated" in data:
        lines.append("isolated: yes")
    db = data.get("database")
    if isinstance(db, dict):
        used, limit = db.get("used_bytes", 0), db.get("watermark_bytes", 0)
        lines.append(f"database: {_mib(used)} in use, watermark {_mib(limit)}")
        if db.get("over"):
            lines.append(
                "database: OVER THE WATERMARK: agent writes are refused; free space "
                "(retention settings, purge agents) or raise limits.db_watermark_bytes"
            )
    return data, "\n".join(lines)


def _mib(n: object) -> str:
    return f"{(n if isinstance(n, int | float) else 0) / 1048576:.1f} MiB"


async def agents(ctx: Context) -> Output:
    data: AgentsReply = await ctx.call("agents.list")
    rows = [
        (
            a["name"],
            a["role"],
            (a["state"] if a["host_state"] == "reachable" else f"unreachable ({a['host']})")
            + (" (stale)" if a.get("stale") else "")
            + (f": {a['state_reason'][:60]}" if a.get("state_reason") else ""),
            a.get("inbox", 0),
            ago(a.get("last_turn_at")),
            (a.get("applied_sha") or "-")[:12],
        )
        for a in data["agents"]
    ]
    return data["agents"], table(rows, ["NAME", "ROLE", "STATE", "INBOX", "LAST TURN", "SHA"])


def _send_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("to", metavar="TO", help="an agent, 'manager', or '*' for every agent")
    p.add_argument("body", metavar="BODY", help="the message text")
    p.add_argument("--reply-to", type=int, help="id of the message this answers")


async def send(ctx: Context) -> Output:
    a = ctx.args
    data = await ctx.call("messages.send", to=a.to, body=a.body, in_reply_to=a.reply_to)
    return data, f"sent #{', #'.join(map(str, data['ids']))} to {', '.join(data['recipients'])}"


def _message_rows(messages: list[dict[str, Any]]) -> str:
    rows = [
        (
            m["id"],
            ago(m["ts"]),
            m["sender"],
            m["recipient"],
            m["body"].replace("\n", " ")[:80],
        )
        for m in messages
    ]
    return table(rows, ["ID", "AGE", "FROM", "TO", "BODY"])


def _messages_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--agent", help="only messages to or from this agent")
    p.add_argument("--limit", type=int, default=50, help="how many (newest), default 50")


async def messages(ctx: Context) -> Output:
    data = await ctx.call("messages.history", agent=ctx.args.agent, limit=ctx.args.limit)
    return data["messages"], _message_rows(data["messages"])


def _inbox_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--limit", type=int, default=50, help="how many (newest), default 50")
    p.add_argument("--mark-read", action="store_true", help="mark the listed messages read")


async def inbox(ctx: Context) -> Output:
    data = await ctx.call("messages.inbox", limit=ctx.args.limit)
    if ctx.args.mark_read and data["messages"]:
        await ctx.call("messages.mark_read", ids=[m["id"] for m in data["messages"]])
    return data["messages"], _message_rows(data["messages"])


VERBS = [
    Verb("daemon", "run the host daemon in the foreground", daemon, _daemon_args),
    Verb("status", "show the daemon's status", status),
    Verb("agents", "list the agents and their states", agents),
    Verb("send", "send a message as the operator", send, _send_args),
    Verb("messages", "show recent messages", messages, _messages_args),
    Verb("inbox", "show messages addressed to the operator", inbox, _inbox_args),
]
