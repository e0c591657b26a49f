"""Fixtures for the attack tests: a real nspawn swarm with its manager, canaries outside."""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest

from hyperhive.core.hive import Hive
from hyperhive.core.models import AgentState
from hyperhive.core.names import MANAGER
from hyperhive.core.runner import Completed
from hyperhive.core.settings import Settings
from tests.support.waiting import wait_for


@pytest.fixture
def canary(tmp_path: Path) -> Path:
    """A host file outside the state dir that no attack may change."""
    path = tmp_path / "host" / "canary"
    path.parent.mkdir()
    path.write_text("untouched\n")
    return path


@pytest.fixture
def secret(tmp_path: Path) -> Path:
    """A host file outside the state dir that nobody may be shown."""
    path = tmp_path / "host" / "secret"
    path.parent.mkdir(exist_ok=True)
    path.write_text("root:HOST-SECRET-HASH\n")
    return path


@pytest.fixture
async def nspawn_swarm(settings: Settings) -> AsyncIterator[Hive]:
    """A served hive on the nspawn runtime running its manager (scripted driver)."""
    if os.geteuid() != 0:
        pytest.skip("the nspawn runtime needs root (CI runs this as root)")
    if shutil.which("systemd-nspawn") is None:
        pytest.skip("systemd-nspawn is not installed (apt install systemd-container)")
    nspawn = replace(settings, runtime="nspawn", driver="scripted")
    async with Hive.open(nspawn, run_agents=True) as hive:
        try:
            await wait_for(lambda: hive.agents.get(MANAGER).state is AgentState.RUNNING, timeout=60)
            yield hive
        finally:
            await hive.approvals.wait_builds()
            for status in await hive.runtime.list():
                await hive.runtime.destroy(status.name)


async def inside(hive: Hive, name: str, script: str) -> Completed:
    """Run ``sh -c script`` as root inside ``name``'s container."""
    return await hive.runtime.exec(name, ["sh", "-c", script], timeout=60)


async def acked(hive: Hive, name: str, body: str = "ping") -> None:
    """Send ``name`` a message and wait until its harness took and acknowledged it."""
    await hive.broker.send("operator", name, body)
    await wait_for(
        lambda: hive.broker.depth(name) == 0 and hive.broker.inflight(name) == 0, timeout=60
    )


async def spawned(hive: Hive, name: str) -> str:
    """Spawn ``name`` from its default config (request + approve); return the applied sha."""
    approval = await hive.approvals.request_spawn(name, by="operator")
    await hive.approvals.approve(approval.id, by="operator", wait=True)
    agent = hive.agents.get(name)
    assert agent.applied_sha is not None
    return agent.applied_sha
