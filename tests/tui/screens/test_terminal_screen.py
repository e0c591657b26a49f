"""The terminal screen in the real app: every key reaches the shell but the one escape, ctrl+]."""

from __future__ import annotations

import shutil

import pytest

from hyperhive.core.hive import Hive
from hyperhive.tui.screens.dashboard import DashboardScreen
from hyperhive.tui.screens.terminal import TerminalScreen
from hyperhive.tui.widgets.terminal import LocalPtyTransport, TerminalWidget
from tests.tui.conftest import app_for, connected, on_screen, until

if shutil.which("stty") is None or shutil.which("cat") is None:
    pytest.skip("stty and cat are needed", allow_module_level=True)

# no echo (only cat's output shows) and no XON/XOFF (the tty driver would eat ^Q)
CAT_V = ["sh", "-c", "stty -echo -ixon; echo ready; exec cat -v"]


def screen_text(term: TerminalWidget) -> str:
    return "\n".join(term.screen_lines())


async def test_ctrl_q_ctrl_p_and_alt_x_reach_the_shell_and_ctrl_bracket_leaves(
    hive: Hive,
) -> None:
    app = app_for(hive)
    async with app.run_test(size=(100, 30)) as pilot:
        await connected(pilot)
        app.push_screen(TerminalScreen(app.ctx, "alpha", LocalPtyTransport(CAT_V)))
        screen = await on_screen(pilot, TerminalScreen)
        term = screen.query_one(TerminalWidget)
        await until(pilot, lambda: "ready" in screen_text(term))

        await pilot.press("ctrl+q", "ctrl+p", "alt+x", "ctrl+left", "question_mark", "1", "enter")
        try:
            await until(pilot, lambda: "^Q^P^[x^[[1;5D?1" in screen_text(term), 3)
        except TimeoutError:
            raise AssertionError(screen_text(term)) from None
        assert app.is_running and app.screen is screen  # no quit, no palette, no help, no mode

        await pilot.press("escape", "q", "enter")  # esc and q are the shell's too
        await until(pilot, lambda: "^[q" in screen_text(term))
        assert app.screen is screen

        await pilot.press("ctrl+right_square_bracket")
        await on_screen(pilot, DashboardScreen)


async def test_a_full_screen_program_leaves_no_output_behind() -> None:
    from textual.app import App, ComposeResult

    script = r"printf 'before\n'; printf '\033[?1049hFULL SCREEN'; printf '\033[?1049lafter\n'"

    class One(App[None]):
        def compose(self) -> ComposeResult:
            yield TerminalWidget(LocalPtyTransport(["sh", "-c", script + "; sleep 5"]))

    app = One()
    async with app.run_test(size=(60, 10)) as pilot:
        term = app.query_one(TerminalWidget)
        await until(pilot, lambda: "after" in screen_text(term))
        text = screen_text(term)
        assert "before" in text and "FULL SCREEN" not in text
        assert term.screen_lines()[:2] == ["before", "after"]
