"""Drive a terminal program in tmux: type keys, read the screen."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import uuid

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
            ["tmux", "-L", self.socket, *args], capture_output=True, text=True, timeout=10
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

    def alive(self) -> bool:
        return (
            subprocess.run(
                ["tmux", "-L", self.socket, "has-session", "-t", self.name], capture_output=True
            ).returncode
            == 0
        )

    def kill(self) -> None:
        self._tmux("kill-server")


def _quote(arg: str) -> str:
    import shlex

    return shlex.quote(arg)
