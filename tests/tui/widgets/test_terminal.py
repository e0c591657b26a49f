"""Tests for the embedded terminal widget, driven through a real PTY and Textual's Pilot."""

from __future__ import annotations

import asyncio
import os
import shutil
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from rich.color import Color
from textual import events
from textual.app import App, ComposeResult
from textual.pilot import Pilot

from hyperhive.core.errors import ContainerError
from hyperhive.tui.widgets.terminal import LocalPtyTransport, TerminalWidget, key_bytes

SHELL = shutil.which("bash")
if SHELL is None:
    pytest.skip("bash is not installed", allow_module_level=True)

SHELL_ENV = {
    "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
    "PS1": "$ ",
    "TERM": "xterm-256color",
}


class TerminalApp(App[None]):
    """One full-screen terminal; records the Closed messages it receives."""

    def __init__(self, transport: LocalPtyTransport) -> None:
        super().__init__()
        self.transport = transport
        self.closed: list[TerminalWidget.Closed] = []

    def compose(self) -> ComposeResult:
        yield TerminalWidget(self.transport)

    def on_terminal_widget_closed(self, message: TerminalWidget.Closed) -> None:
        self.closed.append(message)


@pytest.fixture
async def shell(tmp_path: Path) -> AsyncIterator[LocalPtyTransport]:
    env = {**SHELL_ENV, "HOME": str(tmp_path), "HISTFILE": str(tmp_path / "history")}
    transport = LocalPtyTransport([SHELL, "--norc", "--noprofile", "-i"], env=env, cwd=tmp_path)
    try:
        yield transport
    finally:
        await transport.close()


async def until(pilot: Pilot[None], condition: Callable[[], bool], timeout: float = 10) -> None:
    """Let the app run until condition() holds, failing after timeout seconds."""
    async with asyncio.timeout(timeout):
        while not condition():
            await pilot.pause(0.01)


async def type_line(pilot: Pilot[None], line: str) -> None:
    """Type line key by key, then Enter."""
    await pilot.press(*line, "enter")


async def paste_line(pilot: Pilot[None], line: str) -> None:
    """Paste line (one event, much faster than typing it), then press Enter."""
    pilot.app.query_one(TerminalWidget).post_message(events.Paste(line))
    await pilot.press("enter")


def shows(terminal: TerminalWidget, text: str) -> Callable[[], bool]:
    return lambda: text in terminal.screen_lines()


async def test_typed_command_output_appears_on_the_screen(shell: LocalPtyTransport) -> None:
    app = TerminalApp(shell)
    async with app.run_test(size=(80, 24)) as pilot:
        terminal = app.query_one(TerminalWidget)
        await type_line(pilot, "echo hi")
        await until(pilot, shows(terminal, "hi"))
        await until(pilot, lambda: terminal.screen_lines()[2] == "$")
        cursor = [seg for seg in terminal.render_line(2) if seg.style and seg.style.reverse]
        assert [seg.text for seg in cursor] == [" "], "the cursor is drawn after the prompt"


async def test_resizing_the_app_resizes_the_pty(shell: LocalPtyTransport) -> None:
    app = TerminalApp(shell)
    async with app.run_test(size=(80, 24)) as pilot:
        terminal = app.query_one(TerminalWidget)
        await paste_line(pilot, "stty size")
        await until(pilot, shows(terminal, "24 80"))
        await pilot.resize_terminal(100, 30)
        await until(pilot, lambda: len(terminal.screen_lines()) == 30)
        await paste_line(pilot, "stty size")
        await until(pilot, shows(terminal, "30 100"))
        await pilot.resize_terminal(60, 8)
        await paste_line(pilot, "stty size")
        await until(pilot, shows(terminal, "8 60"))
        assert "30 100" in terminal.screen_lines(), "shrinking keeps the rows above the cursor"


async def test_ctrl_c_interrupts_the_foreground_job(shell: LocalPtyTransport) -> None:
    app = TerminalApp(shell)
    async with app.run_test(size=(80, 24)) as pilot:
        terminal = app.query_one(TerminalWidget)
        await paste_line(pilot, "sleep 100")
        await until(pilot, lambda: _has_child_named(shell, "sleep"))
        await pilot.press("ctrl+c")
        await paste_line(pilot, "echo rc=$?")
        await until(pilot, shows(terminal, "rc=130"))


async def test_sgr_colours_become_rich_styles(shell: LocalPtyTransport) -> None:
    app = TerminalApp(shell)
    async with app.run_test(size=(80, 24)) as pilot:
        terminal = app.query_one(TerminalWidget)
        await paste_line(pilot, r"printf '\e[31mred\e[0m \e[1;38;5;196mhot\e[0m\n'")
        await until(pilot, shows(terminal, "red hot"))
        row = terminal.screen_lines().index("red hot")
        styles = {seg.text: seg.style for seg in terminal.render_line(row) if seg.style}
        assert styles["red"].color == Color.parse("red")
        assert styles["hot"].color == Color.parse("#ff0000")
        assert styles["hot"].bold


async def test_exiting_the_shell_posts_closed(shell: LocalPtyTransport) -> None:
    app = TerminalApp(shell)
    async with app.run_test(size=(80, 24)) as pilot:
        terminal = app.query_one(TerminalWidget)
        await paste_line(pilot, "exit 3")
        await until(pilot, lambda: bool(app.closed))
        assert app.closed[0].terminal is terminal
        assert app.closed[0].error is None
        assert terminal.closed


async def test_twenty_thousand_lines_render_and_scroll_back() -> None:
    transport = LocalPtyTransport(["seq", "20000"])
    app = TerminalApp(transport)
    started = time.perf_counter()
    async with app.run_test(size=(80, 24)) as pilot:
        terminal = app.query_one(TerminalWidget)
        await until(pilot, lambda: bool(app.closed), timeout=60)
        elapsed = time.perf_counter() - started
        print(f"\nseq 20000 through the terminal widget: {elapsed:.2f} s")
        assert "20000" in terminal.screen_lines()
        live = terminal.screen_lines()
        await pilot.press("shift+pageup")
        rows = [text_of(terminal, y) for y in range(24)]
        assert rows[23] == live[0], "one page (23 rows) back, the old top row sits at the bottom"
        assert [int(row) for row in rows[:23]] == list(range(int(live[0]) - 23, int(live[0])))
        await pilot.press("shift+pagedown")
        assert [text_of(terminal, y) for y in range(24)] == live
    await transport.close()


async def test_starting_a_missing_program_raises_container_error() -> None:
    with pytest.raises(ContainerError, match="cannot start"):
        LocalPtyTransport(["/nonexistent/program"])


def test_keys_translate_to_terminal_byte_sequences() -> None:
    assert key_bytes("enter", None) == b"\r"
    assert key_bytes("ctrl+c", None) == b"\x03"
    assert key_bytes("ctrl+d", None) == b"\x04"
    assert key_bytes("up", None) == b"\x1b[A"
    assert key_bytes("up", None, app_cursor=True) == b"\x1bOA"
    assert key_bytes("pageup", None) == b"\x1b[5~"
    assert key_bytes("delete", None) == b"\x1b[3~"
    assert key_bytes("é", "é") == "é".encode()
    assert key_bytes("f24", None) is None


def text_of(terminal: TerminalWidget, y: int) -> str:
    return "".join(seg.text for seg in terminal.render_line(y)).rstrip()


def _has_child_named(transport: LocalPtyTransport, name: str) -> bool:
    """Whether a process called name runs in the transport's session (it has exec'd)."""
    session = os.getsid(transport.pid)
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        comm = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2 :].split()
        if comm == name and int(fields[3]) == session:
            return True
    return False
