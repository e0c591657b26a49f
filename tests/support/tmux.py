"""Drive a terminal program in tmux: type keys, read the screen."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
import uuid
from collections.abc import Callable

import pytest


class Tmux:
    """One detached tmux session of a fixed size, on a private server socket."""

    def __init__(self, argv: list[str], *, cols: int = 120, rows: int = 40) -> None:
        if shutil.which("tmux") is None:
            pytest.skip("tmux is not installed")
        self.socket = f"hh-{uuid.uuid4().hex[:8]}"
        self.name = "t"
        self._tmux(
            "new-session",
            "-d",
            "-s",
            self.name,
            "-x",
            str(cols),
            "-y",
            str(rows),
            " ".join(_quote(a) for a in argv),
        )

    def _tmux(self, *args: str) -> str:
        done = subprocess.run(
            ["tmux", "-L", self.socket, *args],
            capture_output=True,
            text=True,
            timeout=10,
            env=_server_env(),
        )
        return done.stdout

    def keys(self, *keys: str) -> None:
        self._tmux("send-keys", "-t", self.name, *keys)

    def type(self, text: str) -> None:
        self._tmux("send-keys", "-t", self.name, "-l", text)

    def screen(self) -> str:
        return self._tmux("capture-pane", "-p", "-t", self.name)

    async def wait_for(self, text: str, timeout: float = 20.0) -> str:
        """Wait until ``text`` is on the screen; return the screen."""
        try:
            async with asyncio.timeout(timeout):
                while text not in (screen := self.screen()):
                    await asyncio.sleep(0.1)
        except TimeoutError:
            raise AssertionError(f"{text!r} never appeared; screen:\n{self.screen()}") from None
        return screen

    async def wait_until(
        self, check: Callable[[str], bool], what: str, timeout: float = 20.0
    ) -> str:
        """Wait until ``check(screen)`` holds; return the screen (``what`` names it on failure)."""
        try:
            async with asyncio.timeout(timeout):
                while not check(screen := self.screen()):
                    await asyncio.sleep(0.1)
        except TimeoutError:
            raise AssertionError(f"{what} never happened; screen:\n{self.screen()}") from None
        return screen

    def footer(self) -> str:
        """The bottom line of the screen (a Textual footer: the keys that apply)."""
        lines = self.screen().rstrip("\n").splitlines()
        return lines[-1] if lines else ""

    async def tab_until(self, footer: str, *, tabs: int = 10, timeout: float = 20.0) -> None:
        """Press Tab until the footer shows ``footer`` (how a Textual app shows what has focus)."""
        async with asyncio.timeout(timeout):
            for _ in range(tabs):
                last = await self._settled_footer()
                if footer in last:
                    return
                self.keys("Tab")
                # the next stop may keep the same footer: a bounded wait for a change
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(2):
                        while self.footer() == last:
                            await asyncio.sleep(0.05)
        if footer not in self.footer():
            raise AssertionError(f"no Tab stop shows {footer!r}; screen:\n{self.screen()}")

    async def _settled_footer(self, quiet: float = 0.4) -> str:
        """The footer once it has not changed for ``quiet`` seconds (focus can move by itself:
        the app sends it to the next pane with work)."""
        last = self.footer()
        while True:
            await asyncio.sleep(quiet)
            now = self.footer()
            if now == last:
                return now
            last = now

    async def wait_exit(self, timeout: float = 20.0) -> None:
        """Wait until the program in the session has exited (tmux closes the session)."""
        try:
            async with asyncio.timeout(timeout):
                while self.alive():
                    await asyncio.sleep(0.1)
        except TimeoutError:
            raise AssertionError(f"still running; screen:\n{self.screen()}") from None

    def alive(self) -> bool:
        return (
            subprocess.run(
                ["tmux", "-L", self.socket, "has-session", "-t", self.name], capture_output=True
            ).returncode
            == 0
        )

    def kill(self) -> None:
        self._tmux("kill-server")
        # tmux leaves its socket file behind; one per test adds up
        base = os.environ.get("TMUX_TMPDIR") or "/tmp"
        with contextlib.suppress(OSError):
            os.unlink(os.path.join(base, f"tmux-{os.getuid()}", self.socket))


def _server_env() -> dict[str, str]:
    # the server hands its environment to the program; COLUMNS/LINES (set by some test
    # runs) would make a Textual app ignore the real size of the window
    return {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}


def _quote(arg: str) -> str:
    import shlex

    return shlex.quote(arg)
