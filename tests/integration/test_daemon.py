"""The real daemon process: crash durability, clean shutdown, one daemon per run dir."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import AsyncIterator

import pytest

from hyperhive.core.client import HiveClient
from hyperhive.core.settings import Settings
from tests.support.daemon import DaemonProcess, daemon_with_agents


@pytest.fixture
async def daemon(settings: Settings) -> AsyncIterator[DaemonProcess]:
    """The shared daemon, with bob created beside alice."""
    async with daemon_with_agents(settings, "alice", "bob") as process:
        yield process


async def test_every_acknowledged_message_survives_kill_9_of_the_daemon(
    daemon: DaemonProcess, settings: Settings
) -> None:
    alice = await HiveClient.connect(settings.agent_socket("alice"))
    acknowledged: list[int] = []

    async def sender(k: int) -> None:
        for i in range(125):
            reply = await alice.call("messages.send", to="bob", body=f"{k}-{i}")
            acknowledged.extend(reply["ids"])

    await asyncio.gather(*(sender(k) for k in range(4)))
    assert len(acknowledged) == 500
    daemon.kill9()
    await alice.close()

    await daemon.start()
    bob = await HiveClient.connect(settings.agent_socket("bob"))
    received: list[int] = []
    while True:
        got = await bob.call("messages.recv", wait_seconds=0, max=32)
        if not got["messages"]:
            break
        received.extend(m["id"] for m in got["messages"])
    await bob.close()
    assert sorted(received) == sorted(acknowledged)


async def test_sigterm_shuts_down_cleanly_and_a_restart_recreates_the_sockets(
    daemon: DaemonProcess, settings: Settings
) -> None:
    assert daemon.stop() == 0
    assert not settings.host_socket.exists()
    await daemon.start()
    assert settings.agent_socket("alice").exists()
    client = await HiveClient.connect(settings.agent_socket("alice"))
    assert (await client.call("agent.whoami"))["name"] == "alice"
    await client.close()


async def test_a_second_daemon_on_the_same_run_dir_refuses_to_start(
    daemon: DaemonProcess,
) -> None:
    second = subprocess.run(daemon.argv(), capture_output=True, text=True, timeout=30)
    assert second.returncode != 0
    assert "already running" in second.stderr
    assert "Traceback" not in second.stderr


async def test_the_manager_exists_from_the_first_start(daemon: DaemonProcess) -> None:
    client = await HiveClient.connect(daemon.settings.host_socket)
    names = [a["name"] for a in (await client.call("agents.list"))["agents"]]
    await client.close()
    assert names[0] == "manager"


def test_the_cli_reports_a_missing_daemon_in_one_line(settings: Settings) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "hyperhive", "--run-dir", str(settings.run_dir), "agents"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert out.returncode == 2
    assert out.stderr.count("\n") == 1 and "no hyperhive daemon answers" in out.stderr
