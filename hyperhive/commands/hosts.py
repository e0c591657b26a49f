"""``hyperhive host add|list|remove|drain|undrain|key``: the machines agents run on."""

from __future__ import annotations

import argparse
from typing import Any

from hyperhive.commands import Context, Output, Verb, ago, table


def _args(p: argparse.ArgumentParser) -> None:
    # --json also after the action (``host list --json``); SUPPRESS keeps one given before
    json_flag = argparse.ArgumentParser(add_help=False)
    json_flag.add_argument(
        "--json", action="store_true", default=argparse.SUPPRESS, help="print JSON"
    )
    sub = p.add_subparsers(dest="host_verb", metavar="ACTION", required=True)

    def action(name: str, help: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=help, description=help, parents=[json_flag])

    add = action("add", help="add a host (its host key is pinned on first contact)")
    add.add_argument("name", metavar="NAME", help="the host's name here")
    add.add_argument("url", metavar="URL", help="ssh://USER@ADDR[:PORT]")
    add.add_argument("--fingerprint", metavar="SHA256:…", help="refuse any host key but this one")
    action("list", "hosts: state, agents, free memory, version")
    for verb, what in (
        ("remove", "forget a host (refused while agents run there)"),
        ("drain", "place no new agents on a host"),
        ("undrain", "place new agents on a host again"),
    ):
        action(verb, what).add_argument("name", metavar="NAME", help="the host")
    action("key", "the daemon's public key, for the hosts' authorized_keys")


def _state(h: dict[str, Any]) -> str:
    return h["state"] + (", drained" if h["drained"] else "")


def _memory(n: int | None) -> str:
    return "-" if n is None else f"{n / 2**30:.1f} GiB"


def _line(h: dict[str, Any]) -> str:
    why = f" ({h['reason']})" if h["reason"] else ""
    return f"{h['name']}: {_state(h)}{why}"


async def run(ctx: Context) -> Output:
    verb = ctx.args.host_verb
    if verb == "add":
        data = await ctx.call(
            "hosts.add", name=ctx.args.name, url=ctx.args.url, fingerprint=ctx.args.fingerprint
        )
        text = "\n".join(
            [
                f"pinned host key {data['fingerprint']} for {data['host']['url']}",
                _line(data["host"]),
                "the daemon logs in with this key (add it to the host's authorized_keys):",
                data["client_key"],
            ]
        )
        return data, text
    if verb == "list":
        hosts = (await ctx.call("hosts.list"))["hosts"]
        rows = [
            (
                h["name"],
                h["url"],
                _state(h),
                len(h["agents"]),
                _memory(h["free_memory"]),
                h["version"] or "-",
                ago(h["state_since"]) if h["state_since"] else "-",
                h["reason"],
            )
            for h in hosts
        ]
        headers = ["NAME", "URL", "STATE", "AGENTS", "FREE", "VERSION", "SINCE", "REASON"]
        return hosts, table(rows, headers)
    if verb == "key":
        data = await ctx.call("hosts.client_key")
        return data, data["client_key"]
    if verb == "remove":
        data = await ctx.call("hosts.remove", name=ctx.args.name)
        return data, f"removed host {ctx.args.name}"
    data = await ctx.call(f"hosts.{verb}", name=ctx.args.name)
    return data, _line(data)


VERBS = [Verb("host", "hosts agents run on: add, list, drain, undrain, remove, key", run, _args)]
