"""A hive that runs real process-runtime agents, with helpers to edit proposed repos."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from hyperhive.core.hive import Hive
from hyperhive.core.settings import Settings

MINI_HARNESS = (sys.executable, str(Path(__file__).with_name("mini_harness.py")))


@asynccontextmanager
async def open_swarm(settings: Settings, *, run_agents: bool = False) -> AsyncIterator[Hive]:
    """A served hive whose agents run the mini harness; every agent is stopped at the end."""
    async with Hive.open(settings) as hive:
        hive.lifecycle.command = MINI_HARNESS
        if run_agents:
            await hive.run_swarm()
        try:
            yield hive
        finally:
            await hive.approvals.wait_builds()
            for status in await hive.runtime.list():
                await hive.runtime.stop(status.name, timeout=5)


def git(repo: Path, *args: str) -> str:
    """Run the real git CLI in ``repo``."""
    return subprocess.run(
        ["git", "-C", str(repo), "-c", "user.name=test", "-c", "user.email=test@localhost", *args],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


def commit_file(repo: Path, path: str, text: str, message: str = "change") -> str:
    """Write one file in a proposed repo's working tree and commit it; return the sha."""
    (repo / path).parent.mkdir(parents=True, exist_ok=True)
    (repo / path).write_text(text)
    git(repo, "add", path)
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD")


def received(hive: Hive, name: str) -> list[str]:
    """The bodies the mini harness of ``name`` has received, in order (its received.log)."""
    log = hive.settings.agent_state_dir(name) / "received.log"
    return log.read_text().splitlines() if log.exists() else []
