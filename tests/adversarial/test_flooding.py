"""An agent flooding ``send`` is rate limited and starves nobody."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace

import pytest

from hyperhive.core.client import HiveClient
from hyperhive.core.errors import Refused
from hyperhive.core.hive import Hive
from hyperhive.core.settings import Settings
from tests.conftest import agent_client


@pytest.fixture
async def hive(settings: Settings) -> AsyncIterator[Hive]:
    limits = replace(settings.limits, sends_per_second=50.0, send_burst=100)
    async with Hive.open(replace(settings, limits=limits)) as hive:
        yield hive


async def test_a_flooding_agent_is_rate_limited_while_another_agent_sends_freely(
    hive: Hive,
) -> None:
    for name in ("flood", "calm", "sink"):
        await hive.create_agent(name)
    floods = [await agent_client(hive, "flood") for _ in range(4)]
    calm = await agent_client(hive, "calm")
    sink = await agent_client(hive, "sink")
    refusals: list[str] = []
    accepted = 0
    flooded, stop = asyncio.Event(), asyncio.Event()

    async def flood(client: HiveClient) -> None:
        nonlocal accepted
        while not stop.is_set():
            try:
                await client.call("messages.send", to="sink", body="spam " * 100)
                accepted += 1
            except Refused as exc:
                refusals.append(exc.message)
                if len(refusals) >= 200:  # well past its burst
                    flooded.set()

    loop = asyncio.get_running_loop()
    began = loop.time()
    # 4 connections x 16 requests in flight: as hard as one agent can push
    flooders = [asyncio.create_task(flood(c)) for c in floods for _ in range(16)]
    async with asyncio.timeout(30):
        await flooded.wait()
    # meanwhile, the other agent's sends all go through, each promptly
    sent = []
    for i in range(30):
        async with asyncio.timeout(5):
            sent += (await calm.call("messages.send", to="sink", body=f"calm {i}"))["ids"]
    stop.set()
    await asyncio.gather(*flooders)
    elapsed = loop.time() - began

    assert all("rate limited" in r for r in refusals)
    # the token bucket's promise: never more than the burst plus the rate over the time
    assert accepted <= 100 + 50 * elapsed + 1
    got: list[int] = []
    while batch := (await sink.call("messages.recv", wait_seconds=0, max=32))["messages"]:
        got += [m["id"] for m in batch if m["sender"] == "calm"]
    assert got == sent
    # the flooder's connections stay usable once it slows down
    assert (await floods[0].call("agent.whoami"))["name"] == "flood"
    for client in (*floods, calm, sink):
        await client.close()
