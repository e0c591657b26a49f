"""The approval screen: every column of a long diff line can be read before approving."""

from __future__ import annotations

import re

from textual.widgets import Static

from hyperhive.core.agent_config import default_files
from hyperhive.core.hive import Hive
from hyperhive.core.models import Role
from hyperhive.tui.screens.approval import ApprovalScreen
from hyperhive.tui.screens.modals import ConfirmScreen
from hyperhive.tui.widgets.textview import MARK_RIGHT, TextView
from tests.tui.conftest import app_for, connected, on_screen, shown, until, visible

WIDE_RULE = "allowed_bash = [" + ", ".join(f'"tool{i:02d} *"' for i in range(30)) + ', "*"]'


def count_unseen(text: str) -> int:
    found = re.search(r"(\d+) lines? of the diff w", text)
    return int(found.group(1)) if found else 0


def on_screen_line(view: TextView, row: int) -> str:
    return visible(view)[row - round(view.scroll_y)]


async def request_spawn_with(hive: Hive, name: str, extra: str, file: str = "agent.toml") -> int:
    """A pending spawn whose ``file`` ends with ``extra``; in agent.toml, a key ``extra``
    sets is moved there (agent.toml must stay valid: it is checked at submit)."""
    files = dict(default_files(name, Role.AGENT))
    text = files[file].decode()
    key = extra.split(" = ", 1)[0]
    lines = [line for line in text.split("\n") if not line.startswith(f"{key} = ")]
    files[file] = ("\n".join(lines) + extra + "\n").encode()
    await hive.repos.create(name, files)
    approval = await hive.approvals.request_spawn(name, by="test")
    return approval.id


async def test_a_300_character_diff_line_is_readable_at_60_columns_by_scrolling(
    hive: Hive,
) -> None:
    assert len(WIDE_RULE) > 300
    approval_id = await request_spawn_with(hive, "gamma", WIDE_RULE)
    app = app_for(hive)
    async with app.run_test(size=(60, 24)) as pilot:
        await connected(pilot)
        app.ops.open_approval(approval_id)
        screen = await on_screen(pilot, ApprovalScreen)
        view = screen.query_one("#diff-running", TextView)
        await until(pilot, lambda: "+" + WIDE_RULE in view.lines)
        row = view.lines.index("+" + WIDE_RULE)
        await pilot.press("G")  # to the bottom, where the new line is
        await pilot.pause()
        assert on_screen_line(view, row).endswith(MARK_RIGHT)  # the clipped line says so
        assert not view.seen_in_full(row)

        # approving now warns that a line was never seen in full
        await pilot.press("a")
        confirm = await on_screen(pilot, ConfirmScreen)
        warning = "\n".join(shown(s) for s in confirm.query(Static))
        assert "of the diff were never scrolled fully into view" in warning
        await pilot.press("escape")
        await on_screen(pilot, ApprovalScreen)

        # sideways, a step at a time, every part of the line comes on screen
        steps = 0
        while view.scroll_x < view.max_scroll_x:
            await pilot.press("l" if steps % 2 else "right")
            steps += 1
        assert steps > 20
        assert on_screen_line(view, row).endswith('"tool29 *", "*"]')
        assert view.seen_in_full(row)
        await pilot.press("a")
        confirm = await on_screen(pilot, ConfirmScreen)
        after = "\n".join(shown(s) for s in confirm.query(Static))
        assert 0 < count_unseen(after) < count_unseen(warning)  # others still wait


async def test_end_jumps_to_the_line_end_and_the_skipped_middle_still_counts_as_unseen(
    hive: Hive,
) -> None:
    approval_id = await request_spawn_with(hive, "gamma", WIDE_RULE)
    app = app_for(hive)
    async with app.run_test(size=(60, 24)) as pilot:
        await connected(pilot)
        app.ops.open_approval(approval_id)
        screen = await on_screen(pilot, ApprovalScreen)
        view = screen.query_one("#diff-running", TextView)
        await until(pilot, lambda: "+" + WIDE_RULE in view.lines)
        row = view.lines.index("+" + WIDE_RULE)
        await pilot.press("G", "end")
        await pilot.pause()
        assert on_screen_line(view, row).endswith('"*"]')
        assert not view.seen_in_full(row)  # its middle never was on screen
        await pilot.press("home")
        await pilot.pause()
        assert on_screen_line(view, row).startswith("+allowed_bash")


async def test_the_approval_screen_says_which_host_the_agent_will_run_on(hive: Hive) -> None:
    approval_id = await request_spawn_with(hive, "delta", "")
    app = app_for(hive)
    async with app.run_test(size=(120, 24)) as pilot:
        await connected(pilot)
        app.ops.open_approval(approval_id)
        screen = await on_screen(pilot, ApprovalScreen)
        head = screen.query_one("#head", Static)
        await until(pilot, lambda: "on host" in shown(head))
        assert "on host local (chosen at request)" in shown(head)
