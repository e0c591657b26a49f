"""The app against a real in-process daemon: snapshot, pushed events, reconnect, roles."""

from __future__ import annotations

from textual.widgets import OptionList, Static

from hyperhive.core.hive import Hive
from hyperhive.core.models import AgentState
from hyperhive.core.protocol import Caller, Scope
from hyperhive.tui.palette import commands
from hyperhive.tui.panes.approvals import ApprovalsPane
from hyperhive.tui.panes.compose import ComposeBox
from hyperhive.tui.panes.swarm import SwarmPane
from hyperhive.tui.screens.audit import AuditScreen
from hyperhive.tui.screens.help import HelpScreen
from hyperhive.tui.screens.modals import ConfirmScreen
from hyperhive.tui.widgets.status import StatusLine
from tests.conftest import agent_client
from tests.support.runner import FakeRunner
from tests.tui.conftest import app_for, column, connected, on_screen, rows, shown, until


async def test_the_dashboard_lists_the_agents_of_the_snapshot_manager_first(hive: Hive) -> None:
    await hive.create_agent("alpha")
    await hive.create_agent("beta")
    app = app_for(hive)
    async with app.run_test(size=(120, 40)) as pilot:
        await connected(pilot)
        assert column(app.screen.query_one(SwarmPane)) == ["manager", "alpha", "beta"]


async def test_a_swarm_row_changes_in_place_when_the_agent_changes(hive: Hive) -> None:
    await hive.create_agent("alpha")
    app = app_for(hive)
    async with app.run_test(size=(120, 40)) as pilot:
        await connected(pilot)
        swarm = app.screen.query_one(SwarmPane)
        await hive.agents.set_state("alpha", AgentState.CRASHED, "exit 3")
        await until(pilot, lambda: ("alpha", "crashed") in [r[:2] for r in rows(swarm)])
        assert "exit 3" in rows(swarm)[1][4]
        assert [n.title for n in app.notifier.sent] == ["alpha crashed"]
        await hive.agents.set_state("alpha", AgentState.CRASHED, "exit 3 again")
        await until(pilot, lambda: "exit 3 again" in rows(swarm)[1][4])
        assert len(app.notifier.sent) == 1, "the same state again is no new transition"


async def test_the_banner_shows_while_the_daemon_is_away_and_a_fresh_snapshot_follows(
    hive: Hive,
) -> None:
    app = app_for(hive)
    async with app.run_test(size=(120, 40)) as pilot:
        await connected(pilot)
        status = app.screen.query_one(StatusLine)
        await hive.server.unlisten(hive.settings.host_socket)
        await until(pilot, lambda: status.has_class("-down"))
        assert "daemon unreachable" in shown(status)
        await hive.create_agent("gamma")  # happens while nobody listens
        await hive.server.listen(hive.settings.host_socket, Caller(Scope.HOST, "operator"))
        await until(pilot, lambda: not status.has_class("-down"))
        swarm = app.screen.query_one(SwarmPane)
        await until(pilot, lambda: "gamma" in column(swarm))


async def test_a_message_to_the_operator_is_announced_once_even_across_a_reconnect(
    hive: Hive, notify_send: FakeRunner
) -> None:
    alpha = await agent_client(hive, "alpha")
    app = app_for(hive, desktop_notify=True, runner=notify_send)
    async with app.run_test(size=(120, 40)) as pilot:
        await connected(pilot)
        sent = await alpha.call("messages.send", to="operator", body="the build is green")
        key = f"message:{sent['ids'][0]}"
        await until(pilot, lambda: key in [n.key for n in app.notifier.sent])
        await until(pilot, lambda: len(notify_send.calls) == 1)
        assert notify_send.calls[0][0] == "notify-send"
        assert notify_send.calls[0][-1] == "the build is green"

        await hive.server.unlisten(hive.settings.host_socket)
        await until(pilot, lambda: not app.model.connected)
        await hive.server.listen(hive.settings.host_socket, Caller(Scope.HOST, "operator"))
        await until(pilot, lambda: app.model.connected)
        await pilot.pause()
        assert [n.key for n in app.notifier.sent].count(key) == 1
        assert len(notify_send.calls) == 1
    await alpha.close()


async def test_the_viewer_role_hides_decisions_and_the_compose_box(hive: Hive) -> None:
    await hive.create_agent("alpha")
    app = app_for(hive, role="viewer")
    async with app.run_test(size=(120, 40)) as pilot:
        await connected(pilot)
        assert app.model.viewer
        assert not app.screen.query_one(ComposeBox).display
        swarm = app.screen.query_one(SwarmPane)
        swarm.focus_table()
        await pilot.press("down", "k")
        await pilot.pause()
        assert not isinstance(app.screen, ConfirmScreen)
        shown = {b.binding.key for b in app.screen.active_bindings.values() if b.enabled}
        assert not shown & {"s", "k", "r", "u", "d", "t", "c"}
        titles = [c.title for c in commands(app)]
        assert "Open alpha" in titles and "Kill alpha" not in titles


async def test_a_method_the_daemon_lacks_shows_not_available(hive: Hive) -> None:
    assert hive.server is not None
    del hive.server.methods[Scope.HOST]["approvals.list"]
    app = app_for(hive)
    async with app.run_test(size=(120, 40)) as pilot:
        await connected(pilot)
        pane = app.screen.query_one(ApprovalsPane)
        assert rows(pane) == []
        assert "not available" in shown(pane.query_one(".empty", Static))


async def test_the_command_palette_offers_the_lifecycle_actions_that_apply(hive: Hive) -> None:
    await hive.create_agent("alpha")
    app = app_for(hive)
    async with app.run_test(size=(120, 40)) as pilot:
        await connected(pilot)
        titles = {c.title for c in commands(app)}
        assert {"Start alpha", "Update alpha", "Destroy alpha"} <= titles
        assert not {"Kill alpha", "Restart alpha"} & titles  # it is stopped
        assert {"Terminal into alpha", "Message alpha", "Go to stats", "Help"} <= titles
        assert not {"Theme", "Keys", "Maximize", "Screenshot"} & titles  # Textual's own
        await hive.agents.update("alpha", state=AgentState.RUNNING)
        await until(pilot, lambda: "Kill alpha" in {c.title for c in commands(app)})
        titles = {c.title for c in commands(app)}
        assert "Restart alpha" in titles and "Start alpha" not in titles


async def test_question_mark_opens_the_help_and_escape_closes_it(hive: Hive) -> None:
    app = app_for(hive)
    async with app.run_test(size=(100, 30)) as pilot:
        await connected(pilot)
        await pilot.press("question_mark")
        await on_screen(pilot, HelpScreen)
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, HelpScreen))


async def test_a_palette_command_runs_its_action(hive: Hive) -> None:
    app = app_for(hive)
    async with app.run_test(size=(120, 40)) as pilot:
        await connected(pilot)
        await pilot.press("ctrl+p")
        await pilot.press(*"Go to audit")

        def offered() -> bool:
            found = app.screen.query(OptionList)
            return bool(found) and any(
                "Go to audit" in str(found.first().get_option_at_index(i).prompt)
                for i in range(found.first().option_count)
            )

        await until(pilot, offered)
        await pilot.press("enter")
        await on_screen(pilot, AuditScreen)
