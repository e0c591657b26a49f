"""Verbs for the agent lifecycle, kept state, and commands inside containers."""

from __future__ import annotations

import argparse

from hyperhive.commands import Context, Output, Verb, table
from hyperhive.core.errors import InvalidInput
from hyperhive.core.replies import AgentRow, KeptReply, SpawnReply


def _name(p: argparse.ArgumentParser) -> None:
    p.add_argument("name", metavar="NAME", help="the agent")


async def spawn(ctx: Context) -> Output:
    data: SpawnReply = await ctx.call("lifecycle.spawn", name=ctx.args.name)
    a = data["approval"]
    return data, f"spawned {ctx.args.name} (approval #{a['id']}, {(a['fetched_sha'] or '-')[:12]})"


def _simple(action: str, done: str) -> Verb:
    async def run(ctx: Context) -> Output:
        agent: AgentRow = await ctx.call(f"lifecycle.{action}", name=ctx.args.name)
        return agent, f"{ctx.args.name}: {done} ({agent['state']})"

    return Verb(action, f"{action} an agent", run, _name)


def _destroy_args(p: argparse.ArgumentParser) -> None:
    _name(p)
    p.add_argument("--purge", action="store_true", help="also wipe the kept state")


async def destroy(ctx: Context) -> Output:
    data = await ctx.call("lifecycle.destroy", name=ctx.args.name, purge=ctx.args.purge)
    kept = "purged" if ctx.args.purge else "state kept (see `hyperhive kept`)"
    return data, f"destroyed {ctx.args.name}; {kept}"


async def purge(ctx: Context) -> Output:
    data = await ctx.call("lifecycle.purge", name=ctx.args.name)
    return data, f"purged the kept state of {ctx.args.name}"


async def kept(ctx: Context) -> Output:
    data: KeptReply = await ctx.call("kept.list")
    rows = [(k["name"], k["incarnation"], (k.get("sha") or "-")[:12]) for k in data["kept"]]
    return data["kept"], table(rows, ["NAME", "INCARNATION", "SHA"])


def _exec_args(p: argparse.ArgumentParser) -> None:
    _name(p)
    p.add_argument("argv", nargs=argparse.REMAINDER, metavar="-- CMD ...", help="the command")


async def exec_(ctx: Context) -> Output:
    argv = list(ctx.args.argv)
    if argv and argv[0] == "--":
        argv = argv[1:]
    if not argv:
        raise InvalidInput("exec needs a command: hyperhive exec NAME -- CMD ...")
    data = await ctx.call("lifecycle.exec", name=ctx.args.name, argv=argv)
    text = (data["stdout"] + data["stderr"]).rstrip("\n")
    return data, text


VERBS = [
    Verb("spawn", "spawn an agent now (request and approve in one step)", spawn, _name),
    _simple("start", "started"),
    _simple("kill", "stopped"),
    _simple("restart", "restarted"),
    _simple("update", "rebuilt from its applied config"),
    Verb("destroy", "destroy an agent's container (state is kept)", destroy, _destroy_args),
    Verb("purge", "wipe a destroyed agent's kept state", purge, _name),
    Verb("kept", "list kept state (destroyed agents)", kept),
    Verb("exec", "run a command inside an agent's container", exec_, _exec_args),
]
