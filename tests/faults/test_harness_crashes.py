"""A harness that dies mid-turn: the message it popped comes back, marked redelivered."""

from __future__ import annotations

from dataclasses import replace

import pytest

from hyperhive.core.client import HiveClient
from hyperhive.core.hive import Hive
from hyperhive.core.settings import Settings
from tests.support.swarm import received
from tests.support.waiting import wait_for


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The shared settings with a fast crash poll."""
    return replace(settings, crash_poll_seconds=0.2)


@pytest.fixture
async def swarm(swarm: Hive) -> Hive:
    """The shared swarm with its crash watcher running."""
    swarm.every(swarm.settings.crash_poll_seconds, swarm.lifecycle.check_once, "crash watcher")
    return swarm


async def test_a_harness_killed_mid_turn_gets_its_message_again_marked_redelivered(
    swarm: Hive,
) -> None:
    op = await HiveClient.connect(swarm.settings.host_socket)
    await op.call("lifecycle.spawn", name="alice")
    await op.subscribe(["agent.crashed"])
    # the mini harness exits before acking the first delivery of "die"
    [mid] = (await op.call("messages.send", to="alice", body="die"))["ids"]
    crashed = await op.next_event(timeout=15)
    assert crashed["data"]["name"] == "alice"
    await wait_for(lambda: f"{mid} operator die (redelivered)" in received(swarm, "alice"), 20)
    assert received(swarm, "alice") == [f"{mid} operator die", f"{mid} operator die (redelivered)"]
    # the restarted harness finished the turn this time: acknowledged, delivered twice
    await wait_for(lambda: swarm.broker.inflight("alice") == 0 and swarm.broker.depth("alice") == 0)
    [row] = [
        m for m in (await op.call("messages.history", agent="alice"))["messages"] if m["id"] == mid
    ]
    assert row["deliveries"] == 2
    await op.close()
