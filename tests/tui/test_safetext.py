"""Agent text is data: escape sequences show escaped and markup shows as the text it is."""

from __future__ import annotations

import re

from rich.text import Text
from textual.widgets import RadioButton, Static

from hyperhive.core.hive import Hive
from hyperhive.tui.format import safe_text
from hyperhive.tui.model import HiveModel
from hyperhive.tui.palette import HiveCommands
from hyperhive.tui.panes.messages import FlowList, InboxList
from hyperhive.tui.panes.questions import QuestionsPane
from hyperhive.tui.screens.approval import ApprovalScreen
from hyperhive.tui.screens.modals import AnswerScreen
from hyperhive.tui.widgets.status import StatusLine
from hyperhive.tui.widgets.textview import TextView
from tests.conftest import agent_client
from tests.tui.conftest import app_for, connected, on_screen, rows, shown, until
from tests.tui.screens.test_approval import request_spawn_with

HOSTILE = "\x1b[2J\x1b]0;pwned\x07[bold red]boom[/] [link=https://x]click[/link]\x9b31m"
CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")
ESCAPED = "^[[2J^[]0;pwned^G[bold red]boom[/] [link=https://x]click[/link]\\x9b31m"


async def test_hostile_bodies_questions_and_options_show_escaped_and_unparsed(hive: Hive) -> None:
    alpha = await agent_client(hive, "alpha")
    await alpha.call("messages.send", to="operator", body=HOSTILE)
    await alpha.call("questions.ask", question=HOSTILE, options=["[b]yes[/b]", "\x1b[31mno"])
    app = app_for(hive)
    async with app.run_test(size=(200, 50)) as pilot:
        await connected(pilot)
        inbox = app.screen.query_one(InboxList)
        await until(pilot, lambda: rows(inbox))
        for cell in (rows(inbox)[0][2], rows(app.screen.query_one(FlowList))[-1][3]):
            assert cell.startswith("^[[2J^[]0;pwned") and "[bold red]boom[/]" in cell
            assert not CONTROL.search(cell)
        questions = app.screen.query_one(QuestionsPane)
        await until(pilot, lambda: rows(questions))
        assert rows(questions)[0][2].startswith("^[[2J^[]0;pwned")
        assert not CONTROL.search(rows(questions)[0][2])

        # the answer dialog: the question whole, the options as labels, no markup parsed
        app.ops.answer(app.model.open_questions()[0])
        dialog = await on_screen(pilot, AnswerScreen)
        assert shown(dialog.query_one(".question", Static)) == ESCAPED
        labels = [b.label.plain for b in dialog.query(RadioButton)]
        assert labels == ["[b]yes[/b]", "^[[31mno"]
        await pilot.press("escape")

        # the palette shows the question as text too
        provider = HiveCommands(app.screen)
        hits = [hit async for hit in provider.search("answer")]
        prompt = hits[0].prompt
        assert isinstance(prompt, Text) and "[bold red]boom[/]" in prompt.plain
        assert "\x1b" not in prompt.plain
    await alpha.close()


async def test_a_diff_with_escape_sequences_shows_them_escaped(hive: Hive) -> None:
    approval_id = await request_spawn_with(hive, "gamma", f"# {HOSTILE}", file="prompt.md")
    app = app_for(hive)
    async with app.run_test(size=(120, 30)) as pilot:
        await connected(pilot)
        app.ops.open_approval(approval_id)
        screen = await on_screen(pilot, ApprovalScreen)
        view = screen.query_one("#diff-running", TextView)
        await until(pilot, lambda: f"+# {ESCAPED}" in view.lines)
        assert not any("\x1b" in line or "\x07" in line for line in view.lines)


def test_escaping_keeps_the_styles_of_a_rich_text() -> None:
    text = Text.assemble(("ok ", "green"), ("\x1b[31mred", "bold"), " end")
    fixed = safe_text(text)
    assert fixed.plain == "ok ^[[31mred end"
    assert [(fixed.plain[s.start : s.end], str(s.style)) for s in fixed.spans] == [
        ("ok ", "green"),
        ("^[[31mred", "bold"),
    ]


def test_the_header_says_plainly_when_agents_are_not_isolated() -> None:
    model = HiveModel()
    model.connected = True
    line = StatusLine("dashboard")
    assert "isolated" not in line.line(model, 200).plain  # nothing said: unknown
    model.status = {"runtime": "process", "isolated": True}
    assert "isolated" not in line.line(model, 200).plain
    model.status = {"runtime": "process", "isolated": False}
    assert "agents are NOT isolated (process runtime)" in line.line(model, 200).plain
    assert "NOT isolated" in line.line(model, 60).plain  # kept, shorter, at any width


async def test_the_model_reads_isolation_from_daemon_status(hive: Hive) -> None:
    app = app_for(hive)
    async with app.run_test(size=(120, 30)) as pilot:
        await connected(pilot)
        assert app.model.status.get("runtime") == hive.settings.runtime
        if "isolated" not in app.model.status:  # a daemon that does not say: unknown, no warning
            assert app.model.isolated is None
        else:
            assert app.model.isolated is app.model.status["isolated"]
