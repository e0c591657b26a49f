"""A long poll ends when its caller stops waiting; a delivery nobody saw goes back."""

from __future__ import annotations

import asyncio
import socket

from hyperhive.core.client import HiveClient
from hyperhive.core.hive import Hive
from hyperhive.core.protocol import CANCEL
from tests.conftest import agent_client
from tests.delivery.wire import RawLine
from tests.support.waiting import wait_for


async def test_a_cancelled_call_cancels_its_long_poll_and_the_next_message_waits(
    hive: Hive,
) -> None:
    client = await agent_client(hive, "alice")
    poll = asyncio.create_task(client.call("messages.recv", wait_seconds=20))
    await wait_for(lambda: hive.broker.waiters("alice") == 1)
    poll.cancel()
    await wait_for(lambda: hive.broker.waiters("alice") == 0)
    await hive.broker.send("operator", "alice", "after the cancel")
    assert hive.broker.depth("alice") == 1 and hive.broker.inflight("alice") == 0
    # the same connection, and a new one, both get it
    got = await client.call("messages.recv", wait_seconds=5)
    [m] = got["messages"]
    assert (m["body"], m["redelivered"]) == ("after the cancel", False)
    await client.close()


async def test_a_closed_connection_cancels_its_long_polls(hive: Hive) -> None:
    client = await agent_client(hive, "alice")
    polls = [asyncio.create_task(client.call("messages.recv", wait_seconds=20)) for _ in range(3)]
    await wait_for(lambda: hive.broker.waiters("alice") == 3)
    await client.close()
    await wait_for(lambda: hive.broker.waiters("alice") == 0)
    await asyncio.gather(*polls, return_exceptions=True)
    await hive.broker.send("operator", "alice", "for the next session")
    other = await agent_client(hive, "alice")
    [m] = (await other.call("messages.recv", wait_seconds=5))["messages"]
    assert m["body"] == "for the next session"
    await other.close()


async def test_a_cancel_after_the_reply_left_takes_the_delivery_back_unflagged(
    hive: Hive,
) -> None:
    await hive.create_agent("alice")
    await hive.broker.send("operator", "alice", "raced")
    wire = await RawLine.open(hive.settings.agent_socket("alice"))
    await wire.request(5, "messages.recv", wait_seconds=0)
    assert (await wire.reply())["result"]["messages"][0]["body"] == "raced"
    assert hive.broker.inflight("alice") == 1
    await wire.request(6, CANCEL, id=5)
    assert (await wire.reply())["result"] == {"cancelled": True}
    assert hive.broker.inflight("alice") == 0 and hive.broker.depth("alice") == 1
    # a second cancel of the same id changes nothing
    await wire.request(7, CANCEL, id=5)
    assert (await wire.reply())["result"] == {"cancelled": False}
    await wire.request(8, "messages.recv", wait_seconds=0)
    [m] = (await wire.reply())["result"]["messages"]
    assert m["body"] == "raced"
    assert m["deliveries"] == 1 and not m["redelivered"]  # the unseen one did not count
    await wire.close()


async def test_a_cancel_never_takes_back_a_message_already_acknowledged(hive: Hive) -> None:
    await hive.create_agent("alice")
    await hive.broker.send("operator", "alice", "done with")
    wire = await RawLine.open(hive.settings.agent_socket("alice"))
    await wire.request(1, "messages.recv", wait_seconds=0)
    [m] = (await wire.reply())["result"]["messages"]
    await wire.request(2, "messages.ack", ids=[m["id"]])
    assert (await wire.reply())["result"] == {"acked": 1}
    await wire.request(3, CANCEL, id=1)
    await wire.reply()
    assert hive.broker.depth("alice") == 0 and hive.broker.inflight("alice") == 0
    await wire.close()


async def test_a_cancel_names_a_request_or_is_refused_with_its_own_id(hive: Hive) -> None:
    await hive.create_agent("alice")
    wire = await RawLine.open(hive.settings.agent_socket("alice"))
    await wire.request("c", CANCEL)
    reply = await wire.reply()
    assert reply["id"] == "c" and reply["error"]["code"] == "protocol_error"
    await wire.request("d", CANCEL, id=12345)
    assert (await wire.reply())["result"] == {"cancelled": False}
    await wire.close()


async def test_a_reply_that_cannot_be_written_puts_the_messages_back(hive: Hive) -> None:
    await hive.create_agent("alice")
    raw = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    raw.connect(str(hive.settings.agent_socket("alice")))
    raw.sendall(b'{"id": 1, "method": "messages.recv", "params": {"wait_seconds": 20}}\n')
    await wait_for(lambda: hive.broker.waiters("alice") == 1)
    raw.shutdown(socket.SHUT_RD)  # the caller can no longer read a reply (but stays)
    await hive.broker.send("operator", "alice", "to nobody")
    await wait_for(lambda: hive.broker.waiters("alice") == 0)
    await wait_for(lambda: hive.broker.depth("alice") == 1)
    assert hive.broker.inflight("alice") == 0
    raw.close()
    client = await HiveClient.connect(hive.settings.agent_socket("alice"))
    [m] = (await client.call("messages.recv", wait_seconds=0))["messages"]
    assert (m["body"], m["redelivered"]) == ("to nobody", False)
    await client.close()


async def test_ack_needs_the_ids_the_turn_saw_and_acks_only_those(hive: Hive) -> None:
    client = await agent_client(hive, "alice")
    for body in ("one", "two"):
        await hive.broker.send("operator", "alice", body)
    got = (await client.call("messages.recv", wait_seconds=0, max=2))["messages"]
    try:
        await client.call("messages.ack")
        raise AssertionError("an ack without ids was accepted")
    except Exception as exc:
        assert "missing param 'ids'" in str(exc)
    assert (await client.call("messages.ack", ids=[got[0]["id"]]))["acked"] == 1
    assert hive.broker.inflight("alice") == 1
    assert (await client.call("messages.requeue", ids=[got[1]["id"]]))["requeued"] == 1
    assert hive.broker.depth("alice") == 1 and hive.broker.inflight("alice") == 0
    await client.close()
