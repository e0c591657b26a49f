"""Issue 11, classes 1 and 2: the manager reaches only the proposed repos.

The manager's container binds ``<state>/proposed`` read-write at ``/agents``; every
daemon-owned per-agent file (logs, exported trees, policy files, creds, state) lives in
``<state>/agents``, which no container reaches. The attacks below are the issue's, made
from inside a real nspawn manager container at the paths the old layout exposed.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from hyperhive.core.client import HiveClient
from hyperhive.core.errors import HyperhiveError
from hyperhive.core.hive import Hive
from hyperhive.core.names import MANAGER
from tests.security.conftest import acked, inside, spawned

pytestmark = pytest.mark.root


async def manager_socket(hive: Hive) -> HiveClient:
    """A client on the manager's own socket: it acts as the manager, as its harness would."""
    return await HiveClient.connect(hive.settings.agent_socket(MANAGER))


async def test_the_manager_sees_only_proposed_repos(nspawn_swarm: Hive) -> None:
    hive = nspawn_swarm
    await spawned(hive, "alice")
    listing = await inside(hive, MANAGER, "ls -A /agents; echo --; ls -A /agents/alice")
    agents, alice = (part.split() for part in listing.stdout.split("--"))
    assert "alice" in agents
    # no logs, exported tree, policy files, creds or state of another agent
    assert alice == ["config"]
    assert (await inside(hive, MANAGER, "test -d /agents/alice/config/.git")).returncode == 0


async def test_links_and_fifos_the_manager_plants_never_reach_the_host(
    nspawn_swarm: Hive, canary: Path, secret: Path
) -> None:
    hive = nspawn_swarm
    await spawned(hive, "alice")
    await acked(hive, "alice")
    # everything the issue names, planted where the manager can write
    plant = f"""
    set -e
    cd /agents/alice
    head -c 9000000 /dev/zero | tr '\\0' 'x' > harness.log || true
    echo '* * * * * root touch /pwned' >> harness.log || true
    ln -sf {canary} harness.log.1 || true
    mkdir -p state etc tree && ln -sf {secret} state/notes.md
    ln -sf {canary} etc/send-allow.json; ln -sf {canary} tree/agent.toml
    mkfifo state/fifo.md
    ln -sf {hive.settings.db_path} tree.new
    ln -sf {canary} /agents/manager/harness.log.1 2>/dev/null || true
    """
    done = await inside(hive, MANAGER, plant)
    assert done.returncode == 0, done.stderr

    manager = await manager_socket(hive)
    try:
        # restart and update, triggered by the manager itself; log rotation runs on start
        await manager.call("lifecycle.restart", name="alice")
        await manager.call("lifecycle.update", name="alice")
        await hive.runtime.status("alice")
    finally:
        await manager.close()
    op = await HiveClient.connect(hive.settings.host_socket)
    try:
        notes = await op.call("agents.notes", name="alice")
        assert "HOST-SECRET" not in notes["text"]
        assert (await op.call("daemon.status"))["agents"] >= 2  # still answers
    finally:
        await op.close()
    assert canary.read_text() == "untouched\n"
    db = hive.settings.db_path
    assert db.stat().st_size > 0 and not db.is_symlink()
    await acked(hive, "alice", "still there?")


async def test_the_manager_cannot_change_another_agents_policy_tree_or_limits(
    nspawn_swarm: Hive,
) -> None:
    hive = nspawn_swarm
    sha = await spawned(hive, "alice")
    s = hive.settings
    policy = (s.etc_dir("alice") / "send-allow.json").read_bytes()
    toml = (s.tree_dir("alice") / "agent.toml").read_bytes()
    limits = hive.lifecycle.spec(hive.agents.get("alice")).memory_max

    # the old layout bound these very paths read-write into the manager
    attack = """
    mkdir -p /agents/alice/etc /agents/alice/tree
    echo '["*"]' > /agents/alice/etc/send-allow.json
    echo '["*"]' > /agents/alice/etc/bash-allow.json
    printf 'driver = "scripted"\\n[limits]\\nmemory_max = "64G"\\n' > /agents/alice/tree/agent.toml
    """
    await inside(hive, MANAGER, attack)
    manager = await manager_socket(hive)
    try:
        await manager.call("lifecycle.restart", name="alice")
    finally:
        await manager.close()

    assert (s.etc_dir("alice") / "send-allow.json").read_bytes() == policy
    assert (s.tree_dir("alice") / "agent.toml").read_bytes() == toml
    assert hive.lifecycle.spec(hive.agents.get("alice")).memory_max == limits != "64G"
    assert hive.agents.get("alice").applied_sha == sha
    seen = await inside(hive, "alice", "cat /etc/hyperhive/send-allow.json /config/agent.toml")
    assert seen.stdout.encode() == policy + toml


async def test_a_hostile_proposed_repo_is_refused_without_hanging_the_daemon(
    nspawn_swarm: Hive, secret: Path
) -> None:
    hive = nspawn_swarm
    await spawned(hive, "alice")
    # a commit whose loose object the manager then swaps for a FIFO
    prepare = """
    set -e
    cd /agents/alice/config
    echo change >> prompt.md
    git add prompt.md && git commit -qm change
    git rev-parse HEAD
    """
    done = await inside(hive, MANAGER, prepare)
    assert done.returncode == 0, done.stderr
    sha = done.stdout.strip()
    obj = f"/agents/alice/config/.git/objects/{sha[:2]}/{sha[2:]}"
    await inside(hive, MANAGER, f"rm -f {obj} && mkfifo {obj}")
    manager = await manager_socket(hive)
    try:
        async with asyncio.timeout(20):
            with pytest.raises(HyperhiveError) as refused:
                await manager.call("approvals.request_apply_commit", agent="alice", commit_ref=sha)
        assert str(hive.settings.state_dir) not in str(refused.value)

        # a .git that is a link to somewhere else on the host is no repo at all
        await inside(
            hive,
            MANAGER,
            f"mv /agents/alice/config/.git /agents/alice/g"
            f" && ln -s {secret.parent} /agents/alice/config/.git",
        )
        async with asyncio.timeout(20):
            with pytest.raises(HyperhiveError):
                await manager.call("approvals.request_apply_commit", agent="alice", commit_ref=sha)
        # the daemon still answers the manager
        assert (await manager.call("agent.whoami"))["name"] == MANAGER
    finally:
        await manager.close()
