"""kill -9 of the daemon during a tag gc of ~2,000 tags: git stays clean, tags stay whole."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
import time
from collections.abc import AsyncIterator

import pytest

from hyperhive.core.agent_config import default_files
from hyperhive.core.client import HiveClient
from hyperhive.core.errors import DaemonUnavailable
from hyperhive.core.hive import Hive
from hyperhive.core.models import Role
from hyperhive.core.repos import Tag
from hyperhive.core.settings import Settings
from tests.faults.conftest import FaultDaemon, fsck, git
from tests.faults.fault_daemon import CRASH_EXIT

DEPLOYED = 490  # approvals with proposal/approved/building/deployed tags: 1,960 tags
FAILED = 40  # old failed/<id> tags, past retention


async def make_tags(settings: Settings) -> tuple[set[str], set[str]]:
    """An agent whose applied repo holds ~2,000 tags; ``(all tags, what gc keeps)``."""
    async with Hive.open(settings, serve=False) as hive:
        await hive.create_agent("alice")
        await hive.repos.create("alice", default_files("alice", Role.AGENT))
        head = await hive.repos.proposed_head("alice")
        assert head is not None
        sha = await hive.repos.pin("alice", head, 1)  # tags proposal/1
        await hive.repos.advance_applied("alice", 1)
        tags = [
            Tag.make(kind, i, sha)
            for i in range(2, DEPLOYED + 1)
            for kind in ("proposal", "approved", "building", "deployed")
        ]
        old = time.time() - 400 * 86400
        tags += [
            Tag.make("failed", i, sha, "it broke", tagged_at=old)
            for i in range(DEPLOYED + 1, DEPLOYED + FAILED + 1)
        ]
        await hive.repos.create_tags_bulk("alice", tags)
        # and a few loose ones, as single approvals leave them
        n = DEPLOYED + FAILED + 1
        await hive.repos.tag("alice", "proposal", n, sha=sha)
        await hive.repos.tag("alice", "approved", n)
    everything = {t.name for t in tags} | {
        "proposal/1",
        "deployed/1",
        f"proposal/{n}",
        f"approved/{n}",
    }
    kept = {f"deployed/{i}" for i in range(1, DEPLOYED + 1)} | {f"proposal/{n}", f"approved/{n}"}
    return everything, kept


def tag_list(settings: Settings) -> set[str]:
    return set(git(settings.applied_dir("alice"), "tag", "-l").split())


def gc_cli(settings: Settings) -> subprocess.Popen[str]:
    """``hyperhive gc-tags`` as the operator would run it."""
    return subprocess.Popen(
        [sys.executable, "-m", "hyperhive", "--run-dir", str(settings.run_dir), "gc-tags"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.fixture
async def tagged(settings: Settings) -> tuple[set[str], set[str]]:
    return await make_tags(settings)


@pytest.fixture
async def daemon(settings: Settings) -> AsyncIterator[FaultDaemon]:
    d = FaultDaemon(settings, swarm=False)
    yield d
    d.stop()


def assert_whole(settings: Settings, everything: set[str], kept: set[str]) -> set[str]:
    """git is clean; the tags are the old set or the gc'd set, never a torn mix of refs."""
    applied = settings.applied_dir("alice")
    assert fsck(applied) == ""
    now = tag_list(settings)
    assert kept <= now <= everything
    return now


async def gc_after_restart(daemon: FaultDaemon, settings: Settings, kept: set[str]) -> None:
    await daemon.start()
    out = await asyncio.to_thread(gc_cli(settings).communicate, timeout=60)
    assert "Traceback" not in out[1]
    assert tag_list(settings) == kept, out
    assert fsck(settings.applied_dir("alice")) == ""


@pytest.mark.parametrize("delay", [0.0, 0.01, 0.03])
async def test_kill_9_during_tag_gc_leaves_git_clean_and_the_tags_whole(
    daemon: FaultDaemon,
    settings: Settings,
    tagged: tuple[set[str], set[str]],
    delay: float,
) -> None:
    everything, kept = tagged
    await daemon.start()
    op = await HiveClient.connect(settings.host_socket)
    gc = asyncio.create_task(op.call("repos.gc_tags"))
    await asyncio.sleep(delay)  # not a wait: the moment of the kill, swept over the gc
    daemon.kill9()
    # on a fast machine the gc may be done already: the invariants hold either way
    with contextlib.suppress(DaemonUnavailable):
        await gc
    await op.close()
    now = assert_whole(settings, everything, kept)
    await daemon.start()
    async with await HiveClient.connect(settings.host_socket) as op:
        listed = await op.call("repos.tags", agent="alice")
    assert {t["name"] for t in listed["tags"]} == now
    # a kill that lands inside the packed-refs write is the test below


async def test_a_crash_halfway_through_writing_packed_refs_does_not_block_the_next_gc(
    daemon: FaultDaemon, settings: Settings, tagged: tuple[set[str], set[str]]
) -> None:
    everything, kept = tagged
    await daemon.start(crash_at="mid-packed-refs")
    cli = gc_cli(settings)
    assert await daemon.wait_exit() == CRASH_EXIT
    await asyncio.to_thread(cli.communicate, timeout=60)
    assert cli.returncode != 0
    # the half-written file never replaced packed-refs: every tag is still there
    assert assert_whole(settings, everything, kept) == everything
    await gc_after_restart(daemon, settings, kept)
