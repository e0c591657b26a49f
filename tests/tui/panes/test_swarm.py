"""The swarm pane with real process-runtime agents: lifecycle keys ask first, then act."""

from __future__ import annotations

import time

import pytest

from hyperhive.core.client import HiveClient
from hyperhive.core.hive import Hive
from hyperhive.core.models import AgentState
from hyperhive.tui.panes import swarm as swarm_pane
from hyperhive.tui.panes.base import Row
from hyperhive.tui.panes.swarm import SwarmPane
from hyperhive.tui.screens.agent import AgentScreen
from hyperhive.tui.screens.modals import ConfirmScreen
from hyperhive.tui.views import AgentView
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


async def test_a_clock_tick_remakes_only_the_rows_whose_age_changed(
    hive: Hive, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("alpha", "beta", "gamma"):
        await hive.create_agent(name)
    app = app_for(hive)
    async with app.run_test(size=(120, 40)) as pilot:
        await connected(pilot)
        pane = app.screen.query_one(SwarmPane)
        await until(pilot, lambda: len(pane.row_keys) == 4)  # with the manager
        made: list[str] = []
        make = swarm_pane._row

        def counted(a: AgentView, now: float) -> Row:
            made.append(a.name)
            return make(a, now)

        monkeypatch.setattr(swarm_pane, "_row", counted)
        pane.tick(time.time())  # what the screen's clock does every few seconds
        await pilot.pause()
        assert made == []  # no turn yet: every age reads the same
        await hive.agents.update("beta", last_turn_at=time.time())
        await until(pilot, lambda: "beta" in made)
        assert made == ["beta"]
