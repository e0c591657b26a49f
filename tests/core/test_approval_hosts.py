"""Every approval names the host its agent runs on, and every deploy tag records it."""

from __future__ import annotations

import pytest

from hyperhive.core.client import HiveClient
from hyperhive.core.errors import InvalidInput
from hyperhive.core.hive import Hive
from tests.support.swarm import commit_file, git


def tag_note(hive: Hive, name: str, tag: str) -> str:
    return git(hive.settings.applied_dir(name), "tag", "-l", "--format=%(contents)", tag).strip()


async def test_a_spawn_shows_the_host_the_daemon_picked_and_its_deploy_tag_records_it(
    swarm: Hive, op: HiveClient, manager: HiveClient
) -> None:
    req = await manager.call("approvals.request_spawn", name="alice")
    assert (req["host"], req["host_picked"]) == ("local", True)
    shown = await op.call("approvals.get", id=req["id"])
    assert (shown["host"], shown["host_picked"]) == ("local", True)
    done = await op.call("approvals.approve", id=req["id"], wait=True)
    assert (done["status"], done["host"]) == ("deployed", "local")
    assert tag_note(swarm, "alice", f"deployed/{req['id']}") == "host: local"


async def test_a_config_change_and_a_destroy_show_the_host_the_agent_runs_on(
    swarm: Hive, op: HiveClient, manager: HiveClient
) -> None:
    spawn = await manager.call("approvals.request_spawn", name="alice")
    await op.call("approvals.approve", id=spawn["id"], wait=True)
    # naming the host it already runs on is no move
    sha = commit_file(swarm.settings.proposed_dir("alice"), "agent.toml", 'host = "local"\n')
    change = await manager.call("approvals.request_apply_commit", agent="alice", commit_ref=sha)
    assert (change["host"], change["host_picked"]) == ("local", False)
    await op.call("approvals.approve", id=change["id"], wait=True)
    assert tag_note(swarm, "alice", f"deployed/{change['id']}") == "host: local"
    destroy = await manager.call("approvals.request_destroy", name="alice")
    assert (destroy["host"], destroy["host_picked"]) == ("local", False)


async def test_a_spawn_naming_an_unregistered_host_is_refused_at_submit_naming_it(
    swarm: Hive, op: HiveClient, manager: HiveClient
) -> None:
    draft = await manager.call("approvals.request_spawn_draft", name="bob")
    assert draft["host"] is None  # a draft runs nowhere
    await op.call("approvals.approve", id=draft["id"], wait=True)
    sha = commit_file(swarm.settings.proposed_dir("bob"), "agent.toml", 'host = "gamma"\n')
    with pytest.raises(InvalidInput, match="host 'gamma' is not registered"):
        await manager.call("approvals.request_spawn_commit", name="bob", commit_ref=sha)
    assert (await op.call("approvals.list", status="pending"))["approvals"] == []
    assert swarm.agents.get("bob").state.value == "draft"


async def test_a_config_change_that_would_move_an_agent_to_another_host_is_refused_at_submit(
    swarm: Hive, op: HiveClient, manager: HiveClient
) -> None:
    spawn = await manager.call("approvals.request_spawn", name="alice")
    first = await op.call("approvals.approve", id=spawn["id"], wait=True)
    sha = commit_file(swarm.settings.proposed_dir("alice"), "agent.toml", 'host = "gamma"\n')
    with pytest.raises(InvalidInput, match="alice runs on 'local': an agent does not move"):
        await manager.call("approvals.request_apply_commit", agent="alice", commit_ref=sha)
    [failed] = (await op.call("approvals.list", status="failed"))["approvals"]
    assert "does not move between hosts" in failed["error"]
    assert git(swarm.settings.applied_dir("alice"), "rev-parse", "main") == first["fetched_sha"]


async def test_a_spawn_with_every_host_drained_is_refused_at_submit_not_queued(
    swarm: Hive, op: HiveClient, manager: HiveClient
) -> None:
    await op.call("hosts.drain", name="local")
    with pytest.raises(InvalidInput, match="no host can take a new agent"):
        await manager.call("approvals.request_spawn", name="alice")
    assert (await op.call("approvals.list", status="pending"))["approvals"] == []
    await op.call("hosts.undrain", name="local")
    req = await manager.call("approvals.request_spawn", name="alice")
    assert req["status"] == "pending"


async def test_the_manager_runs_on_local_even_with_local_drained(
    swarm: Hive, op: HiveClient, manager: HiveClient
) -> None:
    await op.call("hosts.drain", name="local")
    # its bootstrap build is not placed like a new agent's: it has a home
    built = await swarm.approvals.bootstrap_manager()
    assert built is not None
    assert (built.status.value, built.host, built.host_picked) == ("deployed", "local", False)
    assert swarm.hosts.host_of("manager") == "local"
    # its config changes show local, and one that names another host is refused
    root = swarm.settings.proposed_dir("manager")
    sha = commit_file(root, "prompt.md", "be brief\n")
    change = await manager.call("approvals.request_apply_commit", agent="manager", commit_ref=sha)
    assert (change["host"], change["host_picked"]) == ("local", False)
    await op.call("approvals.deny", id=change["id"])
    assert await swarm.hosts.plan("manager", None, False) == ("local", False)
    with pytest.raises(InvalidInput, match="the manager runs on local"):
        await swarm.hosts.plan("manager", "gamma", False)
