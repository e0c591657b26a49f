"""Verb for the audit log: show the newest entries, or check the hash chain."""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

from hyperhive.commands import Context, Output, Verb, table
from hyperhive.core.errors import HyperhiveError


def _detail(detail: dict[str, Any], width: int = 60) -> str:
    parts = [f"{k}={v if isinstance(v, str) else json.dumps(v)}" for k, v in detail.items()]
    text = " ".join(" ".join(parts).split())
    return text if len(text) <= width else text[: width - 1] + "…"


def entry_rows(entries: list[dict[str, Any]]) -> str:
    rows = [
        (
            e["id"],
            time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(e["ts"])),
            e["actor"],
            e["action"],
            e["target"],
            e["result"],
            f"[BROKEN: {e['broken']}]" if e.get("broken") else _detail(e["detail"]),
        )
        for e in entries
    ]
    return table(rows, ["ID", "TIME", "ACTOR", "ACTION", "TARGET", "RESULT", "DETAIL"])


def _audit_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--limit", type=int, default=50, help="how many (newest), default 50")
    p.add_argument("--actor", help="only entries by this actor")
    p.add_argument("--action", help="only entries of this action, e.g. question.answer")
    p.add_argument(
        "--verify",
        action="store_true",
        help="check the hash chain; exit non-zero listing the problems when it is broken",
    )


async def audit(ctx: Context) -> Output:
    a = ctx.args
    if a.verify:
        data = await ctx.call("audit.verify")
        if not data["ok"]:
            problems = data["problems"]
            raise HyperhiveError(
                f"the audit chain is broken ({len(problems)} problem(s)):\n  "
                + "\n  ".join(problems)
            )
        return data, "the audit chain is intact"
    data = await ctx.call("audit.list", limit=a.limit, actor=a.actor, action=a.action)
    entries = data["entries"]
    return entries, entry_rows(entries) if entries else "the audit log is empty"


VERBS = [Verb("audit", "show the audit log, or check its hash chain", audit, _audit_args)]
