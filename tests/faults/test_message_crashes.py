"""kill -9 of the daemon with messages on the wire: nothing acknowledged is lost or doubled."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator

import pytest

from hyperhive.core.client import HiveClient
from hyperhive.core.errors import DaemonUnavailable
from hyperhive.core.settings import Settings
from tests.support.daemon import DaemonProcess, daemon_with_agents

AGENTS = [f"a{i}" for i in range(8)]


@pytest.fixture
async def daemon(settings: Settings) -> AsyncIterator[DaemonProcess]:
    """The shared daemon, with the eight agents created instead of alice."""
    async with daemon_with_agents(settings, *AGENTS) as process:
        yield process


async def drain(settings: Settings, name: str) -> list[dict[str, object]]:
    """Everything waiting for ``name``, received (and acknowledged) until the inbox is empty."""
    client = await HiveClient.connect(settings.agent_socket(name))
    got: list[dict[str, object]] = []
    while batch := (await client.call("messages.recv", wait_seconds=0, max=32))["messages"]:
        got.extend(batch)
        await client.call("messages.ack", ids=[m["id"] for m in batch])
    await client.close()
    return got


async def test_kill_9_during_a_burst_from_8_agents_loses_no_acknowledged_message(
    daemon: DaemonProcess, settings: Settings
) -> None:
    acked: dict[int, tuple[str, str, str]] = {}  # id -> (sender, recipient, body)
    duplicates: list[int] = []
    cut: list[str] = []  # sends the kill interrupted (never acknowledged)
    enough = asyncio.Event()

    async def sender(name: str) -> None:
        rng = random.Random(name)
        client = await HiveClient.connect(settings.agent_socket(name))
        peers = [a for a in AGENTS if a != name]

        # 8 requests in flight per agent, so the kill lands with writes mid-commit
        async def one(k: int) -> None:
            for i in range(10_000):
                to, body = rng.choice(peers), f"{name}-{k}-{i}"
                try:
                    reply = await client.call("messages.send", to=to, body=body)
                except DaemonUnavailable:
                    cut.append(body)
                    return
                for mid in reply["ids"]:
                    if mid in acked:
                        duplicates.append(mid)
                    acked[mid] = (name, to, body)
                if len(acked) >= 2000:
                    enough.set()

        await asyncio.gather(*(one(k) for k in range(8)))
        await client.close()

    senders = [asyncio.create_task(sender(name)) for name in AGENTS]
    async with asyncio.timeout(60):
        await enough.wait()
    daemon.kill9()
    async with asyncio.timeout(30):
        await asyncio.gather(*senders)
    assert not duplicates
    assert cut, "the kill should land while sends are in flight"

    await daemon.start()
    received: dict[int, tuple[str, str, str]] = {}
    for name in AGENTS:
        for m in await drain(settings, name):
            assert m["id"] not in received, f"message #{m['id']} delivered twice"
            received[m["id"]] = (m["sender"], m["recipient"], m["body"])  # type: ignore[index,assignment]
    lost = sorted(set(acked) - set(received))
    assert not lost, f"{len(lost)} acknowledged messages lost, e.g. {lost[:5]}"
    # what was received is exactly what was sent: no id was reused for another message
    assert all(received[i] == acked[i] for i in acked)


async def test_a_message_in_flight_when_the_daemon_dies_is_redelivered_marked_so(
    daemon: DaemonProcess, settings: Settings
) -> None:
    a0 = await HiveClient.connect(settings.agent_socket("a0"))
    a1 = await HiveClient.connect(settings.agent_socket("a1"))
    sent = await a0.call("messages.send", to="a1", body="handle me")
    got = await a1.call("messages.recv", wait_seconds=5, max=1)
    assert [m["id"] for m in got["messages"]] == sent["ids"]
    assert got["messages"][0]["redelivered"] is False
    # writes commit in order: once this send is acknowledged, the delivery mark is durable
    await a1.call("messages.send", to="a0", body="working on it")
    daemon.kill9()
    await a0.close()
    await a1.close()

    await daemon.start()
    [again] = await drain(settings, "a1")
    assert (again["id"], again["body"], again["redelivered"]) == (sent["ids"][0], "handle me", True)
