"""The real daemon process: crash durability, clean shutdown, one daemon per run dir."""

from __future__ import annotations

import asyncio
import gc
import os
import resource
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from hyperhive.core.client import HiveClient
from hyperhive.core.daemon import GC_YOUNG_THRESHOLD, run_daemon
from hyperhive.core.hive import Hive
from hyperhive.core.settings import Settings
from tests.support.daemon import DaemonProcess, create_agents, daemon_with_agents


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


class _LowFdDaemon(DaemonProcess):
    """The daemon started under a soft open-files limit of ``soft`` (the hard one kept)."""

    def __init__(self, settings: Settings, soft: int) -> None:
        super().__init__(settings)
        self.soft = soft

    async def start(self, timeout: float = 60.0) -> None:
        _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)

        def lower() -> None:
            resource.setrlimit(resource.RLIMIT_NOFILE, (self.soft, hard))

        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                self.argv(), stdout=log, stderr=log, env=self.env(), preexec_fn=lower
            )
        await self.wait_ready(timeout)


def _soft_open_files(pid: int) -> int:
    for line in Path(f"/proc/{pid}/limits").read_text().splitlines():
        if line.startswith("Max open files"):
            return int(line.split()[3])
    raise AssertionError("no open-files line in /proc/<pid>/limits")


async def test_a_daemon_started_under_a_low_open_files_limit_still_serves_300_agents(
    settings: Settings,
) -> None:
    # 300 listening sockets and 300 connections: 600 descriptors, well past a soft 256
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    assert hard >= 1024, "this host's hard open-files limit is too low to show the lift"
    names = [f"fd{i:03d}" for i in range(300)]
    await create_agents(settings, *names)
    daemon = _LowFdDaemon(settings, soft=256)
    await daemon.start()
    clients: list[HiveClient] = []
    try:
        assert daemon.proc is not None
        assert _soft_open_files(daemon.proc.pid) > 256
        for name in names:
            clients.append(await HiveClient.connect(settings.agent_socket(name)))
        replies = await asyncio.gather(
            *(c.call("messages.send", to=names[0], body="here") for c in clients[1:])
        )
        assert len({r["ids"][0] for r in replies}) == len(names) - 1
    finally:
        for c in clients:
            await c.close()
        daemon.stop()


async def test_the_daemon_freezes_what_start_up_built_out_of_the_garbage_collector(
    settings: Settings,
) -> None:
    await create_agents(settings, *(f"gc{i:02d}" for i in range(50)))
    threshold = gc.get_threshold()
    seen: dict[str, int] = {}

    async def ready(hive: Hive) -> None:
        seen["frozen"] = gc.get_freeze_count()
        seen["young"] = gc.get_threshold()[0]
        os.kill(os.getpid(), signal.SIGTERM)  # run_daemon's own way to stop

    try:
        await run_daemon(settings, swarm=False, ready=ready)
    finally:
        gc.unfreeze()
        gc.set_threshold(*threshold)
    assert seen["frozen"] > 10_000  # the hive, its 50 agent sockets, the imports
    assert seen["young"] == GC_YOUNG_THRESHOLD
