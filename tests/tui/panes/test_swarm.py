"""The swarm pane with real process-runtime agents: lifecycle keys ask first, then act."""

from __future__ import annotations

import pytest

from hyperhive.core.client import HiveClient
from hyperhive.core.hive import Hive
from hyperhive.core.models import AgentState
from hyperhive.tui.panes.swarm import SwarmPane
from hyperhive.tui.screens.agent import AgentScreen
from hyperhive.tui.screens.modals import ConfirmScreen
from tests.tui.conftest import app_for, column, connected, on_screen, until


@pytest.fixture
async def swarm(swarm: Hive, op: HiveClient) -> Hive:
    """The shared swarm with alpha spawned."""
    await op.call("lifecycle.spawn", name="alpha")
    return swarm


async def cursor_on(pilot, pane: SwarmPane, name: str) -> None:  # type: ignore[no-untyped-def]
    pane.focus_table()
    while pane.cursor_key != name:
        await pilot.press("down")


async def test_kill_asks_first_then_stops_the_agent(swarm: Hive) -> None:
    app = app_for(swarm)
    async with app.run_test(size=(120, 40)) as pilot:
        await connected(pilot)
        pane = app.screen.query_one(SwarmPane)
        await cursor_on(pilot, pane, "alpha")
        await pilot.press("k")
        await on_screen(pilot, ConfirmScreen)
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, ConfirmScreen))
        assert swarm.agents.get("alpha").state is AgentState.RUNNING

        await pilot.press("k")
        await on_screen(pilot, ConfirmScreen)
        await pilot.press("enter")
        await until(pilot, lambda: swarm.agents.get("alpha").state is AgentState.STOPPED)
        await until(pilot, lambda: app.model.agents["alpha"].state == "stopped")


async def test_enter_opens_the_agent_page_and_escape_comes_back(swarm: Hive) -> None:
    app = app_for(swarm)
    async with app.run_test(size=(120, 40)) as pilot:
        await connected(pilot)
        pane = app.screen.query_one(SwarmPane)
        assert "alpha" in column(pane)
        await cursor_on(pilot, pane, "alpha")
        await pilot.press("enter")
        await on_screen(pilot, AgentScreen)
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, AgentScreen))
