"""Issue 11, class 1: what an agent plants in its own writable dirs is data, never a path.

An agent's ``/state`` and ``/run/hive`` are bound read-write into its container; the
daemon reads notes there and serves the socket there, as host root.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from hyperhive.core.client import HiveClient
from hyperhive.core.errors import Refused
from hyperhive.core.hive import Hive
from hyperhive.core.settings import Settings
from tests.security.conftest import acked, inside, spawned


@pytest.mark.root
async def test_notes_linked_to_a_host_file_are_refused_not_shown(
    nspawn_swarm: Hive, secret: Path
) -> None:
    hive = nspawn_swarm
    await spawned(hive, "alice")
    done = await inside(hive, "alice", f"ln -sf {secret} /state/notes.md")
    assert done.returncode == 0, done.stderr
    op = await HiveClient.connect(hive.settings.host_socket)
    try:
        with pytest.raises(Refused) as refused:
            await op.call("agents.notes", name="alice")
        assert "HOST-SECRET" not in str(refused.value)
        assert str(hive.settings.state_dir) not in str(refused.value)
    finally:
        await op.close()


@pytest.mark.root
async def test_notes_as_a_fifo_never_block_the_daemon(nspawn_swarm: Hive) -> None:
    hive = nspawn_swarm
    await spawned(hive, "alice")
    done = await inside(hive, "alice", "rm -f /state/notes.md && mkfifo /state/notes.md")
    assert done.returncode == 0, done.stderr
    op = await HiveClient.connect(hive.settings.host_socket)
    try:
        for _ in range(8):  # more than the worker threads a blocked open would eat
            async with asyncio.timeout(10):
                with pytest.raises(Refused):
                    await op.call("agents.notes", name="alice")
        assert (await op.call("repos.files", agent="alice"))["files"]  # git still works
    finally:
        await op.close()
    await acked(hive, "alice")


async def test_a_directory_at_an_agents_socket_does_not_stop_the_next_start(
    settings: Settings,
) -> None:
    async with Hive.open(settings) as hive:
        await hive.create_agent("alice")
    sock = settings.agent_socket("alice")
    # what the agent can do through /run/hive: its socket's name made a directory
    sock.unlink(missing_ok=True)
    (sock / "inner").mkdir(parents=True)
    (sock / "inner" / "x").write_text("y")
    async with Hive.open(settings) as hive:
        client = await HiveClient.connect(sock)
        try:
            assert (await client.call("agent.whoami"))["name"] == "alice"
        finally:
            await client.close()


async def test_a_link_at_an_agents_socket_is_replaced_not_followed(
    settings: Settings, canary: Path
) -> None:
    async with Hive.open(settings) as hive:
        await hive.create_agent("alice")
    sock = settings.agent_socket("alice")
    sock.unlink(missing_ok=True)
    sock.symlink_to(canary)
    async with Hive.open(settings):
        assert canary.read_text() == "untouched\n"
        assert not sock.is_symlink() and os.path.exists(sock)
