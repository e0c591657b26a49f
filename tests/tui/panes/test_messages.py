"""The messages column against a real daemon: compose and send, completion, filter, inbox."""

from __future__ import annotations

import pytest
from textual.widgets import Input

from hyperhive.core.hive import Hive
from hyperhive.tui.panes.base import Row
from hyperhive.tui.panes.compose import ComposeBox, parse_compose
from hyperhive.tui.panes.messages import FlowList, InboxList
from hyperhive.tui.screens.modals import TextScreen
from hyperhive.tui.views import MessageView
from tests.conftest import agent_client
from tests.tui.conftest import app_for, column, connected, on_screen, rows, until


async def history(hive: Hive, agent: str) -> list[tuple[str, str, str]]:
    return [(m.sender, m.recipient, m.body) for m in await hive.broker.history(agent=agent)]


async def test_compose_sends_to_the_named_agent_and_the_recipient_sticks(hive: Hive) -> None:
    await hive.create_agent("alpha")
    app = app_for(hive)
    async with app.run_test(size=(120, 40)) as pilot:
        await connected(pilot)
        await pilot.press("c")
        box = app.screen.query_one(ComposeBox)
        field = box.query_one(Input)
        assert field.has_focus
        await pilot.press(*"@alpha hi", "enter")
        await until(pilot, lambda: field.value == "")
        await pilot.press(*"again", "enter")
        await until(pilot, lambda: field.value == "")
        assert await history(hive, "alpha") == [
            ("operator", "alpha", "hi"),
            ("operator", "alpha", "again"),
        ]
        flow = app.screen.query_one(FlowList)
        await until(pilot, lambda: len(rows(flow)) == 2)
        assert rows(flow)[0][2] == "operator → alpha"


async def test_an_unknown_recipient_keeps_the_text_and_says_why(hive: Hive) -> None:
    app = app_for(hive)
    async with app.run_test(size=(120, 40)) as pilot:
        await connected(pilot)
        await pilot.press("c", *"@nobody hi", "enter")
        notes = app._notifications
        await until(pilot, lambda: any("unknown recipient" in n.message for n in notes))
        assert app.screen.query_one(ComposeBox).query_one(Input).value == "@nobody hi"


async def test_at_name_completes_to_an_agent_name(hive: Hive) -> None:
    await hive.create_agent("alpha")
    app = app_for(hive)
    async with app.run_test(size=(120, 40)) as pilot:
        await connected(pilot)
        await pilot.press("c", *"@al")
        field = app.screen.query_one(ComposeBox).query_one(Input)
        await until(pilot, lambda: field._suggestion == "@alpha ")
        await pilot.press("right")
        assert field.value == "@alpha "


async def test_slash_filters_the_message_flow_and_escape_clears_it(hive: Hive) -> None:
    for name in ("alpha", "beta"):
        await hive.create_agent(name)
    await hive.broker.send("alpha", "beta", "the needle is here")
    await hive.broker.send("beta", "alpha", "only hay")
    await hive.broker.send("alpha", "beta", "another needle")
    app = app_for(hive)
    async with app.run_test(size=(120, 40)) as pilot:
        await connected(pilot)
        flow = app.screen.query_one(FlowList)
        flow.focus_table()
        await pilot.press("slash", *"needle")
        await until(pilot, lambda: len(rows(flow)) == 2)
        assert all("needle" in r[3] for r in rows(flow))
        await hive.broker.send("beta", "alpha", "a third needle arrives live")
        await until(pilot, lambda: len(rows(flow)) == 3)
        await pilot.press("escape")
        await until(pilot, lambda: len(rows(flow)) == 4)


async def test_opening_an_inbox_message_shows_it_whole_and_marks_it_read(hive: Hive) -> None:
    alpha = await agent_client(hive, "alpha")
    await alpha.call("messages.send", to="operator", body="line one\nline two")
    app = app_for(hive)
    async with app.run_test(size=(120, 40)) as pilot:
        await connected(pilot)
        inbox = app.screen.query_one(InboxList)
        assert column(inbox, 3) == ["new"]
        inbox.focus_table()
        await pilot.press("enter")
        await on_screen(pilot, TextScreen)
        await pilot.press("escape")
        await until(pilot, lambda: column(inbox, 3) == ["read"])
        got = await hive.broker.history(recipient="operator")
        assert got[0].acked_at is not None
    await alpha.close()


def test_compose_lines_name_a_recipient_or_keep_the_last_one() -> None:
    assert parse_compose("@alpha hi there", None) == ("alpha", "hi there")
    assert parse_compose("no at sign", "beta") == ("beta", "no at sign")
    assert parse_compose("@hm1nd status?", None) == ("manager", "status?")
    assert parse_compose("@* everyone", None) == ("*", "everyone")
    assert parse_compose("hello", None) == (None, "hello")


async def test_bodies_that_look_like_markup_show_as_written(hive: Hive) -> None:
    alpha = await agent_client(hive, "alpha")
    app = app_for(hive)
    async with app.run_test(size=(120, 40)) as pilot:
        await connected(pilot)
        body = "[answer to question #3] [bold]main[/bold] [/]"
        await alpha.call("messages.send", to="operator", body=body)
        inbox = app.screen.query_one(InboxList)
        await until(pilot, lambda: column(inbox, 2) == [body])
        await until(pilot, lambda: [n.message for n in app.notifier.sent] == [body])
        await pilot.pause()
    await alpha.close()


async def test_a_new_message_makes_its_own_row_and_not_the_whole_flow_again(
    hive: Hive, monkeypatch: pytest.MonkeyPatch
) -> None:
    await hive.create_agent("alpha")
    for i in range(30):
        await hive.broker.send("operator", "alpha", f"m{i}")
    app = app_for(hive)
    async with app.run_test(size=(120, 40)) as pilot:
        await connected(pilot)
        flow = app.screen.query_one(FlowList)
        await until(pilot, lambda: len(rows(flow)) == 30)
        made: list[int] = []
        make = FlowList.row

        def counted(self: FlowList, m: MessageView) -> Row:
            made.append(m.id)
            return make(self, m)

        monkeypatch.setattr(FlowList, "row", counted)
        [sent] = await hive.broker.send("operator", "alpha", "one more")
        await until(pilot, lambda: len(rows(flow)) == 31)
        assert set(made) == {sent.id}
