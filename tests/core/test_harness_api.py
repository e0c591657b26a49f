"""The daemon's side of the harness: turn events, driver states, operator control."""

from __future__ import annotations

import asyncio
import time

import pytest

from hyperhive.core.client import HiveClient
from hyperhive.core.errors import InvalidInput, NotFound, Refused
from hyperhive.core.hive import Hive
from hyperhive.core.models import AgentState
from hyperhive.core.store import turn_events as q
from tests.conftest import agent_client
from tests.support.waiting import next_named


async def test_turn_events_are_stored_published_and_paged(hive: Hive, host: HiveClient) -> None:
    alice = await agent_client(hive, "alice")
    await host.subscribe(["turn.event"])
    sent = await alice.call(
        "harness.event",
        turn=1,
        events=[{"type": "turn_start", "sender": "bob"}, {"type": "text", "text": "hi"}],
    )
    assert len(sent["ids"]) == 2
    published = await next_named(host, "turn.event")
    assert (published["agent"], published["turn"], published["kind"]) == ("alice", 1, "turn_start")
    await alice.call("harness.event", turn=2, events=[{"type": "text", "text": "x" * 20_000}])
    page = (await host.call("turns.events", agent="alice", limit=2))["events"]
    assert [e["kind"] for e in page] == ["text", "text"]
    assert page[0]["data"] == {"type": "text", "text": "hi"}
    assert page[1]["data"]["truncated"] is True
    older = (await host.call("turns.events", agent="alice", before_id=page[0]["id"]))["events"]
    assert [e["kind"] for e in older] == ["turn_start"]
    with pytest.raises(InvalidInput, match="'type'"):
        await alice.call("harness.event", events=[{"text": "no type"}])
    with pytest.raises(NotFound):
        await host.call("turns.events", agent="nobody")
    await alice.close()


async def test_turn_ended_stamps_the_agent_and_publishes(hive: Hive, host: HiveClient) -> None:
    alice = await agent_client(hive, "alice")
    await host.subscribe(["turn.ended"])
    await alice.call(
        "harness.turn_ended", turn=3, exit_class="failed", duration_ms=12.5, error="boom"
    )
    ended = await next_named(host, "turn.ended")
    assert (ended["agent"], ended["turn"], ended["exit_class"], ended["error"]) == (
        "alice",
        3,
        "failed",
        "boom",
    )
    assert hive.agents.get("alice").last_turn_at is not None
    events = (await host.call("turns.events", agent="alice"))["events"]
    assert events[-1]["kind"] == "turn_end" and events[-1]["turn"] == 3
    with pytest.raises(InvalidInput, match="exit_class"):
        await alice.call("harness.turn_ended", turn=4, exit_class="weird")
    await alice.close()


async def test_harness_started_requeues_what_a_previous_life_left_in_flight(
    hive: Hive, host: HiveClient
) -> None:
    alice = await agent_client(hive, "alice")
    await host.call("messages.send", to="alice", body="work")
    got = await alice.call("messages.recv")
    assert got["messages"][0]["redelivered"] is False
    await alice.call("harness.event", turn=7, events=[{"type": "turn_start"}])
    info = await alice.call("harness.started")
    assert (info["requeued"], info["last_turn"], info["role"]) == (1, 7, "agent")
    again = await alice.call("messages.recv")
    assert again["messages"][0]["redelivered"] is True
    await alice.close()


async def test_harness_state_is_visible_but_never_undoes_a_lifecycle_state(
    hive: Hive, host: HiveClient
) -> None:
    alice = await agent_client(hive, "alice")
    stopped = await alice.call("harness.state", state="needs_login", reason="log in")
    assert stopped == {"state": "stopped", "applied": False}
    await hive.agents.set_state("alice", AgentState.RUNNING)
    done = await alice.call("harness.state", state="needs_login", reason="run claude auth login")
    assert done == {"state": "needs_login", "applied": True}
    agent = hive.agents.get("alice")
    assert (agent.state, agent.state_reason) == (AgentState.NEEDS_LOGIN, "run claude auth login")
    await alice.call("harness.state", state="running")
    assert hive.agents.get("alice").state is AgentState.RUNNING
    with pytest.raises(InvalidInput, match="state must be one of"):
        await alice.call("harness.state", state="stopped")
    await alice.close()


async def test_cancel_and_new_session_reach_the_harness_control_poll(
    hive: Hive, host: HiveClient
) -> None:
    alice = await agent_client(hive, "alice")
    with pytest.raises(Refused, match="not running a turn"):
        await host.call("harness.cancel", agent="alice")
    with pytest.raises(NotFound):
        await host.call("harness.new_session", agent="nobody")
    poll = asyncio.create_task(alice.call("harness.control", wait_seconds=10))
    await alice.call("harness.event", turn=1, events=[{"type": "turn_start"}])
    await host.call("harness.cancel", agent="alice")
    async with asyncio.timeout(5):
        got = await poll
    assert [c["command"] for c in got["commands"]] == ["cancel"]
    await host.call("harness.new_session", agent="alice")
    await host.call("harness.new_session", agent="alice")
    got = await alice.call("harness.control")
    assert [c["command"] for c in got["commands"]] == ["new_session"]
    await host.call("harness.compact", agent="alice")
    got = await alice.call("harness.control")
    assert [c["command"] for c in got["commands"]] == ["compact"]
    with pytest.raises(NotFound):
        await host.call("harness.compact", agent="nobody")
    # a turn's end drops a cancel that came too late for it
    await host.call("harness.cancel", agent="alice")
    await alice.call("harness.turn_ended", turn=1, exit_class="ok")
    assert (await alice.call("harness.control"))["commands"] == []
    await alice.close()


async def test_the_operator_cannot_reach_harness_methods_of_agents(
    hive: Hive, host: HiveClient
) -> None:
    with pytest.raises(Exception, match="unknown method 'harness.event' on host"):
        await host.call("harness.event", events=[])
    alice = await agent_client(hive, "alice")
    with pytest.raises(Exception, match="unknown method 'harness.cancel'"):
        await alice.call("harness.cancel", agent="alice")
    await alice.close()


async def test_old_events_are_swept(hive: Hive) -> None:
    now = time.time()
    await hive.store.write(q.insert_many, "alice", now - 10 * 86400, 1, [("text", "{}")])
    await hive.store.write(q.insert_many, "alice", now, 2, [("text", "{}")])
    cutoff = now - hive.settings.limits.events_keep_days * 86400
    assert await hive.store.write(q.sweep, cutoff) == 1
    left = await hive.store.read(lambda db: q.page(db, "alice", limit=10))
    assert [e.turn for e in left] == [2]
