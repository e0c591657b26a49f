"""Smaller habits: q backs out and quits with a question, only what applies, quiet bursts."""

from __future__ import annotations

from typing import Any

from hyperhive.core.client import HiveClient
from hyperhive.core.hive import Hive
from hyperhive.core.models import AgentState
from hyperhive.tui.model import Notice
from hyperhive.tui.panes.drafts import DraftsPane
from hyperhive.tui.panes.swarm import SwarmPane
from hyperhive.tui.panes.turns import render_event
from hyperhive.tui.screens.agent import AgentScreen
from hyperhive.tui.screens.dashboard import DashboardScreen
from hyperhive.tui.screens.modals import ConfirmScreen
from tests.tui.conftest import app_for, column, connected, on_screen, rows, until


def footer_keys(app: Any) -> set[str]:
    return {b.binding.key for b in app.screen.active_bindings.values() if b.binding.show}


async def test_q_backs_out_of_a_page_and_asks_before_quitting_at_the_top(hive: Hive) -> None:
    await hive.create_agent("alpha")
    app = app_for(hive)
    async with app.run_test(size=(120, 40)) as pilot:
        await connected(pilot)
        app.ops.open_agent("alpha")
        await on_screen(pilot, AgentScreen)
        await pilot.press("q")
        await on_screen(pilot, DashboardScreen)
        await pilot.press("q")
        await on_screen(pilot, ConfirmScreen)
        await pilot.press("escape")  # "no": still running
        await on_screen(pilot, DashboardScreen)
        assert app.is_running
        await pilot.press("q")
        await on_screen(pilot, ConfirmScreen)
        await pilot.press("enter")
        await until(pilot, lambda: not app.is_running)


async def test_ctrl_q_asks_first_when_quitting_stops_the_swarm(hive: Hive) -> None:
    app = app_for(hive, quit_warning="This stops the demo swarm `up --demo` started.")
    async with app.run_test(size=(100, 30)) as pilot:
        await connected(pilot)
        await pilot.press("ctrl+q")
        confirm = await on_screen(pilot, ConfirmScreen)
        assert confirm.query_one("#cancel").has_focus  # dangerous: starts on cancel
        await pilot.press("escape")
        assert app.is_running


async def test_start_is_not_offered_on_a_running_agent(hive: Hive) -> None:
    await hive.create_agent("alpha")
    await hive.agents.update("alpha", state=AgentState.RUNNING)
    app = app_for(hive)
    async with app.run_test(size=(200, 40)) as pilot:
        await connected(pilot)
        swarm = app.screen.query_one(SwarmPane)
        swarm.focus_table()
        await pilot.press("down")  # from the (stopped) manager to alpha
        assert swarm.cursor_key == "alpha"
        keys = footer_keys(app)
        assert "k" in keys and "r" in keys and "s" not in keys
        await hive.agents.update("alpha", state=AgentState.STOPPED)
        await until(pilot, lambda: "s" in footer_keys(app) and "k" not in footer_keys(app))


async def test_a_waiting_spawn_shows_in_the_drafts(hive: Hive, host: HiveClient) -> None:
    await host.call("approvals.request_spawn", name="gamma")
    app = app_for(hive)
    async with app.run_test(size=(120, 40)) as pilot:
        await connected(pilot)
        drafts = app.screen.query_one(DraftsPane)
        await until(pilot, lambda: column(drafts) == ["gamma"])
        assert rows(drafts)[0][1] == "spawn waits for approval"


def test_an_unknown_turn_event_reads_as_fields_not_json() -> None:
    line = render_event({"kind": "system", "data": {"subtype_x": "init", "tools": ["a", "b"]}})
    assert "subtype_x=init" in line.plain and 'tools=["a","b"]' in line.plain
    assert "{" not in line.plain


async def test_a_burst_of_notices_is_one_toast_and_one_bell(hive: Hive) -> None:
    app = app_for(hive)
    async with app.run_test(size=(100, 30)) as pilot:
        await connected(pilot)
        app.clear_notifications()
        bells = app.notifier.bells
        burst = [Notice(f"message:{i}", f"message from a{i}", "hi") for i in range(6)]
        app.notifier.announce(burst)
        app.notifier.announce([Notice("message:9", "message from b", "again")])
        await pilot.pause()
        assert len(app._notifications) == 2
        assert app.notifier.bells == bells + 1
