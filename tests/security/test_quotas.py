"""Quotas: send tokens per recipient, telemetry rate and bytes, connections, the watermark."""

from __future__ import annotations

import asyncio
import contextlib
import json
import resource
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from hyperhive.core.client import HiveClient
from hyperhive.core.errors import Refused
from hyperhive.core.hive import Hive
from hyperhive.core.settings import Settings
from tests.conftest import agent_client
from tests.support.cli import cli
from tests.support.daemon import DaemonProcess

EVENT_TEXT = "x" * 8000  # one event stores ~8 KB (under the 8 KiB cut)


def _limited(settings: Settings, **limits: Any) -> Settings:
    return replace(settings, limits=replace(settings.limits, **limits))


@pytest.fixture
async def tight(settings: Settings) -> AsyncIterator[Hive]:
    limited = _limited(
        settings,
        send_burst=5,
        sends_per_second=0.01,
        events_burst=50,
        events_per_second=0.01,
        stats_burst=3,
        stats_per_second=0.01,
    )
    async with Hive.open(limited) as hive:
        yield hive


async def test_a_broadcast_spends_one_send_token_per_recipient(tight: Hive) -> None:
    for name in ("bob", "carol"):
        await tight.create_agent(name)
    alice = await agent_client(tight, "alice")
    sent = await alice.call("messages.send", to="*", body="hello all")
    assert sorted(sent["recipients"]) == ["bob", "carol", "manager"]
    # 5 tokens - 3 recipients = 2 left: a second broadcast to 3 is refused whole
    with pytest.raises(Refused, match=r"rate limited: alice .*\(3 recipients\)"):
        await alice.call("messages.send", to="*", body="again")
    assert tight.broker.depth("bob") == 1
    # the 2 tokens left still buy two direct messages
    for _ in range(2):
        await alice.call("messages.send", to="bob", body="direct")
    await alice.close()


@pytest.fixture
async def byte_quota(settings: Settings) -> AsyncIterator[Hive]:
    limited = _limited(
        settings,
        events_burst=1_000_000,
        event_bytes_burst=1024 * 1024,
        event_bytes_per_second=64 * 1024,
    )
    async with Hive.open(limited) as hive:
        yield hive


async def test_a_harness_event_flood_is_refused_and_the_database_grows_less_than_the_quota(
    byte_quota: Hive,
) -> None:
    tight = byte_quota
    alice = await agent_client(tight, "alice")
    batch = [{"type": "text", "text": EVENT_TEXT} for _ in range(10)]  # ~80 KB a call
    before = tight.store.used_bytes()
    start = time.monotonic()
    accepted = refused = 0
    reason = ""
    while time.monotonic() - start < 2.0:
        try:
            await alice.call("harness.event", turn=1, events=batch)
            accepted += 1
        except Refused as exc:
            refused += 1
            reason = exc.message
    elapsed = time.monotonic() - start
    grown = tight.store.used_bytes() - before
    allowed = 1024 * 1024 + 64 * 1024 * elapsed  # the byte quota's burst plus its refill
    assert refused > 0
    assert "quota exceeded" in reason and "event_bytes" in reason and "retry in" in reason
    assert accepted * 10 * 8000 <= allowed
    # sqlite's page and index overhead on ~8 KB rows stays well under a quarter
    assert grown < allowed * 1.25, (grown, allowed)
    await alice.close()


async def test_an_event_batch_larger_than_the_burst_is_refused_whole(tight: Hive) -> None:
    alice = await agent_client(tight, "alice")
    with pytest.raises(Refused, match="costs 60 events, more than the events quota allows"):
        await alice.call("harness.event", turn=1, events=[{"type": "t"}] * 60)
    assert (await alice.call("harness.event", turn=1, events=[{"type": "t"}] * 50))["ids"]
    with pytest.raises(Refused, match="over its events quota"):
        await alice.call("harness.event", turn=1, events=[{"type": "t"}])
    await alice.close()


async def test_a_turn_still_ends_when_its_agent_is_over_the_event_quota(tight: Hive) -> None:
    alice = await agent_client(tight, "alice")
    await alice.call("harness.event", turn=1, events=[{"type": "t"}] * 50)
    ended = await alice.call("harness.turn_ended", turn=1, exit_class="ok")
    assert ended == {"ok": True}
    assert tight.agents.get("alice").last_turn_at is not None
    stored = await tight.store.read(lambda db: db.execute("SELECT count(*) FROM events").fetchone())
    assert stored[0] == 50  # no turn_end row past the quota
    await alice.close()


async def test_stats_record_is_rate_limited_per_agent(tight: Hive) -> None:
    alice = await agent_client(tight, "alice")
    bob = await agent_client(tight, "bob")
    for _ in range(3):
        await alice.call("stats.record", samples={"turn.cost": 1.0})
    with pytest.raises(Refused, match="over its stats quota"):
        await alice.call("stats.record", samples={"turn.cost": 1.0})
    # another agent's quota is its own
    assert (await bob.call("stats.record", samples={"turn.cost": 1.0}))["recorded"] == 1
    await alice.close()
    await bob.close()


# --- connections -------------------------------------------------------------------------


def _rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


async def test_a_thousand_connections_to_one_agent_socket_are_capped_and_rss_stays_bounded(
    settings: Settings,
) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 4096)), hard))
    daemon = DaemonProcess(settings)
    await daemon.start()
    assert daemon.proc is not None
    path = str(settings.agent_socket("manager"))  # the manager is an agent like any other
    cap = settings.limits.agent_connections
    conns: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
    try:
        await asyncio.sleep(0.5)
        baseline = _rss(daemon.proc.pid)
        junk = b"x" * (512 * 1024)  # half a line limit each, no newline: held in a buffer
        for i in range(1000):
            reader, writer = await asyncio.open_unix_connection(path)
            conns.append((reader, writer))
            if i % 50 == 49:  # past its listen backlog a unix connect is not retried
                await asyncio.sleep(0.05)

        async def first_line(reader: asyncio.StreamReader) -> bytes:
            with contextlib.suppress(TimeoutError, ConnectionError):
                return await asyncio.wait_for(reader.readline(), 5)
            return b""

        lines = await asyncio.gather(*(first_line(r) for r, _ in conns))
        turned_away = [json.loads(line) for line in lines if line]
        assert len(turned_away) == 1000 - cap
        assert all(t["error"]["code"] == "refused" for t in turned_away)
        assert (
            "too many connections on the manager's socket (max 16)"
            in (turned_away[0]["error"]["message"])
        )
        # the ones turned away were closed after their error line
        away = [r for (r, _), line in zip(conns, lines, strict=True) if line]
        assert all([await r.read() == b"" for r in away])
        for _, writer in conns:
            with contextlib.suppress(ConnectionError):
                writer.write(junk)
                await writer.drain()
        await asyncio.sleep(1.0)
        grown = _rss(daemon.proc.pid) - baseline
        # 16 buffers of 512 KiB; without the cap 1,000 of them would be ~500 MB
        assert grown < 64 * 1024 * 1024, grown
    finally:
        for _, writer in conns:
            writer.close()
    # the cap frees up as connections close
    await asyncio.sleep(0.5)
    client = await HiveClient.connect(settings.agent_socket("manager"))
    assert (await client.call("agent.whoami"))["name"] == "manager"
    await client.close()
    daemon.stop()


# --- the watermark -----------------------------------------------------------------------


@pytest.fixture
async def watermarked(settings: Settings) -> AsyncIterator[Hive]:
    async with Hive.open(settings) as hive:
        # put the watermark 64 KiB above what a fresh database holds
        limit = hive.store.used_bytes() + 64 * 1024
    async with Hive.open(_limited(settings, db_watermark_bytes=limit)) as hive:
        yield hive


async def test_the_watermark_refuses_agent_writes_not_the_operators_and_tells_the_operator(
    watermarked: Hive,
) -> None:
    host = await HiveClient.connect(watermarked.settings.host_socket)
    await host.subscribe(["store.*"])
    alice = await agent_client(watermarked, "alice")
    status = await host.call("daemon.status")
    assert status["database"]["over"] is False
    body = "y" * 4000
    with pytest.raises(Refused, match="over its watermark") as caught:
        for _ in range(200):  # ~800 KB: well past the mark
            await alice.call("messages.send", to="operator", body=body)
            watermarked.watermark.refresh()  # (the check measures every 0.5 s)
    assert "a message by alice is not stored" in caught.value.message
    with pytest.raises(Refused, match="over its watermark"):
        await alice.call("harness.event", turn=1, events=[{"type": "t"}])
    with pytest.raises(Refused, match="over its watermark"):
        await alice.call("stats.record", samples={"turn.cost": 1.0})
    # the operator still writes
    assert (await host.call("messages.send", to="alice", body="free some space"))["ids"]
    # and is told: an event, daemon.status, `hyperhive status`
    event = await asyncio.wait_for(host.next_event(), 5)
    assert event["event"] == "store.watermark_changed"
    assert event["data"]["over"] is True
    status = await host.call("daemon.status")
    assert status["database"]["over"] is True
    assert status["database"]["used_bytes"] > status["database"]["watermark_bytes"]
    shown = await asyncio.to_thread(cli, watermarked.settings, "status")
    assert "OVER THE WATERMARK: agent writes are refused" in shown.stdout
    await alice.close()
    await host.close()
