"""The broker: durable send, long-poll recv, broadcast, at-least-once redelivery."""

from __future__ import annotations

import asyncio

import pytest

from hyperhive.core.errors import InvalidInput, NotFound, Refused
from hyperhive.core.hive import Hive
from hyperhive.core.settings import Limits, Settings


async def test_a_sent_message_is_received_by_its_recipient(hive: Hive) -> None:
    await hive.create_agent("alice")
    await hive.create_agent("bob")
    [sent] = await hive.broker.send("alice", "bob", "hello bob")
    [got] = await hive.broker.recv("bob", 0, 1)
    assert (got.id, got.sender, got.body) == (sent.id, "alice", "hello bob")
    assert not got.redelivered


async def test_recv_long_poll_wakes_as_soon_as_a_message_arrives(hive: Hive) -> None:
    await hive.create_agent("alice")
    waiter = asyncio.create_task(hive.broker.recv("alice", 60, 1))
    await asyncio.sleep(0)
    assert not waiter.done()
    await hive.broker.send("operator", "alice", "wake up")
    async with asyncio.timeout(5):
        [got] = await waiter
    assert got.body == "wake up"


async def test_recv_returns_empty_when_the_wait_runs_out(hive: Hive) -> None:
    await hive.create_agent("alice")
    assert await hive.broker.recv("alice", 0.01, 1) == []


async def test_recv_returns_at_most_max_messages_in_order(hive: Hive) -> None:
    await hive.create_agent("alice")
    for i in range(5):
        await hive.broker.send("operator", "alice", f"m{i}")
    got = await hive.broker.recv("alice", 0, 3)
    assert [m.body for m in got] == ["m0", "m1", "m2"]
    assert hive.broker.depth("alice") == 2


async def test_broadcast_reaches_every_other_agent_but_not_the_sender(hive: Hive) -> None:
    for name in ("alice", "bob", "carol"):
        await hive.create_agent(name)
    sent = await hive.broker.send("alice", "*", "all hands")
    assert sorted(m.recipient for m in sent) == ["bob", "carol", "manager"]
    assert [m.body for m in await hive.broker.recv("bob", 0, 5)] == ["all hands"]
    assert await hive.broker.recv("alice", 0, 5) == []


async def test_an_unacked_message_is_redelivered_and_marked_after_a_failed_turn(
    hive: Hive,
) -> None:
    await hive.create_agent("alice")
    await hive.broker.send("operator", "alice", "do it")
    [first] = await hive.broker.recv("alice", 0, 1)
    assert hive.broker.requeue("alice") == 1
    [again] = await hive.broker.recv("alice", 0, 1)
    assert again.id == first.id
    assert again.redelivered


async def test_an_acked_message_is_not_redelivered(hive: Hive) -> None:
    await hive.create_agent("alice")
    await hive.broker.send("operator", "alice", "do it")
    [m] = await hive.broker.recv("alice", 0, 1)
    assert await hive.broker.ack("alice", [m.id]) == 1
    assert hive.broker.requeue("alice") == 0
    assert await hive.broker.recv("alice", 0, 1) == []


async def test_unacked_messages_survive_a_restart_and_come_back_redelivered(
    settings: Settings,
) -> None:
    async with Hive.open(settings) as hive:
        await hive.create_agent("alice")
        await hive.broker.send("operator", "alice", "one")
        await hive.broker.send("operator", "alice", "two")
        await hive.broker.recv("alice", 0, 1)  # "one" delivered, never acked
        await asyncio.sleep(0)  # let the delivery mark reach the store
    async with Hive.open(settings) as hive:
        got = await hive.broker.recv("alice", 0, 5)
        assert [(m.body, m.redelivered) for m in got] == [("one", True), ("two", False)]


async def test_send_to_an_unknown_recipient_is_refused_clearly(hive: Hive) -> None:
    with pytest.raises(NotFound, match="unknown recipient 'ghost'"):
        await hive.broker.send("operator", "ghost", "hi")


async def test_an_oversize_body_is_refused(hive: Hive) -> None:
    await hive.create_agent("alice")
    with pytest.raises(InvalidInput, match="limit is 4096"):
        await hive.broker.send("operator", "alice", "x" * 4097)


async def test_recv_refuses_waits_and_batches_past_the_limits(hive: Hive) -> None:
    with pytest.raises(InvalidInput, match="wait_seconds"):
        await hive.broker.recv("manager", 181, 1)
    with pytest.raises(InvalidInput, match="max"):
        await hive.broker.recv("manager", 0, 33)


async def test_a_flooding_sender_is_rate_limited_while_others_still_send(
    settings: Settings,
) -> None:
    from dataclasses import replace

    limited = replace(settings, limits=Limits(sends_per_second=1, send_burst=3))
    async with Hive.open(limited) as hive:
        await hive.create_agent("flood")
        await hive.create_agent("calm")
        for _ in range(3):
            await hive.broker.send("flood", "manager", "spam")
        with pytest.raises(Refused, match="rate limited"):
            await hive.broker.send("flood", "manager", "spam")
        await hive.broker.send("calm", "manager", "real work")
        assert hive.broker.depth("manager") == 4


async def test_messages_to_the_operator_are_listed_in_the_inbox(hive: Hive) -> None:
    await hive.broker.send("manager", "operator", "need a decision")
    [m] = await hive.broker.history(recipient="operator")
    assert (m.sender, m.body) == ("manager", "need a decision")


async def test_retention_sweep_deletes_only_old_acknowledged_messages(hive: Hive) -> None:
    await hive.create_agent("alice")
    await hive.broker.send("operator", "alice", "old and acked")
    [m] = await hive.broker.recv("alice", 0, 1)
    await hive.broker.ack("alice", [m.id])
    await hive.broker.send("operator", "alice", "old but unread")
    hive.broker._clock = lambda: 10**10  # far in the future: everything is old
    assert await hive.broker.sweep() == 1
    [left] = await hive.broker.history()
    assert left.body == "old but unread"
