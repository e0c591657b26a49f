"""Verb for telemetry: list the series with their newest values, or print one bucketed."""

from __future__ import annotations

import argparse
import math
import re
import time

from hyperhive.commands import Context, Output, Verb, ago, table
from hyperhive.core.errors import InvalidInput
from hyperhive.core.replies import SeriesReply, StatsKeysReply

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_RELATIVE = re.compile(r"(\d+(?:\.\d+)?)([smhdw])")


def parse_since(text: str, now: float) -> float:
    """``1h``, ``30m``, ``2d`` (ago) or an epoch time in seconds, as an epoch time.

    Raises:
        InvalidInput: neither form.
    """
    text = text.strip()
    match = _RELATIVE.fullmatch(text)
    if match:
        return now - float(match.group(1)) * _UNITS[match.group(2)]
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 0:
        raise InvalidInput(
            f"cannot read the time {text!r}: use e.g. 90s, 30m, 1h, 2d, 1w or an epoch time"
        )
    return value


def number(value: float | None) -> str:
    if value is None:
        return "-"
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return f"{value:.6g}"


def series_rows(series: SeriesReply) -> str:
    fmt = "%m-%d %H:%M" if series["until"] - series["start"] > 86400 else "%H:%M:%S"
    rows = []
    for b in series["buckets"]:
        mark = "" if b["exact"] else "~"
        rows.append(
            (
                time.strftime(fmt, time.localtime(b["t"])),
                b["count"],
                number(b["avg"]),
                number(b["min"]),
                number(b["max"]),
                mark + number(b["p50"]),
                mark + number(b["p95"]),
                number(b["sum"]),
            )
        )
    head = (
        f"{series['agent']} {series['key']}: {len(rows)} bucket(s) of "
        f"{number(series['bucket_seconds'])} s ({series['resolution']})"
    )
    if not rows:
        return head + "\nno samples in that range"
    body = table(rows, ["TIME", "COUNT", "AVG", "MIN", "MAX", "P50", "P95", "SUM"])
    note = (
        "\n~ estimated from a uniform sample"
        if any(not b["exact"] for b in series["buckets"])
        else ""
    )
    return f"{head}\n{body}{note}"


def _stats_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "agent",
        metavar="AGENT",
        nargs="?",
        help="whose series ('*' for the swarm-wide ones); all agents when listing keys",
    )
    p.add_argument("--key", "-k", help="print this key's series as a table of buckets")
    p.add_argument(
        "--since", default="1h", help="start: 30m, 1h, 2d ... ago, or an epoch time (default 1h)"
    )
    p.add_argument("--until", help="end, in the same forms (default now)")
    p.add_argument("--points", type=int, default=60, help="at most this many buckets (60)")


async def stats(ctx: Context) -> Output:
    a = ctx.args
    if a.key is None:
        keys: StatsKeysReply = await ctx.call("stats.keys", agent=a.agent)
        found = keys["series"]
        if not found:
            return found, "no stats recorded yet"
        rows = [(s["agent"], s["key"], number(s["value"]), ago(s["ts"])) for s in found]
        return found, table(rows, ["AGENT", "KEY", "LAST", "AGE"])
    now = time.time()
    series: SeriesReply = await ctx.call(
        "stats.query",
        agent=a.agent or "*",
        key=a.key,
        since=parse_since(a.since, now),
        until=None if a.until is None else parse_since(a.until, now),
        points=a.points,
    )
    return series, series_rows(series)


VERBS = [
    Verb("stats", "show telemetry: the keys with last values, or one series", stats, _stats_args)
]
