"""The lifecycle verbs from the CLI: what they print, and who hears of them."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from hyperhive.core.hive import Hive
from hyperhive.core.settings import Settings
from tests.support.cli import cli, cli_json
from tests.support.swarm import open_swarm
from tests.support.waiting import wait_for


@pytest.fixture
async def swarm(settings: Settings) -> AsyncIterator[Hive]:
    async with open_swarm(settings) as hive:
        yield hive


def received(hive: Hive, name: str) -> list[str]:
    log = hive.settings.agent_state_dir(name) / "received.log"
    return log.read_text().splitlines() if log.exists() else []


async def manager_heads(hive: Hive) -> list[str]:
    rows = await hive.broker.history(recipient="manager", limit=100)
    return [m.body.split("\n", 1)[0] for m in sorted(rows, key=lambda m: m.id)]


async def test_kill_start_and_restart_from_the_cli_reach_the_manager_and_the_agent(
    swarm: Hive,
) -> None:
    s = swarm.settings
    spawned = await asyncio.to_thread(cli_json, s, "spawn", "alice")
    sha = spawned["approval"]["fetched_sha"][:12]
    killed = await asyncio.to_thread(cli, s, "kill", "alice")
    assert (killed.returncode, killed.stdout.strip()) == (0, "alice: stopped (stopped)")
    started = await asyncio.to_thread(cli_json, s, "start", "alice")
    assert (started["state"], started["stale"]) == ("running", False)
    restarted = await asyncio.to_thread(cli_json, s, "restart", "alice")
    assert restarted["built_version"] is not None
    heads = await manager_heads(swarm)
    assert heads[-3:] == [
        "[killed alice] by operator; its messages wait",
        "[started alice] by operator",
        f"[restarted alice] by operator at config {sha}",
    ]
    line = f"system [restarted] You were restarted by operator at config {sha}."
    await wait_for(lambda: any(r.endswith(line) for r in received(swarm, "alice")))
