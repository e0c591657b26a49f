"""The lifecycle with real process-runtime agents: spawn, kill, restart, crash, destroy."""

from __future__ import annotations

import asyncio
import os
import signal
from dataclasses import replace

import pytest

from hyperhive.core.client import HiveClient
from hyperhive.core.errors import InvalidInput, NotFound, Refused
from hyperhive.core.hive import Hive
from hyperhive.core.models import AgentState
from hyperhive.core.settings import Settings
from tests.support.swarm import open_swarm, received
from tests.support.waiting import wait_for


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The shared settings with a fast crash poll."""
    return replace(settings, crash_poll_seconds=0.2)


def pid_of(hive: Hive, name: str) -> int:
    rec = hive.runtime.record(name)  # type: ignore[attr-defined]
    assert rec is not None and rec.pid is not None
    return int(rec.pid)


async def test_two_agents_talk_and_nothing_is_lost_across_a_kill_and_restart(
    swarm: Hive, op: HiveClient
) -> None:
    await op.call("lifecycle.spawn", name="alice")
    await op.call("lifecycle.spawn", name="bob")
    await swarm.broker.send("alice", "bob", "echo hello")
    await wait_for(lambda: any("bob: hello" in line for line in received(swarm, "alice")))

    await op.call("lifecycle.kill", name="bob")
    assert swarm.agents.get("bob").state is AgentState.STOPPED
    for i in range(5):
        await swarm.broker.send("alice", "bob", f"while you were out {i}")
    await op.call("lifecycle.start", name="bob")
    await wait_for(lambda: sum("while you were out" in x for x in received(swarm, "bob")) == 5)
    await op.call("lifecycle.restart", name="alice")
    assert swarm.agents.get("alice").state is AgentState.RUNNING


async def test_a_harness_killed_from_outside_is_noticed_reported_and_restarted(
    swarm: Hive, op: HiveClient
) -> None:
    await op.call("lifecycle.spawn", name="alice")
    await op.subscribe(["agent.crashed"])
    swarm.every(swarm.settings.crash_poll_seconds, swarm.lifecycle.check_once, "crash watcher")
    old = pid_of(swarm, "alice")
    os.kill(old, signal.SIGKILL)
    event = await op.next_event(timeout=10)
    assert event["data"]["name"] == "alice"
    await wait_for(lambda: swarm.agents.get("alice").state is AgentState.RUNNING, timeout=10)
    assert pid_of(swarm, "alice") != old
    manager_inbox = await swarm.broker.recv("manager", 0, 32)
    assert any("[crashed alice]" in m.body for m in manager_inbox)


async def test_a_daemon_restart_adopts_the_agents_that_were_running(settings: Settings) -> None:
    async with open_swarm(settings) as hive:
        client = await HiveClient.connect(settings.host_socket)
        await client.call("lifecycle.spawn", name="alice")
        await client.close()
        pid = pid_of(hive, "alice")
        # leave the harness running: close the hive without stopping agents
        hive.runtime.stop = _never  # type: ignore[method-assign]
    async with open_swarm(settings, run_agents=True) as hive:
        assert hive.agents.get("alice").state is AgentState.RUNNING
        assert pid_of(hive, "alice") == pid
        await hive.broker.send("operator", "alice", "still there?")
        await wait_for(lambda: any("still there?" in x for x in received(hive, "alice")))


async def _never(name: str, *, timeout: float = 10.0) -> None:
    return None


async def test_destroy_keeps_a_tombstone_that_can_be_revived_or_purged(
    swarm: Hive, op: HiveClient
) -> None:
    await op.call("lifecycle.spawn", name="alice")
    (swarm.settings.agent_state_dir("alice") / "notes.md").write_text("remember me\n")
    await op.call("lifecycle.destroy", name="alice")
    assert [k["name"] for k in (await op.call("kept.list"))["kept"]] == ["alice"]
    assert "alice" not in [a["name"] for a in (await op.call("agents.list"))["agents"]]
    assert not swarm.settings.agent_socket("alice").exists()

    revived = await op.call("lifecycle.spawn", name="alice")
    assert revived["agent"]["incarnation"] == 2
    assert (swarm.settings.agent_state_dir("alice") / "notes.md").read_text() == "remember me\n"

    await op.call("lifecycle.destroy", name="alice", purge=True)
    assert (await op.call("kept.list"))["kept"] == []
    assert not swarm.settings.agent_dir("alice").exists()
    assert not swarm.settings.applied_dir("alice").exists()


async def test_bad_lifecycle_requests_are_refused_and_change_nothing(
    swarm: Hive, op: HiveClient
) -> None:
    await op.call("lifecycle.spawn", name="alice")
    await op.call("lifecycle.kill", name="alice")
    with pytest.raises(InvalidInput):
        await op.call("lifecycle.start", name="Bad/Name")
    with pytest.raises(Refused, match="already exists"):
        await op.call("lifecycle.spawn", name="alice")
    with pytest.raises(Refused, match="not running"):
        await op.call("lifecycle.kill", name="alice")
    with pytest.raises(Refused, match="manager cannot be destroyed"):
        await op.call("lifecycle.destroy", name="manager")
    with pytest.raises(NotFound):
        await op.call("lifecycle.start", name="ghost")
    assert swarm.agents.get("alice").state is AgentState.STOPPED


async def test_the_manager_cannot_act_on_itself(swarm: Hive) -> None:
    manager = await HiveClient.connect(swarm.settings.agent_socket("manager"))
    with pytest.raises(Refused, match="cannot act on itself"):
        await manager.call("lifecycle.restart", name="manager")
    await manager.close()


async def test_a_cancelled_operation_never_leaves_a_transient_state(swarm: Hive) -> None:
    client = await HiveClient.connect(swarm.settings.host_socket)
    await client.call("lifecycle.spawn", name="alice")
    await client.call("lifecycle.kill", name="alice")
    await client.close()
    started = asyncio.Event()

    async def hang(spec: object) -> None:
        started.set()
        await asyncio.Event().wait()

    swarm.runtime.start = hang  # type: ignore[method-assign]
    task = asyncio.create_task(swarm.lifecycle.start("alice", by="test"))
    async with asyncio.timeout(5):
        await started.wait()
    assert swarm.agents.get("alice").state is AgentState.STARTING
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not swarm.agents.get("alice").state.transient


async def test_exec_runs_a_command_in_the_agents_environment(swarm: Hive, op: HiveClient) -> None:
    await op.call("lifecycle.spawn", name="alice")
    done = await op.call("lifecycle.exec", name="alice", argv=["sh", "-c", "echo $HYPERHIVE_AGENT"])
    assert (done["returncode"], done["stdout"].strip()) == (0, "alice")
