"""RPC methods of telemetry: harnesses record samples, the operator queries series."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hyperhive.core.protocol import Caller, Registry, Scope, p
from hyperhive.core.replies import SeriesReply, StatsKeysReply, last_value_row, series_reply

if TYPE_CHECKING:
    from hyperhive.core.hive import Hive


def register(reg: Registry, hive: Hive) -> None:
    stats = hive.stats

    @reg.method(
        "stats.record",
        Scope.AGENT,
        samples=p(dict),
        ts=p(float, None, default=None),
    )
    async def record(caller: Caller, samples: dict[str, Any], ts: float | None) -> Any:
        """Store one sample set of the calling agent (the harness sends one per turn).

        Within the agent's ``stats`` and ``stats_samples`` quotas, under the watermark.
        """
        hive.watermark.check(caller.name, "stats.record")
        hive.quotas.spend(caller.name, "stats.record", stats=1, stats_samples=len(samples))
        return {"recorded": await stats.record_turn(caller.name, samples, ts)}

    @reg.method(
        "stats.query",
        Scope.HOST,
        agent=p(str),
        key=p(str),
        since=p(float),
        until=p(float, None, default=None),
        points=p(int, default=200),
        bucket_seconds=p(float, None, default=None),
    )
    async def query(
        caller: Caller,
        agent: str,
        key: str,
        since: float,
        until: float | None,
        points: int,
        bucket_seconds: float | None,
    ) -> SeriesReply:
        """One series in at most ``points`` buckets of count/sum/avg/min/max/p50/p95."""
        series = await stats.query(agent, key, since, until, bucket_seconds, points)
        return series_reply(series.to_json())

    @reg.method("stats.keys", Scope.HOST, agent=p(str, None, default=None))
    async def keys(caller: Caller, agent: str | None) -> StatsKeysReply:
        """The series with data and their newest values (of one agent, or all; ``*`` = swarm)."""
        return {"series": [last_value_row(v.to_json()) for v in await stats.summary(agent)]}
