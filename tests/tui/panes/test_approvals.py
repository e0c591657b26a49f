"""The approvals pane against a real daemon: the queue, the diff, deny with a note, approve."""

from __future__ import annotations

from textual.widgets import Input

from hyperhive.core.client import HiveClient
from hyperhive.core.hive import Hive
from hyperhive.core.settings import Settings
from hyperhive.tui.panes.approvals import ApprovalsPane
from hyperhive.tui.panes.swarm import SwarmPane
from hyperhive.tui.screens.approval import ApprovalScreen
from hyperhive.tui.screens.modals import ConfirmScreen
from hyperhive.tui.widgets.textview import TextView
from tests.support.swarm import open_swarm
from tests.tui.conftest import app_for, column, connected, on_screen, shown, until


async def test_a_pending_spawn_shows_its_diff_and_is_denied_with_a_note(
    hive: Hive, host: HiveClient
) -> None:
    app = app_for(hive)
    async with app.run_test(size=(120, 40)) as pilot:
        await connected(pilot)
        pane = app.screen.query_one(ApprovalsPane)
        asked = await host.call("approvals.request_spawn", name="gamma")
        await until(pilot, lambda: column(pane) == [str(asked["id"])])
        assert f"approval:{asked['id']}" in [n.key for n in app.notifier.sent]

        pane.focus_table()
        await pilot.press("enter")
        await on_screen(pilot, ApprovalScreen)
        diff = app.screen.query_one("#diff-running", TextView)
        await until(pilot, lambda: "agent.toml" in shown(diff))

        await pilot.press("x")
        await on_screen(pilot, ConfirmScreen)
        await pilot.press(*"not now")
        assert app.screen.query_one("#note", Input).value == "not now"
        await pilot.press("enter")
        await until(pilot, lambda: app.model.approvals[asked["id"]].status == "denied")
        assert (await hive.approvals.get(asked["id"])).note == "not now"
        await pilot.press("escape")
        await until(pilot, lambda: column(app.screen.query_one(ApprovalsPane)) == [])


async def test_approving_a_spawn_builds_the_agent_and_it_joins_the_swarm(
    settings: Settings,
) -> None:
    async with open_swarm(settings) as hive:
        host = await HiveClient.connect(settings.host_socket)
        await host.call("approvals.request_spawn", name="delta")
        app = app_for(hive)
        async with app.run_test(size=(120, 40)) as pilot:
            await connected(pilot)
            pane = app.screen.query_one(ApprovalsPane)
            pane.focus_table()
            await pilot.press("a")
            await on_screen(pilot, ConfirmScreen)
            await pilot.press("enter")
            swarm = app.screen.query_one(SwarmPane)
            await until(pilot, lambda: ("delta", "running") in [r[:2] for r in _rows(swarm)])
            assert column(pane) == []
        await host.close()


def _rows(pane: SwarmPane) -> list[tuple[str, ...]]:
    from tests.tui.conftest import rows

    return [(r[0], r[1].split()[-1]) for r in rows(pane)]
