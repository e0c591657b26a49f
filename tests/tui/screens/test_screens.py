"""The other screens against a real daemon: agent page, repos, stats, audit."""

from __future__ import annotations

from textual.widgets import OptionList, Tree

from hyperhive.core.client import HiveClient
from hyperhive.core.hive import Hive
from hyperhive.core.settings import Settings
from hyperhive.tui.panes.audit import AuditPane
from hyperhive.tui.panes.turns import TurnLog
from hyperhive.tui.screens.agent import AgentScreen
from hyperhive.tui.screens.audit import AuditScreen
from hyperhive.tui.screens.modals import ConfirmScreen, TextScreen
from hyperhive.tui.screens.repos import FilesScreen, ReposScreen
from hyperhive.tui.screens.stats import StatsScreen
from hyperhive.tui.widgets.chart import ChartWidget
from tests.conftest import agent_client
from tests.support.swarm import open_swarm
from tests.tui.conftest import app_for, column, connected, on_screen, shown, until


def log_text(log: TurnLog) -> str:
    return "\n".join(strip.text for strip in log.lines)


async def test_the_agent_page_shows_stored_turn_events_then_streams_new_ones(hive: Hive) -> None:
    alpha = await agent_client(hive, "alpha")
    await alpha.call("harness.event", events=[{"type": "text", "text": "reading the repo"}], turn=1)
    app = app_for(hive)
    async with app.run_test(size=(120, 40)) as pilot:
        await connected(pilot)
        app.ops.open_agent("alpha")
        await on_screen(pilot, AgentScreen)
        log = app.screen.query_one(TurnLog)
        await until(pilot, lambda: "reading the repo" in log_text(log))
        await alpha.call(
            "harness.event",
            events=[{"type": "tool_use", "tool": "Bash", "id": "t1", "input": {"command": "ls"}}],
            turn=1,
        )
        await until(pilot, lambda: "Bash" in log_text(log) and "ls" in log_text(log))
    await alpha.close()


async def test_compacting_from_the_agent_page_reaches_the_harness(hive: Hive) -> None:
    alpha = await agent_client(hive, "alpha")
    app = app_for(hive)
    async with app.run_test(size=(120, 40)) as pilot:
        await connected(pilot)
        app.ops.open_agent("alpha")
        await on_screen(pilot, AgentScreen)
        await pilot.press("o")
        await on_screen(pilot, ConfirmScreen)
        await pilot.press("enter")
        await on_screen(pilot, AgentScreen)
        got = await alpha.call("harness.control", wait_seconds=5)
    assert [c["command"] for c in got["commands"]] == ["compact"]
    await alpha.close()


async def test_the_agent_page_plots_the_agents_stats_when_opened(hive: Hive) -> None:
    alpha = await agent_client(hive, "alpha")
    samples = {"turn.duration_ms": 1500.0, "turn.tool_calls": 3.0, "turn.exit.ok": 1.0}
    await alpha.call("stats.record", samples=samples)
    app = app_for(hive)
    async with app.run_test(size=(120, 40)) as pilot:
        await connected(pilot)
        app.ops.open_agent("alpha")
        await on_screen(pilot, AgentScreen)
        await pilot.click("#stats-section CollapsibleTitle")
        chart = app.screen.query_one("#chart-tool_calls", ChartWidget)
        await until(
            pilot, lambda: chart._series.get("calls") == [(chart._series["calls"][0][0], 3.0)]
        )
    await alpha.close()


async def test_the_stats_screen_shows_the_swarm_then_one_agent(hive: Hive) -> None:
    alpha = await agent_client(hive, "alpha")
    await alpha.call("stats.record", samples={"inbox.depth": 4.0, "turn.duration_ms": 900.0})
    await hive.stats.sample_swarm()
    app = app_for(hive)
    async with app.run_test(size=(120, 40)) as pilot:
        await connected(pilot)
        await pilot.press("3")
        await on_screen(pilot, StatsScreen)
        agents = app.screen.query_one("#chart-agents", ChartWidget)
        await until(pilot, lambda: "stopped" in agents._series)
        app.screen.query_one("#agent").value = "alpha"
        inbox = app.screen.query_one("#agent-stats #chart-inbox", ChartWidget)
        await until(pilot, lambda: [v for _, v in inbox._series.get("depth", [])] == [4.0])
    await alpha.close()


async def test_the_audit_screen_lists_entries_appends_live_ones_and_verifies(
    hive: Hive, host: HiveClient
) -> None:
    await host.call("approvals.request_spawn", name="gamma")
    app = app_for(hive)
    async with app.run_test(size=(120, 40)) as pilot:
        await connected(pilot)
        await pilot.press("4")
        await on_screen(pilot, AuditScreen)
        pane = app.screen.query_one(AuditPane)
        await until(pilot, lambda: len(column(pane)) == 1)
        await host.call("approvals.request_spawn", name="delta")
        await until(pilot, lambda: len(column(pane)) == 2)
        await pilot.press("v")
        await until(pilot, lambda: any("intact" in n.message for n in app._notifications))


async def test_the_repos_screen_shows_tags_by_kind_their_diff_and_files(settings: Settings) -> None:
    async with open_swarm(settings) as hive:
        host = await HiveClient.connect(settings.host_socket)
        await host.call("lifecycle.spawn", name="alpha")
        app = app_for(hive)
        async with app.run_test(size=(120, 40)) as pilot:
            await connected(pilot)
            await pilot.press("2")
            await on_screen(pilot, ReposScreen)
            options = app.screen.query_one(OptionList)
            await until(pilot, lambda: options.option_count >= 2)
            options.focus()
            options.highlighted = [options.get_option_at_index(i).id for i in range(2)].index(
                "alpha"
            )
            tree = app.screen.query_one(Tree)
            await until(pilot, lambda: any("deployed" in str(n.label) for n in tree.root.children))
            deployed = next(n for n in tree.root.children if "deployed" in str(n.label))
            tree.focus()
            tree.move_cursor(deployed.children[0])
            await pilot.press("enter")
            await on_screen(pilot, TextScreen)
            await until(pilot, lambda: "agent.toml" in shown(app.screen.query_one("#body")))
            await pilot.press("escape")
            await on_screen(pilot, ReposScreen)
            await pilot.press("f")
            await on_screen(pilot, FilesScreen)
            files = app.screen.query_one(OptionList)
            await until(pilot, lambda: files.option_count > 0)
            ids = [files.get_option_at_index(i).id for i in range(files.option_count)]
            files.highlighted = ids.index("agent.toml")
            await pilot.press("enter")
            await on_screen(pilot, TextScreen)
            await until(pilot, lambda: "[" in shown(app.screen.query_one("#body")))
        await host.close()
