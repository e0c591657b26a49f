"""The questions pane against a real daemon: a question arrives, is answered or cancelled."""

from __future__ import annotations

from textual.widgets import Input, RadioButton, SelectionList

from hyperhive.core.hive import Hive
from hyperhive.tui.panes.questions import QuestionsPane
from hyperhive.tui.screens.modals import AnswerScreen, ConfirmScreen
from tests.conftest import agent_client
from tests.tui.conftest import app_for, column, connected, on_screen, rows, until


async def test_a_question_is_announced_and_answered_with_an_option_and_free_text(
    hive: Hive,
) -> None:
    alpha = await agent_client(hive, "alpha")
    app = app_for(hive)
    async with app.run_test(size=(120, 40)) as pilot:
        await connected(pilot)
        pane = app.screen.query_one(QuestionsPane)
        asked = await alpha.call(
            "questions.ask", question="Which branch?", options=["main", "dev"], ttl_seconds=600
        )
        await until(pilot, lambda: column(pane) == [str(asked["id"])])
        assert rows(pane)[0][4].startswith("⏳"), "the TTL counts down"
        assert f"question:{asked['id']}" in [n.key for n in app.notifier.sent]

        pane.focus_table()
        await pilot.press("enter")
        await on_screen(pilot, AnswerScreen)
        await pilot.click(RadioButton, offset=(2, 0))
        app.screen.query_one("#free", Input).value = "after lunch"
        await pilot.click("#send")
        await until(pilot, lambda: column(pane) == [])
        found = (await hive.questions.list())[0]
        assert found.status == "answered"
        assert found.answer_options == ("main",) and found.answer_text == "after lunch"
    await alpha.close()


async def test_a_multi_question_takes_several_options(hive: Hive) -> None:
    alpha = await agent_client(hive, "alpha")
    await alpha.call("questions.ask", question="Which?", options=["a", "b", "c"], multi=True)
    app = app_for(hive)
    async with app.run_test(size=(120, 40)) as pilot:
        await connected(pilot)
        pane = app.screen.query_one(QuestionsPane)
        pane.focus_table()
        await pilot.press("enter")
        await on_screen(pilot, AnswerScreen)
        choices = app.screen.query_one(SelectionList)
        choices.select("a")
        choices.select("c")
        await pilot.click("#send")
        await until(pilot, lambda: column(pane) == [])
        assert (await hive.questions.list())[0].answer_options == ("a", "c")
    await alpha.close()


async def test_x_cancels_a_question_after_asking(hive: Hive) -> None:
    alpha = await agent_client(hive, "alpha")
    await alpha.call("questions.ask", question="Still needed?")
    app = app_for(hive)
    async with app.run_test(size=(120, 40)) as pilot:
        await connected(pilot)
        pane = app.screen.query_one(QuestionsPane)
        pane.focus_table()
        await pilot.press("x")
        await on_screen(pilot, ConfirmScreen)
        await pilot.press("enter")
        await until(pilot, lambda: column(pane) == [])
        assert (await hive.questions.list())[0].status == "cancelled"
    await alpha.close()


async def test_a_damaged_stored_question_still_shows_with_its_error(hive: Hive) -> None:
    alpha = await agent_client(hive, "alpha")
    asked = await alpha.call("questions.ask", question="Deploy now?", options=["yes", "no"])
    await hive.store.write(
        lambda db: db.execute(
            "UPDATE questions SET options_json = '{not json' WHERE id = ?", (asked["id"],)
        )
    )
    app = app_for(hive)
    async with app.run_test(size=(120, 40)) as pilot:
        await connected(pilot)
        pane = app.screen.query_one(QuestionsPane)
        assert column(pane) == [str(asked["id"])]
        assert "⚠" in rows(pane)[0][2] and "Deploy now?" in rows(pane)[0][2]
    await alpha.close()
