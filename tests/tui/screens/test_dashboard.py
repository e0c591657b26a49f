"""The dashboard in daily use: the compose box stays put, focus follows the work."""

from __future__ import annotations

from textual.widgets import DataTable, Input

from hyperhive.core.client import HiveClient
from hyperhive.core.hive import Hive
from hyperhive.tui.panes.approvals import ApprovalsPane
from hyperhive.tui.panes.compose import ComposeBox
from hyperhive.tui.panes.questions import QuestionsPane
from hyperhive.tui.panes.swarm import SwarmPane
from hyperhive.tui.screens.modals import ConfirmScreen
from tests.conftest import agent_client
from tests.tui.conftest import app_for, column, connected, on_screen, until


def inside_screen(app: object, widget: object) -> bool:
    region = widget.region  # type: ignore[attr-defined]
    size = app.screen.size  # type: ignore[attr-defined]
    return region.height > 0 and region.y >= 0 and region.bottom <= size.height


async def test_the_compose_box_stays_visible_when_a_question_arrives(hive: Hive) -> None:
    alpha = await agent_client(hive, "alpha")
    app = app_for(hive)
    async with app.run_test(size=(80, 24)) as pilot:
        await connected(pilot)
        await pilot.press("c")
        field = app.screen.query_one(ComposeBox).query_one(Input)
        await until(pilot, lambda: field.has_focus)
        await pilot.press(*"@alpha half a thought")
        for n in range(3):
            await alpha.call("questions.ask", question=f"question {n}?", options=["a", "b"])
        questions = app.screen.query_one(QuestionsPane)
        await until(pilot, lambda: len(column(questions)) == 3)
        await pilot.pause()
        assert field.has_focus and field.value == "@alpha half a thought"
        assert inside_screen(app, field)
    await alpha.close()


async def test_escape_drops_the_reply_then_leaves_the_compose_box(hive: Hive) -> None:
    await hive.create_agent("alpha")
    app = app_for(hive)
    async with app.run_test(size=(120, 40)) as pilot:
        await connected(pilot)
        screen = app.screen
        screen.compose_to("alpha", reply_to=7)
        box = screen.query_one(ComposeBox)
        await until(pilot, lambda: box.query_one(Input).has_focus)
        await pilot.press("escape")
        assert box.reply_to is None and box.query_one(Input).has_focus
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.focused, DataTable))
        assert not box.query_one(Input).has_focus


async def test_focus_moves_to_the_next_pane_with_work_after_the_last_approval(
    hive: Hive, host: HiveClient
) -> None:
    alpha = await agent_client(hive, "alpha")
    await host.call("approvals.request_spawn", name="gamma")
    app = app_for(hive)
    async with app.run_test(size=(120, 40)) as pilot:
        await connected(pilot)
        approvals = app.screen.query_one(ApprovalsPane)
        await until(pilot, lambda: len(column(approvals)) == 1)
        approvals.focus_table()
        await pilot.press("x")
        await on_screen(pilot, ConfirmScreen)
        await pilot.press("enter")
        await until(pilot, lambda: column(approvals) == [])
        # nothing else waits: the swarm gets the focus, not nothing
        await until(pilot, lambda: app.focused is not None)
        assert app.focused.parent is app.screen.query_one(SwarmPane)

        # a question arrives and is answered: focus stays somewhere useful
        await alpha.call("questions.ask", question="ok?", options=["yes", "no"])
        questions = app.screen.query_one(QuestionsPane)
        await until(pilot, lambda: len(column(questions)) == 1)
        questions.focus_table()
        await pilot.press("enter", "enter", "tab", "enter")
        await until(pilot, lambda: column(questions) == [])
        await until(pilot, lambda: app.focused is not None)
        assert app.focused.parent is app.screen.query_one(SwarmPane)
    await alpha.close()
