"""Verbs to look into one agent (its notes, its turns, its config files) and steer its turns."""

from __future__ import annotations

import argparse
import json
import time

from hyperhive.commands import Context, Output, Verb, table
from hyperhive.core.replies import NotesReply


def _name(p: argparse.ArgumentParser) -> None:
    p.add_argument("name", metavar="NAME", help="the agent")


async def notes(ctx: Context) -> Output:
    data: NotesReply = await ctx.call("agents.notes", name=ctx.args.name)
    tail = "\n[truncated at 1 MiB]" if data["truncated"] else ""
    return data, (data["text"].rstrip("\n") or "(no notes yet)") + tail


def _turns_args(p: argparse.ArgumentParser) -> None:
    _name(p)
    p.add_argument("--limit", type=int, default=50, help="how many events (newest), default 50")


async def turns(ctx: Context) -> Output:
    data = await ctx.call("turns.events", agent=ctx.args.name, limit=ctx.args.limit)
    rows = []
    for ev in data["events"]:
        detail = {k: v for k, v in (ev.get("data") or {}).items() if k not in ("type",)}
        rows.append(
            (
                ev.get("turn") or "",
                time.strftime("%H:%M:%S", time.localtime(ev["ts"])),
                ev["kind"],
                json.dumps(detail, ensure_ascii=False)[:90],
            )
        )
    return data["events"], table(rows, ["TURN", "TIME", "KIND", "DETAIL"])


def _diff_args(p: argparse.ArgumentParser) -> None:
    _name(p)
    p.add_argument("target", metavar="TARGET", help="a tag (proposal/4), a sha, or main")
    p.add_argument("--base", help="the ref to compare with (default: the empty tree)")


async def diff(ctx: Context) -> Output:
    a = ctx.args
    data = await ctx.call("repos.diff", agent=a.name, target=a.target, base=a.base)
    return data, data["diff"].rstrip("\n") or "(no change)"


def _files_args(p: argparse.ArgumentParser) -> None:
    _name(p)
    p.add_argument("ref", metavar="TAG", nargs="?", default="main", help="default: main")


async def files(ctx: Context) -> Output:
    data = await ctx.call("repos.files", agent=ctx.args.name, ref=ctx.args.ref)
    return data["files"], "\n".join(data["files"])


async def cancel_turn(ctx: Context) -> Output:
    data = await ctx.call("harness.cancel", agent=ctx.args.name)
    return data, f"{ctx.args.name}: the running turn is being cancelled"


async def new_session(ctx: Context) -> Output:
    data = await ctx.call("harness.new_session", agent=ctx.args.name)
    return data, f"{ctx.args.name}: the next turn starts a new session"


async def compact(ctx: Context) -> Output:
    data = await ctx.call("harness.compact", agent=ctx.args.name)
    return data, f"{ctx.args.name}: its conversation is being compacted"


VERBS = [
    Verb("notes", "print an agent's /state/notes.md", notes, _name),
    Verb("turns", "an agent's recent turn events", turns, _turns_args),
    Verb("diff", "a diff between two refs of an agent's applied repo", diff, _diff_args),
    Verb("files", "the files of an agent's config at a tag", files, _files_args),
    Verb("cancel-turn", "interrupt the turn an agent is running", cancel_turn, _name),
    Verb("new-session", "make an agent's next turn start a fresh session", new_session, _name),
    Verb("compact", "compact an agent's conversation now (its context)", compact, _name),
]
