"""The dashboard's swarm-wide reminders section and spawning an agent by name."""

from __future__ import annotations

from textual.widgets import Collapsible, DataTable, Input, Static

from hyperhive.core.client import HiveClient
from hyperhive.core.hive import Hive
from hyperhive.tui.palette import commands
from hyperhive.tui.panes.reminders import RemindersPane
from hyperhive.tui.panes.swarm import SwarmPane
from hyperhive.tui.screens.dashboard import DashboardScreen
from hyperhive.tui.screens.modals import ConfirmScreen
from hyperhive.tui.screens.prompt import PromptScreen
from tests.conftest import agent_client
from tests.tui.conftest import app_for, column, connected, on_screen, shown, until


async def test_the_reminders_section_starts_collapsed_lists_every_agents_and_cancels(
    hive: Hive, host: HiveClient
) -> None:
    alice = await agent_client(hive, "alice")
    bob = await agent_client(hive, "bob")
    a = (await alice.call("reminders.create", message="check CI", delay_seconds=600))["id"]
    app = app_for(hive)
    async with app.run_test(size=(140, 50)) as pilot:
        await connected(pilot)
        screen = await on_screen(pilot, DashboardScreen)
        section = screen.query_one("#reminders-section", Collapsible)
        pane = screen.query_one(RemindersPane)
        assert section.collapsed and not pane.region.height
        await until(pilot, lambda: section.title == "reminders · 1")
        # one made meanwhile by another agent arrives by its event
        b = (await bob.call("reminders.create", message="ping alice", delay_seconds=60))["id"]
        await until(pilot, lambda: section.title == "reminders · 2")
        await pilot.click("#reminders-section CollapsibleTitle")
        await until(pilot, lambda: not section.collapsed and pane.region.height > 0)
        assert column(pane) == [str(b), str(a)]  # soonest first
        assert column(pane, 1) == ["bob", "alice"]
        pane.focus_table()
        pane.query_one(DataTable).move_cursor(row=0)
        await pilot.press("x")
        confirm = await on_screen(pilot, ConfirmScreen)
        assert "bob" in str(confirm._title)
        await pilot.press("enter")
        await on_screen(pilot, DashboardScreen)
        await until(pilot, lambda: column(pane) == [str(a)])
    left = await host.call("reminders.list")
    assert [r["id"] for r in left["reminders"]] == [a]
    await alice.close()
    await bob.close()


async def test_spawn_by_name_checks_the_name_then_files_an_approval(hive: Hive) -> None:
    app = app_for(hive)
    async with app.run_test(size=(140, 50)) as pilot:
        await connected(pilot)
        screen = await on_screen(pilot, DashboardScreen)
        screen.query_one(SwarmPane).focus_table()
        await pilot.press("n")
        prompt = await on_screen(pilot, PromptScreen)
        for ch in "Bad!":
            await pilot.press(ch)
        await pilot.press("enter")
        await pilot.pause()
        assert app.screen is prompt
        assert "invalid agent name" in shown(prompt.query_one("#error", Static))
        prompt.query_one(Input).value = ""
        for ch in "dave":
            await pilot.press(ch)
        await pilot.press("enter")
        await on_screen(pilot, DashboardScreen)
        await until(
            pilot,
            lambda: (
                [(x.kind, x.agent) for x in app.model.pending_approvals()] == [("spawn", "dave")]
            ),
        )
        assert any("spawn request for dave" in n.message for n in app._notifications)


async def test_a_refused_spawn_request_is_shown_not_swallowed(hive: Hive) -> None:
    await hive.create_agent("alice")
    app = app_for(hive)
    async with app.run_test(size=(140, 50)) as pilot:
        await connected(pilot)
        await on_screen(pilot, DashboardScreen)
        spawn = next(c for c in commands(app) if c.title == "Spawn a new agent by name")
        spawn.run()
        await on_screen(pilot, PromptScreen)
        for ch in "alice":
            await pilot.press(ch)
        await pilot.press("enter")
        await on_screen(pilot, DashboardScreen)
        await until(pilot, lambda: any(n.severity == "error" for n in app._notifications))
        assert app.model.pending_approvals() == []


async def test_a_viewer_is_not_offered_spawning(hive: Hive) -> None:
    app = app_for(hive, role="viewer")
    async with app.run_test(size=(140, 50)) as pilot:
        await connected(pilot)
        screen = await on_screen(pilot, DashboardScreen)
        screen.query_one(SwarmPane).focus_table()
        await pilot.press("n")
        await pilot.pause()
        assert isinstance(app.screen, DashboardScreen)
        assert not any(c.title.startswith("Spawn") for c in commands(app))
