"""Identity is the socket: an agent's socket acts as that agent and reaches agent methods only."""

from __future__ import annotations

import pytest

from hyperhive.core.client import HiveClient
from hyperhive.core.errors import InvalidInput, ProtocolError
from hyperhive.core.hive import Hive
from hyperhive.core.protocol import Scope
from tests.conftest import agent_client

SENDER_SPOOFS = ["sender", "from", "agent", "as", "caller", "name", "who"]


@pytest.mark.parametrize("field", SENDER_SPOOFS)
async def test_an_agent_cannot_name_another_sender(hive: Hive, field: str) -> None:
    alice = await agent_client(hive, "alice")
    bob = await agent_client(hive, "bob")
    with pytest.raises(InvalidInput, match="unknown param"):
        await alice.call("messages.send", to="bob", body="x", **{field: "manager"})
    await alice.call("messages.send", to="bob", body="who am i")
    [m] = (await bob.call("messages.recv", wait_seconds=1))["messages"]
    assert m["sender"] == "alice"
    await alice.close()
    await bob.close()


async def test_whoami_is_fixed_by_the_socket_whatever_the_client_says(hive: Hive) -> None:
    alice = await agent_client(hive, "alice")
    for attempt in ({}, {"name": "bob"}, {"as": "manager"}):
        if attempt:
            with pytest.raises(InvalidInput):
                await alice.call("agent.whoami", **attempt)
    with pytest.raises(ProtocolError, match="unknown method"):
        await alice.call("session.hello", who="manager", role="operator")
    assert (await alice.call("agent.whoami"))["name"] == "alice"
    await alice.close()


async def test_no_manager_or_host_method_exists_on_an_agent_socket(hive: Hive) -> None:
    alice = await agent_client(hive, "alice")
    agent_methods = hive.registry.for_scope(Scope.AGENT)
    others = sorted(set(hive.registry.methods) - set(agent_methods)) + ["events.subscribe"]
    assert "approvals.approve" in others and "agents.list" in others
    for name in others:
        with pytest.raises(ProtocolError, match=f"unknown method {name!r} on an agent socket"):
            await alice.call(name)
    assert (await alice.call("agent.whoami"))["name"] == "alice"
    await alice.close()


async def test_an_agent_can_neither_read_nor_ack_another_agents_messages(hive: Hive) -> None:
    alice = await agent_client(hive, "alice")
    bob = await agent_client(hive, "bob")
    [mid] = (await alice.call("messages.send", to="bob", body="for bob only"))["ids"]
    # alice sees nothing of bob's inbox, and cannot ack or requeue bob's delivery
    assert (await alice.call("messages.recv", wait_seconds=0, max=32))["messages"] == []
    got = await bob.call("messages.recv", wait_seconds=1)
    assert [m["id"] for m in got["messages"]] == [mid]
    assert (await alice.call("messages.ack", ids=[mid]))["acked"] == 0
    assert (await alice.call("messages.requeue"))["requeued"] == 0
    assert hive.broker.inflight("bob") == 1
    assert (await bob.call("messages.ack", ids=[mid]))["acked"] == 1
    await alice.close()
    await bob.close()


async def test_the_manager_socket_acts_as_the_manager_only(hive: Hive) -> None:
    manager = await HiveClient.connect(hive.settings.agent_socket("manager"))
    alice = await agent_client(hive, "alice")
    assert (await manager.call("agent.whoami"))["name"] == "manager"
    await manager.call("messages.send", to="alice", body="from the manager")
    [m] = (await alice.call("messages.recv", wait_seconds=1))["messages"]
    assert m["sender"] == "manager"
    for name in ("approvals.approve", "approvals.deny", "lifecycle.spawn", "lifecycle.exec"):
        with pytest.raises(ProtocolError, match="unknown method"):
            await manager.call(name)
    await manager.close()
    await alice.close()
