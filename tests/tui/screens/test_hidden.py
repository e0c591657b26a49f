"""Screens you are not looking at stay current: they follow events while hidden."""

from __future__ import annotations

from hyperhive.core.client import HiveClient
from hyperhive.core.hive import Hive
from hyperhive.core.settings import Settings
from hyperhive.tui.panes.audit import AuditPane
from hyperhive.tui.panes.repos import MetaList
from hyperhive.tui.panes.turns import TurnLog
from hyperhive.tui.screens.agent import AgentScreen
from hyperhive.tui.screens.audit import AuditScreen
from hyperhive.tui.screens.dashboard import DashboardScreen
from hyperhive.tui.screens.repos import ReposScreen
from hyperhive.tui.screens.stats import StatsScreen
from hyperhive.tui.widgets.chart import ChartWidget
from tests.conftest import agent_client
from tests.support.swarm import open_swarm
from tests.tui.conftest import app_for, connected, on_screen, rows, until


async def test_the_audit_screen_shows_a_decision_made_while_it_was_hidden(
    hive: Hive, host: HiveClient
) -> None:
    asked = await host.call("approvals.request_spawn", name="gamma")
    app = app_for(hive)
    async with app.run_test(size=(120, 40)) as pilot:
        await connected(pilot)
        await pilot.press("4")
        await on_screen(pilot, AuditScreen)
        await until(pilot, lambda: len(rows(app.screen.query_one(AuditPane))) == 1)
        await pilot.press("1")
        await on_screen(pilot, DashboardScreen)

        # another operator (an SSH session) denies it while this one looks at the dashboard
        await host.call("approvals.deny", id=asked["id"], note="not today")
        await until(pilot, lambda: app.model.approvals[asked["id"]].status == "denied")

        await pilot.press("4")
        screen = await on_screen(pilot, AuditScreen)
        pane = screen.query_one(AuditPane)
        await until(pilot, lambda: any("deny" in r[3] for r in rows(pane)))


async def test_the_meta_deploy_log_shows_a_deploy_made_while_it_was_hidden(
    settings: Settings,
) -> None:
    async with open_swarm(settings) as hive:
        host = await HiveClient.connect(settings.host_socket)
        app = app_for(hive)
        async with app.run_test(size=(120, 40)) as pilot:
            await connected(pilot)
            await pilot.press("2")
            screen = await on_screen(pilot, ReposScreen)
            meta = screen.query_one(MetaList)
            before = len(meta.entries)
            await pilot.press("1")
            await on_screen(pilot, DashboardScreen)

            await host.call("lifecycle.spawn", name="alpha")  # a spawn deploys

            await until(pilot, lambda: len(meta.entries) > before)
            await pilot.press("2")
            await on_screen(pilot, ReposScreen)
            assert any("alpha" in " ".join(r) for r in rows(meta))
        await host.close()


async def test_the_agent_page_shows_turn_events_that_streamed_while_it_was_hidden(
    hive: Hive,
) -> None:
    alpha = await agent_client(hive, "alpha")
    app = app_for(hive)
    async with app.run_test(size=(120, 40)) as pilot:
        await connected(pilot)
        app.ops.open_agent("alpha")
        page = await on_screen(pilot, AgentScreen)
        await pilot.press("4")  # the audit screen; the agent page waits in the dashboard's stack
        await on_screen(pilot, AuditScreen)
        await alpha.call("harness.event", events=[{"type": "text", "text": "meanwhile"}], turn=2)
        log = page.query_one(TurnLog)
        await until(pilot, lambda: "meanwhile" in "\n".join(s.text for s in log.lines))
        await pilot.press("1")
        assert await on_screen(pilot, AgentScreen) is page
    await alpha.close()


async def test_the_stats_screen_redraws_samples_recorded_while_it_was_hidden(hive: Hive) -> None:
    await hive.stats.record_turn("*", {"inbox.total": 1.0})
    app = app_for(hive)
    async with app.run_test(size=(120, 40)) as pilot:
        await connected(pilot)
        await pilot.press("3")
        screen = await on_screen(pilot, StatsScreen)
        chart = screen.query_one("#chart-inbox", ChartWidget)
        await until(pilot, lambda: chart.latest == "1")
        await pilot.press("1")
        await on_screen(pilot, DashboardScreen)
        await hive.stats.record_turn("*", {"inbox.total": 7.0})
        await until(pilot, lambda: chart.latest == "7", timeout=15)
        await pilot.press("3")
        await on_screen(pilot, StatsScreen)
        assert chart.latest == "7"
