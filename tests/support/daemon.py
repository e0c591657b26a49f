"""Run the real daemon as a subprocess for tests."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from hyperhive.core.client import HiveClient
from hyperhive.core.errors import DaemonUnavailable
from hyperhive.core.hive import Hive
from hyperhive.core.settings import Settings, cli_argv


class DaemonProcess:
    """``hyperhive daemon`` in a subprocess, with its log in the state dir."""

    def __init__(self, settings: Settings, *extra: str, swarm: bool = False) -> None:
        self.settings = settings
        self.extra = (*extra, *(() if swarm else ("--no-swarm",)))
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = settings.state_dir.parent / "daemon.log"

    def argv(self) -> list[str]:
        return cli_argv(self.settings, "daemon", *self.extra)

    def env(self) -> dict[str, str]:
        """The daemon's environment: ours, with the settings' runtime unless it is auto."""
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        if self.settings.runtime != "auto":
            env["HYPERHIVE_RUNTIME"] = self.settings.runtime
        else:
            env.pop("HYPERHIVE_RUNTIME", None)
        return env

    async def start(self, timeout: float = 20.0) -> None:
        self.settings.state_dir.mkdir(parents=True, exist_ok=True)
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(self.argv(), stdout=log, stderr=log, env=self.env())
        await self.wait_ready(timeout)

    async def wait_ready(self, timeout: float) -> None:
        async with asyncio.timeout(timeout):
            while True:
                if self.proc is not None and self.proc.poll() is not None:
                    raise RuntimeError(f"daemon exited {self.proc.returncode}: {self.tail()}")
                try:
                    client = await HiveClient.connect(self.settings.host_socket, timeout=1)
                except DaemonUnavailable:
                    await asyncio.sleep(0.05)
                    continue
                await client.call("daemon.status")
                await client.close()
                return

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:] if self.log.exists() else ""

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self, timeout: float = 15.0) -> int:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise


@asynccontextmanager
async def daemon_with_agents(settings: Settings, *names: str) -> AsyncIterator[DaemonProcess]:
    """The daemon, its swarm off, started on a state dir where ``names`` were created first."""
    async with Hive.open(settings, serve=False) as hive:
        for name in names:
            await hive.create_agent(name)
    daemon = DaemonProcess(settings)
    await daemon.start()
    try:
        yield daemon
    finally:
        daemon.stop()


@asynccontextmanager
async def scripted_swarm_daemon(settings: Settings) -> AsyncIterator[DaemonProcess]:
    """The daemon running its swarm on the scripted driver; running agents are killed at the end."""
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    (settings.state_dir / "hyperhive.toml").write_text('driver = "scripted"\n')
    daemon = DaemonProcess(settings, swarm=True)
    await daemon.start()
    try:
        yield daemon
    finally:
        try:
            client = await HiveClient.connect(settings.host_socket)
            try:
                for agent in (await client.call("agents.list"))["agents"]:
                    if agent["state"] == "running":
                        await client.call("lifecycle.kill", name=agent["name"])
            finally:
                await client.close()
        finally:
            daemon.stop()
