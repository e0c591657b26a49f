"""Telemetry: recording sample sets, bucketed queries over raw samples and rollups, retention."""

from __future__ import annotations

import math
import random
from typing import Any

import pytest

from hyperhive.core import stats as stats_mod
from hyperhive.core.client import HiveClient
from hyperhive.core.errors import InvalidInput
from hyperhive.core.hive import Hive
from hyperhive.core.stats import plan
from hyperhive.core.store import stats as q
from tests.conftest import agent_client

NOW = 1_700_017_200.0  # a multiple of every bucket width used below
HOUR = 3600


@pytest.fixture
def clocked(hive: Hive) -> Hive:
    hive.stats.clock = lambda: NOW + 3 * HOUR
    return hive


def _rank(values: list[float], q_: float) -> float:
    ordered = sorted(values)
    return ordered[int(q_ * (len(ordered) - 1) + 0.5)]


async def _bulk(hive: Hive, rows: list[tuple[str, float, str, float]]) -> None:
    await hive.store.write(q.insert, rows)


async def test_a_short_range_is_bucketed_exactly_from_raw_samples(clocked: Hive) -> None:
    for i, v in enumerate([5, 1, 3, 2, 4, 10, 20]):
        await clocked.stats.record_turn("alice", {"turn.duration_ms": v}, ts=NOW + i * 10)
    series = await clocked.stats.query("alice", "turn.duration_ms", NOW, NOW + 70, points=2)
    assert (series.resolution, series.bucket_seconds, series.start) == ("raw", 35.0, NOW)
    first, second = series.buckets
    assert (first.t, first.count, first.sum, first.min, first.max) == (NOW, 4, 11, 1, 5)
    assert (first.avg, first.p50, first.p95, first.exact) == (2.75, 3, 5, True)
    assert (second.t, second.count, second.p50, second.p95) == (NOW + 35, 3, 10, 20)


async def test_a_long_range_reads_the_rollups_and_agrees_with_the_raw_samples(hive: Hive) -> None:
    values = [float((i * 7919) % 1000) for i in range(3 * HOUR)]
    await _bulk(hive, [("alice", NOW + i, "cpu", v) for i, v in enumerate(values)])
    series = await hive.stats.query("alice", "cpu", NOW, NOW + 3 * HOUR, points=10)
    assert (series.resolution, series.bucket_seconds) == ("1m", 1080.0)
    assert len(series.buckets) == 10
    for n, bucket in enumerate(series.buckets):
        chunk = values[n * 1080 : (n + 1) * 1080]
        assert bucket.t == NOW + n * 1080
        assert (bucket.count, bucket.sum, bucket.min, bucket.max) == (
            len(chunk),
            sum(chunk),
            min(chunk),
            max(chunk),
        )
        assert bucket.exact and (bucket.p50, bucket.p95) == (_rank(chunk, 0.5), _rank(chunk, 0.95))
    hourly = await hive.stats.query("alice", "cpu", NOW, NOW + 3 * HOUR, bucket_seconds=HOUR)
    assert hourly.resolution == "1h" and [b.count for b in hourly.buckets] == [HOUR] * 3


async def test_percentiles_of_crowded_buckets_come_from_a_uniform_sample(
    hive: Hive, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(stats_mod, "SAMPLE_BUDGET", 640)  # 64 per bucket instead of 2,500
    random.seed(7)  # the sampling levels are random; keep the test repeatable
    values = [float((i * 7919) % 1000) for i in range(3 * HOUR)]
    await _bulk(hive, [("alice", NOW + i, "cpu", v) for i, v in enumerate(values)])
    series = await hive.stats.query("alice", "cpu", NOW, NOW + 3 * HOUR, points=10)
    for bucket in series.buckets:
        assert not bucket.exact and bucket.count == 1080  # counts stay exact
        assert 300 <= bucket.p50 <= 700 and 800 <= bucket.p95 <= 999


async def test_an_agent_records_through_its_own_socket_and_the_operator_reads_it(
    hive: Hive, host: HiveClient
) -> None:
    await host.subscribe(["stats.recorded"])
    alice = await agent_client(hive, "alice")
    got = await alice.call("stats.record", samples={"tokens.input": 1200, "cost.usd": 0.25})
    assert got == {"recorded": 2}
    event = await host.next_event(5)
    assert event["data"]["agent"] == "alice"
    assert event["data"]["samples"] == {"tokens.input": 1200, "cost.usd": 0.25}
    series = await host.call("stats.query", agent="alice", key="cost.usd", since=0)
    assert [b["sum"] for b in series["buckets"]] == [0.25]
    keys = (await host.call("stats.keys", agent="alice"))["series"]
    assert [(k["key"], k["value"]) for k in keys] == [("cost.usd", 0.25), ("tokens.input", 1200)]
    await alice.close()


@pytest.mark.parametrize(
    ("samples", "ts", "needle"),
    [
        ({}, None, "non-empty object"),
        ({"Turn": 1}, None, "invalid stats key 'Turn'"),
        ({"x" * 65: 1}, None, "invalid stats key"),
        ({"a b": 1}, None, "invalid stats key"),
        ({f"k{i}": 1 for i in range(201)}, None, "201 samples in one set; the limit is 200"),
        ({"ok": float("nan")}, None, "finite number"),
        ({"ok": float("inf")}, None, "finite number"),
        ({"ok": True}, None, "finite number"),
        ({"ok": "3"}, None, "finite number"),
        ({"ok": 1}, NOW + 4 * HOUR, "not in the future"),
        ({"ok": 1}, NOW - 40 * 86400, "recent epoch time"),
    ],
)
async def test_record_rejects_bad_sample_sets_and_stores_nothing(
    clocked: Hive, samples: dict[str, Any], ts: float | None, needle: str
) -> None:
    with pytest.raises(InvalidInput, match=needle):
        await clocked.stats.record_turn("alice", samples, ts)
    assert await clocked.stats.summary("alice") == []


@pytest.mark.parametrize(
    ("params", "needle"),
    [
        ({"since": NOW, "until": NOW}, "'since' must be before 'until'"),
        ({"since": NOW, "points": 0}, "'points' must be between 1 and 10000"),
        ({"since": 0.0, "bucket_seconds": 1.0}, "over 10000 buckets"),
        ({"since": NOW, "bucket_seconds": 0.5}, "at least 1"),
        ({"since": math.nan}, "finite number"),
    ],
)
async def test_query_rejects_bad_ranges(clocked: Hive, params: dict[str, Any], needle: str) -> None:
    with pytest.raises(InvalidInput, match=needle):
        await clocked.stats.query("alice", "cpu", **params)


def test_bucket_widths_snap_to_whole_minutes_and_hours() -> None:
    assert plan(0, 1000, 200, None) == (5, 0)
    assert plan(0, 100, 200, None) == (1, 0)
    assert plan(0, 86400, 200, None) == (480, 60)
    assert plan(0, 30 * 86400, 200, None) == (14400, 3600)
    assert plan(0, 1000, 200, 90) == (120, 60)
    # "the last hour", read a moment later, still gets 60 one-minute buckets
    assert plan(0, 3600.05, 60, None) == (60, 60)
    assert plan(0, 3600.05, 1, None) == (3600, 3600)


async def test_keys_and_summary_hold_the_newest_value_of_each_key(clocked: Hive) -> None:
    await clocked.stats.record_turn("alice", {"inbox.depth": 3, "sent.peer": 1}, ts=NOW + 20)
    await clocked.stats.record_turn("alice", {"inbox.depth": 1}, ts=NOW + 40)
    await clocked.stats.record_turn("alice", {"inbox.depth": 9}, ts=NOW + 30)  # late arrival
    await clocked.stats.record_turn("bob", {"inbox.depth": 5}, ts=NOW)
    assert await clocked.stats.keys("alice") == ["inbox.depth", "sent.peer"]
    summary = {(v.agent, v.key): (v.ts, v.value) for v in await clocked.stats.summary()}
    assert summary == {
        ("alice", "inbox.depth"): (NOW + 40, 1),
        ("alice", "sent.peer"): (NOW + 20, 1),
        ("bob", "inbox.depth"): (NOW, 5),
    }


async def test_the_swarm_sample_counts_agents_by_state_and_pending_approvals(hive: Hive) -> None:
    await hive.create_agent("alice")
    await hive.broker.send("operator", "alice", "hello")
    await hive.store.write(
        lambda db: db.execute(
            "INSERT INTO approvals (kind, agent, status, requested_by, created_at, updated_at) "
            "VALUES ('spawn', 'bob', 'pending', 'manager', 0, 0)"
        )
    )
    samples = await hive.stats.sample_swarm()
    assert samples["approvals.pending"] == 1
    assert samples["agents.total"] == 2 and samples["inbox.total"] == 1
    assert (
        sum(v for k, v in samples.items() if k.startswith("agents.") and k != "agents.total") == 2
    )
    assert {v.key for v in await hive.stats.summary("*")} == set(samples)


async def test_the_retention_sweep_drops_old_samples_and_their_rollups(clocked: Hive) -> None:
    keep = clocked.settings.limits.stats_keep_days * 86400
    now = clocked.stats.clock()
    old, new = now - keep - 2 * HOUR, now - HOUR
    clocked.stats.SWEEP_CHUNK = 7  # several chunks
    await _bulk(clocked, [("alice", old + i, "cpu", 1.0) for i in range(20)])
    await _bulk(clocked, [("alice", new, "cpu", 2.0), ("bob", now - keep - 60, "gone", 1.0)])
    assert await clocked.stats.sweep() == 21
    series = await clocked.stats.query("alice", "cpu", old - HOUR, now, bucket_seconds=HOUR)
    assert [(b.count, b.sum) for b in series.buckets] == [(1, 2.0)]
    assert [(v.agent, v.key) for v in await clocked.stats.summary()] == [("alice", "cpu")]
    rollups = await clocked.store.read(
        lambda db: db.execute("SELECT agent, count(*) FROM stats_rollup GROUP BY agent").fetchall()
    )
    assert rollups == [("alice", 2)]  # bob's series is gone with its rollups
    assert await clocked.stats.sweep() == 0
