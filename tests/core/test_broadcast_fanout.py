"""A broadcast to many agents is paced: everyone else's messages are served between its
copies, and every copy still arrives exactly once, across a daemon stop too."""

from __future__ import annotations

import asyncio

from hyperhive.core.broker import WAKE_SLICE
from hyperhive.core.hive import Hive
from hyperhive.core.settings import Settings

MANY = 300


async def make_agents(hive: Hive, n: int = MANY) -> list[str]:
    names = [f"a{i:03d}" for i in range(n)]
    for name in names:
        await hive.create_agent(name)
    return names


async def test_a_message_sent_after_a_broadcast_is_served_before_every_copy_is_woken(
    hive: Hive,
) -> None:
    names = await make_agents(hive)
    assert MANY > 10 * WAKE_SLICE
    polls = {n: asyncio.create_task(hive.broker.recv(n, 30, 1)) for n in names}
    await asyncio.sleep(0)  # every long poll parked
    await hive.broker.send("a000", "*", "all hands")
    await hive.broker.send("operator", "a000", "just for you")
    async with asyncio.timeout(10):
        [mine] = await polls["a000"]
    woken = sum(polls[n].done() for n in names[1:])
    assert mine.body == "just for you"
    assert woken < len(names) - 1, "the broadcast woke every copy before anything else"
    async with asyncio.timeout(30):
        copies = await asyncio.gather(*(polls[n] for n in names[1:]))
    assert all([m.body for m in got] == ["all hands"] for got in copies)


async def test_every_copy_of_a_big_broadcast_is_delivered_exactly_once(hive: Hive) -> None:
    names = await make_agents(hive)
    early = {n: asyncio.create_task(hive.broker.recv(n, 30, 5)) for n in names[::2]}
    await asyncio.sleep(0)
    sent = await hive.broker.send("operator", "*", "all hands")
    ids = {m.recipient: m.id for m in sent}
    async with asyncio.timeout(30):
        got = {n: await t for n, t in early.items()}
    got |= {n: await hive.broker.recv(n, 0, 5) for n in names[1::2]}  # polls that came first
    assert {n: [m.id for m in ms] for n, ms in got.items()} == {n: [ids[n]] for n in names}
    for n, ms in got.items():
        assert await hive.broker.ack(n, [m.id for m in ms]) == 1
        assert await hive.broker.recv(n, 0, 5) == []


async def test_a_fan_out_cut_short_by_a_stop_loses_no_copy(settings: Settings) -> None:
    async with Hive.open(settings) as hive:
        names = await make_agents(hive)
        parked = {n: asyncio.create_task(hive.broker.recv(n, 30, 1)) for n in names}
        await asyncio.sleep(0)
        sent = await hive.broker.send("operator", "*", "all hands")
    # the daemon stopped right after the send returned: most long polls never woke
    unwoken = [n for n in names if not parked[n].done()]
    for task in parked.values():
        task.cancel()
    assert unwoken
    async with Hive.open(settings) as hive:
        for m in sent:
            if m.recipient in names:
                assert [c.id for c in await hive.broker.recv(m.recipient, 0, 5)] == [m.id]
