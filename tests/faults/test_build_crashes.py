"""kill -9 of the daemon during an approval's build: after a restart nothing is stuck or torn.

Two ways to land the crash: crash points (the daemon dies with ``os._exit`` exactly at a
named step of the build, see ``fault_daemon.py``) and real ``kill -9`` at moments picked
from the build's own events. Either way, after a restart every approval is deployed or
failed with a reason, a ``deployed/<id>`` tag exists iff the approval is deployed, applied
``main`` and the meta repo name the last deployed commit, and git finds the repos clean.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest

from hyperhive.core.client import HiveClient
from hyperhive.core.errors import DaemonUnavailable
from hyperhive.core.settings import Settings
from tests.faults.conftest import FaultDaemon, fsck, git, meta_entries, settled_approvals, until
from tests.faults.fault_daemon import CRASH_EXIT, CRASH_POINTS
from tests.support.swarm import commit_file


@contextlib.asynccontextmanager
async def clients(settings: Settings) -> AsyncIterator[tuple[HiveClient, HiveClient]]:
    """The operator's and the manager's connections, once the manager is deployed."""
    op = await HiveClient.connect(settings.host_socket)
    manager = await HiveClient.connect(settings.agent_socket("manager"))
    try:
        await until(lambda: _manager_deployed(op))
        yield op, manager
    finally:
        await op.close()
        await manager.close()


async def _manager_deployed(op: HiveClient) -> bool:
    rows = (await op.call("approvals.list", agent="manager"))["approvals"]
    return any(a["status"] == "deployed" for a in rows)


async def approve_until_crash(op: HiveClient, approval_id: int) -> None:
    """Approve without waiting; the daemon may die before it answers."""
    with contextlib.suppress(DaemonUnavailable):
        await op.call("approvals.approve", id=approval_id)


async def assert_consistent(settings: Settings, op: HiveClient) -> None:
    """The invariants a crash must never break, checked with the real git CLI."""
    approvals = await settled_approvals(op)
    agents = {a["name"]: a for a in (await op.call("agents.list"))["agents"]}
    meta = meta_entries(settings)
    for a in approvals:
        assert a["status"] not in ("approved", "building"), a
        if a["status"] == "failed":
            assert a["error"], f"approval #{a['id']} failed without a reason"
    for name in {a["agent"] for a in approvals}:
        applied = settings.applied_dir(name)
        mine = [a for a in approvals if a["agent"] == name and a["fetched_sha"]]
        if not mine:
            continue
        assert fsck(applied) == ""
        tags = set(git(applied, "tag", "-l").split())
        for a in mine:
            deployed = a["status"] == "deployed"
            assert (f"deployed/{a['id']}" in tags) == deployed, (a, sorted(tags))
            assert (f"failed/{a['id']}" in tags) == (a["status"] == "failed"), (a, sorted(tags))
        done = [a for a in mine if a["status"] == "deployed"]
        if done:
            last = max(done, key=lambda a: a["id"])
            assert git(applied, "rev-parse", "main") == last["fetched_sha"]
            assert meta[name]["sha"] == last["fetched_sha"]
            assert agents[name]["applied_sha"] == last["fetched_sha"]
            assert agents[name]["state"] == "running", agents[name]
    assert fsck(settings.meta_dir) == ""


@pytest.mark.parametrize("point", CRASH_POINTS)
async def test_a_spawn_build_cut_by_a_crash_ends_consistent_after_restart(
    swarm_daemon: FaultDaemon, settings: Settings, point: str
) -> None:
    await swarm_daemon.start(crash_at=point, crash_agent="alice")
    async with clients(settings) as (op, manager):
        req = await manager.call("approvals.request_spawn", name="alice")
        await approve_until_crash(op, req["id"])
    assert await swarm_daemon.wait_exit() == CRASH_EXIT

    await swarm_daemon.start()
    async with clients(settings) as (op, _manager):
        await assert_consistent(settings, op)
        final = await op.call("approvals.get", id=req["id"])
        # every step before the crash was idempotent: the resumed build finishes the job
        assert final["status"] == "deployed", final


@pytest.mark.parametrize("point", CRASH_POINTS)
async def test_a_config_change_cut_by_a_crash_ends_consistent_after_restart(
    swarm_daemon: FaultDaemon, settings: Settings, point: str
) -> None:
    # the first hit is alice's own spawn: let it pass, crash on the config change
    await swarm_daemon.start(crash_at=point, crash_agent="alice", crash_skip=1)
    async with clients(settings) as (op, manager):
        spawned = await manager.call("approvals.request_spawn", name="alice")
        await op.call("approvals.approve", id=spawned["id"], wait=True)
        sha = commit_file(settings.proposed_dir("alice"), "prompt.md", "be terse\n")
        req = await manager.call("approvals.request_apply_commit", agent="alice", commit_ref=sha)
        await approve_until_crash(op, req["id"])
    assert await swarm_daemon.wait_exit() == CRASH_EXIT

    await swarm_daemon.start()
    async with clients(settings) as (op, _manager):
        await assert_consistent(settings, op)
        final = await op.call("approvals.get", id=req["id"])
        assert final["status"] == "deployed", final
        assert git(settings.applied_dir("alice"), "rev-parse", "main") == sha


# the build's own events, in order: kill -9 as soon as the operator has seen one of them
KILL_ON = [
    ("approval.changed", "approved"),
    ("approval.changed", "building"),
    ("agent.changed", "spawning"),
    ("agent.changed", "running"),
]


@pytest.mark.parametrize(("event", "state"), KILL_ON, ids=[s for _, s in KILL_ON])
async def test_kill_9_at_a_step_of_a_build_never_leaves_a_stuck_approval(
    swarm_daemon: FaultDaemon, settings: Settings, event: str, state: str
) -> None:
    await swarm_daemon.start()
    async with clients(settings) as (op, manager):
        await op.subscribe([event])
        req = await manager.call("approvals.request_spawn", name="alice")
        await op.call("approvals.approve", id=req["id"])
        async with asyncio.timeout(20):
            async for ev in op.events():
                data = ev["data"]
                if _names(data) == "alice" and state in (data.get("status"), data.get("state")):
                    break
        swarm_daemon.kill9()

    await swarm_daemon.start()
    async with clients(settings) as (op, _manager):
        await assert_consistent(settings, op)


def _names(data: dict[str, Any]) -> str:
    return str(data.get("agent") or data.get("name") or "")
