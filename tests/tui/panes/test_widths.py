"""Columns size to the terminal: long text takes the width there is, and no more."""

from __future__ import annotations

import pytest
from textual.widgets import DataTable

from hyperhive.core.hive import Hive
from hyperhive.tui.panes.messages import FlowList, InboxList
from hyperhive.tui.panes.questions import QuestionsPane
from tests.conftest import agent_client
from tests.tui.conftest import app_for, connected, rows, until


@pytest.mark.parametrize("width", [80, 120, 200])
async def test_long_messages_and_questions_fit_their_pane_at_any_width(
    hive: Hive, width: int
) -> None:
    alpha = await agent_client(hive, "alpha")
    await alpha.call("messages.send", to="operator", body="word " * 100)
    await alpha.call("messages.send", to="manager", body="text " * 100)
    await alpha.call("questions.ask", question="why " * 100, options=["a"])
    app = app_for(hive)
    async with app.run_test(size=(width, 40)) as pilot:
        await connected(pilot)
        for kind in (FlowList, InboxList, QuestionsPane):
            pane = app.screen.query_one(kind)
            await until(pilot, lambda p=pane: rows(p))
            await pilot.pause()
            table = pane.query_one(DataTable)
            assert table.virtual_size.width <= pane.size.width, kind.__name__
            assert pane.flex_width > 44 or width == 80  # wider terminals show more text
    await alpha.close()
