"""The agent page's threads and log tabs, on a real daemon."""

from __future__ import annotations

from textual.widgets import DataTable

from hyperhive.core.client import HiveClient
from hyperhive.core.hive import Hive
from hyperhive.tui.panes.reminders import RemindersPane
from hyperhive.tui.panes.threads import ThreadQuestionsPane
from hyperhive.tui.screens.agent import AgentScreen
from hyperhive.tui.screens.modals import AnswerScreen, ConfirmScreen
from hyperhive.tui.widgets.logview import LogView
from tests.conftest import agent_client
from tests.tui.conftest import app_for, column, connected, on_screen, rows, until


def log_lines(log: LogView) -> list[str]:
    return [strip.text.rstrip() for strip in log.lines]


async def test_the_threads_tab_shows_a_peer_question_and_a_reminder_and_cancels_it(
    hive: Hive, host: HiveClient
) -> None:
    alice = await agent_client(hive, "alice")
    bob = await agent_client(hive, "bob")
    asked = (await alice.call("questions.ask", question="Which port?", to="bob"))["id"]
    first = (await alice.call("reminders.create", message="check CI", delay_seconds=600))["id"]
    app = app_for(hive)
    async with app.run_test(size=(140, 45)) as pilot:
        await connected(pilot)
        app.ops.open_agent("alice")
        screen = await on_screen(pilot, AgentScreen)
        await pilot.press("right_square_bracket")
        questions = screen.query_one(ThreadQuestionsPane)
        reminders = screen.query_one(RemindersPane)
        await until(pilot, lambda: column(questions) == [str(asked)])
        assert rows(questions)[0][1:4] == ("asked", "alice", "bob")
        await until(pilot, lambda: column(reminders) == [str(first)])
        # a reminder made while the page is open arrives by its event
        later = (await alice.call("reminders.create", message="tidy up", delay_seconds=900))["id"]
        await until(pilot, lambda: column(reminders) == [str(first), str(later)])

        reminders.focus_table()
        await pilot.press("x")
        await on_screen(pilot, ConfirmScreen)
        await pilot.press("enter")
        await on_screen(pilot, AgentScreen)
        await until(pilot, lambda: column(reminders) == [str(later)])
    left = await host.call("reminders.list", agent="alice")
    assert [r["id"] for r in left["reminders"]] == [later]
    await alice.close()
    await bob.close()


async def test_the_operator_answers_a_peer_question_from_the_threads_tab(hive: Hive) -> None:
    alice = await agent_client(hive, "alice")
    bob = await agent_client(hive, "bob")
    asked = (await alice.call("questions.ask", question="Which port?", to="bob"))["id"]
    app = app_for(hive)
    async with app.run_test(size=(140, 45)) as pilot:
        await connected(pilot)
        app.ops.open_agent("bob")
        screen = await on_screen(pilot, AgentScreen)
        await pilot.press("right_square_bracket")
        questions = screen.query_one(ThreadQuestionsPane)
        await until(pilot, lambda: column(questions) == [str(asked)])
        assert rows(questions)[0][1] == "to answer"
        questions.focus_table()
        await pilot.press("enter")
        await on_screen(pilot, AnswerScreen)
        for ch in "443":
            await pilot.press(ch)
        await pilot.press("enter")
        await on_screen(pilot, AgentScreen)
        await until(pilot, lambda: column(questions) == [])
    answered = await hive.questions.get(asked)
    assert (answered.status, answered.answer_text) == ("answered", "443")
    await alice.close()
    await bob.close()


async def test_the_log_tab_follows_new_lines_live_and_escapes_hostile_ones(hive: Hive) -> None:
    await hive.create_agent("alice")
    path = hive.settings.agent_dir("alice") / "harness.log"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("booted\n")
    app = app_for(hive)
    async with app.run_test(size=(140, 45)) as pilot:
        await connected(pilot)
        app.ops.open_agent("alice")
        screen = await on_screen(pilot, AgentScreen)
        await pilot.press("right_square_bracket", "right_square_bracket")
        log = screen.query_one(LogView)
        await until(pilot, lambda: log_lines(log) == ["booted"])
        with path.open("a") as fh:
            fh.write("turn 1 started\n")
        await until(pilot, lambda: log_lines(log)[-1:] == ["turn 1 started"])
        with path.open("a") as fh:
            fh.write("evil \x1b]0;pwn\x07 and \x1b[2J\n")
        await until(pilot, lambda: len(log_lines(log)) == 3)
        hostile = log_lines(log)[-1]
        assert "\x1b" not in hostile and "\x07" not in hostile
        assert hostile == "evil ^[]0;pwn^G and ^[[2J"
        assert log.follow_id is not None


async def test_a_viewer_sees_the_threads_but_cannot_cancel_a_reminder(hive: Hive) -> None:
    alice = await agent_client(hive, "alice")
    await alice.call("reminders.create", message="check CI", delay_seconds=600)
    app = app_for(hive, role="viewer")
    async with app.run_test(size=(140, 45)) as pilot:
        await connected(pilot)
        app.ops.open_agent("alice")
        screen = await on_screen(pilot, AgentScreen)
        await pilot.press("right_square_bracket")
        reminders = screen.query_one(RemindersPane)
        await until(pilot, lambda: len(rows(reminders)) == 1)
        reminders.focus_table()
        await pilot.press("x")
        await pilot.pause()
        assert isinstance(app.screen, AgentScreen)
        assert reminders.query_one(DataTable).row_count == 1
    await alice.close()
