"""Fault-test helpers: the real daemon with its swarm on, crash points, and the cleanup."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from hyperhive.core.client import HiveClient
from hyperhive.core.runner import ProcessRunner
from hyperhive.core.runtimes.process import ProcessRuntime
from hyperhive.core.settings import Settings
from tests.support.daemon import DaemonProcess

LAUNCHER = Path(__file__).with_name("fault_daemon.py")
TERMINAL = frozenset({"deployed", "failed", "denied"})


class FaultDaemon(DaemonProcess):
    """The real daemon (by default with the swarm on); its agents run the mini harness.

    ``start(crash_at=..., crash_agent=...)`` arms one crash point of
    ``tests/faults/fault_daemon.py``: the daemon then dies on its own, like ``kill -9``.
    """

    def __init__(self, settings: Settings, *, swarm: bool = True) -> None:
        super().__init__(settings, swarm=swarm)

    def argv(self) -> list[str]:
        return [
            sys.executable,
            str(LAUNCHER),
            "--state-dir",
            str(self.settings.state_dir),
            "--run-dir",
            str(self.settings.run_dir),
            "daemon",
            *self.extra,
        ]

    async def start(
        self,
        timeout: float = 30.0,
        *,
        crash_at: str | None = None,
        crash_agent: str = "",
        crash_skip: int = 0,
    ) -> None:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        env.pop("HH_CRASH_AT", None)
        if crash_at is not None:
            env |= {
                "HH_CRASH_AT": crash_at,
                "HH_CRASH_AGENT": crash_agent,
                "HH_CRASH_SKIP": str(crash_skip),
            }
        self.settings.state_dir.mkdir(parents=True, exist_ok=True)
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(self.argv(), stdout=log, stderr=log, env=env)
        await self.wait_ready(timeout)

    async def wait_exit(self, timeout: float = 30.0) -> int:
        """Wait until the daemon exits on its own (a crash point fired); its exit status."""
        assert self.proc is not None
        async with asyncio.timeout(timeout):
            while self.proc.poll() is None:
                await asyncio.sleep(0.02)
        return self.proc.returncode


async def until(
    check: Callable[[], Awaitable[Any]], timeout: float = 30.0, every: float = 0.05
) -> Any:
    """Poll the async ``check`` until it returns something truthy (effects in another process)."""
    async with asyncio.timeout(timeout):
        while not (found := await check()):
            await asyncio.sleep(every)
    return found


async def settled_approvals(op: HiveClient, timeout: float = 30.0) -> list[dict[str, Any]]:
    """Every approval, once none is approved or building any more."""

    async def check() -> list[dict[str, Any]] | None:
        rows: list[dict[str, Any]] = (await op.call("approvals.list"))["approvals"]
        if any(a["status"] in ("approved", "building") for a in rows):
            return None
        return rows

    result: list[dict[str, Any]] = await until(check, timeout)
    return result


async def reap_agents(settings: Settings) -> None:
    """Stop every harness a (killed) daemon left running, found through its runtime records."""
    runtime = ProcessRuntime(settings, ProcessRunner())
    for status in await runtime.list():
        await runtime.stop(status.name, timeout=5)


def git(repo: Path, *args: str) -> str:
    """The real git CLI in ``repo``."""
    return subprocess.run(
        ["git", "-C", str(repo), *args], check=True, capture_output=True, text=True
    ).stdout.strip()


def fsck(repo: Path) -> str:
    """``git fsck --strict`` output, errors and warnings only (dangling objects are no harm:
    a gc'd annotated tag leaves its object behind until git's own gc)."""
    done = subprocess.run(
        ["git", "-C", str(repo), "fsck", "--strict", "--no-dangling"],
        capture_output=True,
        text=True,
    )
    lines = [x for x in (done.stdout + done.stderr).splitlines() if not x.startswith("notice:")]
    return "\n".join([f"exit {done.returncode}"] * bool(done.returncode) + lines)


def meta_entries(settings: Settings) -> dict[str, Any]:
    """``agents.json`` at the head of the meta repo (the swarm-wide deploy record)."""
    if not (settings.meta_dir / ".git").exists() and not (settings.meta_dir / "HEAD").exists():
        return {}
    try:
        text = git(settings.meta_dir, "show", "HEAD:agents.json")
    except subprocess.CalledProcessError:
        return {}
    data: dict[str, Any] = json.loads(text)
    return data


@pytest.fixture
async def swarm_daemon(settings: Settings) -> AsyncIterator[FaultDaemon]:
    daemon = FaultDaemon(settings)
    try:
        yield daemon
    finally:
        daemon.stop()
        await reap_agents(settings)
