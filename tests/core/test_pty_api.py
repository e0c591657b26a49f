"""Terminals through the daemon belong to the connection that opened them."""

from __future__ import annotations

import asyncio
import base64

import pytest

from hyperhive.core.client import HiveClient
from hyperhive.core.errors import NotFound
from hyperhive.core.hive import Hive


@pytest.fixture
async def swarm(swarm: Hive, op: HiveClient) -> Hive:
    """The shared swarm with alice spawned."""
    await op.call("lifecycle.spawn", name="alice")
    return swarm


async def output_of(client: HiveClient, sid: str, until: bytes) -> bytes:
    seen = b""
    while until not in seen:
        event = await client.next_event(timeout=10)
        if event["event"] == "pty.output" and event["data"]["id"] == sid:
            seen += base64.b64decode(event["data"]["data_b64"])
    return seen


async def test_only_the_opening_connection_sees_and_types_into_a_terminal(swarm: Hive) -> None:
    mine = await HiveClient.connect(swarm.settings.host_socket)
    other = await HiveClient.connect(swarm.settings.host_socket)
    await mine.subscribe(["pty.*"])
    await other.subscribe(["pty.*", "message.*"])
    sid = (await mine.call("pty.open", agent="alice"))["id"]
    await mine.call("pty.input", id=sid, data_b64=base64.b64encode(b"echo hi-$((1+1))\n").decode())
    assert b"hi-2" in await output_of(mine, sid, b"hi-2")

    with pytest.raises(NotFound):
        await other.call("pty.input", id=sid, data_b64=base64.b64encode(b"id\n").decode())
    await swarm.broker.send("operator", "alice", "marker")
    event = await other.next_event(timeout=5)  # the first event it gets is not terminal output
    assert event["event"] == "message.sent"
    await mine.close()
    await other.close()


async def test_a_terminal_is_hung_up_when_its_connection_goes_away(swarm: Hive) -> None:
    client = await HiveClient.connect(swarm.settings.host_socket)
    await client.call("pty.open", agent="alice")
    watcher = await HiveClient.connect(swarm.settings.host_socket)
    assert len((await watcher.call("pty.list"))["sessions"]) == 1
    await client.close()

    async def closed() -> bool:
        audit = await watcher.call("audit.list", limit=10)
        return "pty.close" in [e["action"] for e in audit["entries"]]

    async with asyncio.timeout(10):  # the hang-up runs in the daemon: poll its answer
        while not await closed():
            await asyncio.sleep(0.02)
    assert (await watcher.call("pty.list"))["sessions"] == []
    await watcher.close()


async def test_an_agents_notes_are_readable_by_the_operator(swarm: Hive) -> None:
    (swarm.settings.agent_state_dir("alice") / "notes.md").write_text("# remember\n")
    client = await HiveClient.connect(swarm.settings.host_socket)
    assert (await client.call("agents.notes", name="alice"))["text"] == "# remember\n"
    assert (await client.call("agents.notes", name="manager"))["text"] == ""
    with pytest.raises(NotFound):
        await client.call("agents.notes", name="ghost")
    await client.close()
