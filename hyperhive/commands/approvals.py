"""Verbs for the approval queue and the config repos."""

from __future__ import annotations

import argparse

from hyperhive.commands import Context, Output, Verb, ago, table
from hyperhive.core.replies import ApprovalDetail, ApprovalRow, ApprovalsReply
from hyperhive.core.safetext import terminal_safe


def _approval_rows(approvals: list[ApprovalRow]) -> str:
    rows = [
        (
            a["id"],
            a["kind"],
            a["agent"],
            a.get("host") or "-",
            a["status"],
            (a.get("fetched_sha") or "-")[:12],
            a["requested_by"],
            ago(a["created_at"]),
            _subject(a.get("message")),
            a.get("error") or a.get("note") or "",
        )
        for a in approvals
    ]
    return table(rows, ["ID", "KIND", "AGENT", "HOST", "STATUS", "SHA", "BY", "AGE", "WHY", "NOTE"])


def _subject(message: object, width: int = 50) -> str:
    """The first line of a commit message, terminal-safe."""
    line = str(message or "").partition("\n")[0].strip()
    line = terminal_safe(line, newlines=False)
    return line if len(line) <= width else line[: width - 1] + "…"


def _name(p: argparse.ArgumentParser) -> None:
    p.add_argument("name", metavar="NAME", help="the agent")


def _id(p: argparse.ArgumentParser) -> None:
    p.add_argument("id", metavar="ID", type=int, help="the approval id")


async def request_spawn(ctx: Context) -> Output:
    a: ApprovalRow = await ctx.call("approvals.request_spawn", name=ctx.args.name)
    return a, f"approval #{a['id']}: spawn {a['agent']} is pending"


def _approvals_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--status", help="pending, approved, building, deployed, failed or denied")
    p.add_argument("--agent", help="only this agent's")
    p.add_argument("--limit", type=int, default=100)


async def approvals(ctx: Context) -> Output:
    a = ctx.args
    data: ApprovalsReply = await ctx.call(
        "approvals.list", status=a.status, agent=a.agent, limit=a.limit
    )
    return data["approvals"], _approval_rows(data["approvals"])


async def show_approval(ctx: Context) -> Output:
    a: ApprovalDetail = await ctx.call("approvals.get", id=ctx.args.id)
    head = _approval_rows([a])
    diffs = a["diffs"]
    text = (
        f"{head}\n\n--- diff vs running ---\n{diffs['vs_running'] or '(no change)'}"
        f"\n--- diff vs last approved ---\n{diffs['vs_last_approved'] or '(no change)'}"
    )
    if diffs.get("previous_pending") is not None:
        text += (
            f"\n--- diff vs the previous pending proposal #{diffs['previous_pending']} ---\n"
            f"{diffs['vs_previous_pending'] or '(no change)'}"
        )
    if a.get("message"):
        why = terminal_safe(a["message"])
        author = terminal_safe(a.get("author") or "?", newlines=False)
        text = f"{head}\n\ncommit message (by {author}):\n{why}" + text[len(head) :]
    return a, text


def _approve_args(p: argparse.ArgumentParser) -> None:
    _id(p)
    p.add_argument("--no-wait", action="store_true", help="return before the build ends")


async def approve(ctx: Context) -> Output:
    a: ApprovalRow = await ctx.call("approvals.approve", id=ctx.args.id, wait=not ctx.args.no_wait)
    extra = f": {a['error']}" if a.get("error") else ""
    return a, f"approval #{a['id']} {a['kind']} {a['agent']}: {a['status']}{extra}"


def _deny_args(p: argparse.ArgumentParser) -> None:
    _id(p)
    p.add_argument("--note", default="", help="why; the manager reads it")


async def deny(ctx: Context) -> Output:
    a: ApprovalRow = await ctx.call("approvals.deny", id=ctx.args.id, note=ctx.args.note)
    return a, f"approval #{a['id']} denied"


def _tags_args(p: argparse.ArgumentParser) -> None:
    _name(p)
    p.add_argument("--kind", help="proposal, approved, building, deployed, failed or denied")


async def tags(ctx: Context) -> Output:
    data = await ctx.call("repos.tags", agent=ctx.args.name, kind=ctx.args.kind)
    rows = [
        (
            t["name"],
            t["sha"][:12],
            ago(t.get("tagged_at")),
            _subject(t.get("why")),
            (t.get("message") or "")[:60],
        )
        for t in data["tags"]
    ]
    return data["tags"], table(rows, ["TAG", "SHA", "AGE", "WHY", "MESSAGE"])


def _meta_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--limit", type=int, default=50)


async def meta_log(ctx: Context) -> Output:
    data = await ctx.call("repos.meta_log", limit=ctx.args.limit)
    rows = [
        (e["sha"][:12], ago(e.get("ts")), e["message"].splitlines()[0]) for e in data["entries"]
    ]
    return data["entries"], table(rows, ["COMMIT", "AGE", "MESSAGE"])


def _show_args(p: argparse.ArgumentParser) -> None:
    _name(p)
    p.add_argument("ref", metavar="TAG", help="a tag (deployed/3), a sha, or main")
    p.add_argument("path", metavar="PATH", help="a file in the repo, e.g. agent.toml")


async def show(ctx: Context) -> Output:
    a = ctx.args
    data = await ctx.call("repos.show", agent=a.name, ref=a.ref, path=a.path)
    return data, data["text"].rstrip("\n")


def _gc_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dry-run", action="store_true", help="list what would be deleted")


async def gc_tags(ctx: Context) -> Output:
    data = await ctx.call("repos.gc_tags", dry_run=ctx.args.dry_run)
    deleted = data["deleted"]
    verb = "would delete" if ctx.args.dry_run else "deleted"
    lines = [f"{name}: {verb} {', '.join(sorted(tags))}" for name, tags in sorted(deleted.items())]
    return deleted, "\n".join(lines) or "nothing to delete"


VERBS = [
    Verb(
        "request-spawn", "ask for a new agent (an approval, as the operator)", request_spawn, _name
    ),
    Verb("approvals", "list approvals", approvals, _approvals_args),
    Verb("show-approval", "show an approval with its diffs", show_approval, _id),
    Verb("approve", "approve a pending approval and build it", approve, _approve_args),
    Verb("deny", "deny a pending approval", deny, _deny_args),
    Verb("tags", "list an agent's approval tags", tags, _tags_args),
    Verb("meta-log", "the swarm-wide deploy log", meta_log, _meta_args),
    Verb("show", "print a file of an agent's config at a tag", show, _show_args),
    Verb("gc-tags", "apply tag retention", gc_tags, _gc_args),
]
