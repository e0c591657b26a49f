"""`hyperhive up --demo` in a real terminal: answer, approve, a terminal into alice, quit."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

from tests.support.tmux import Tmux

QUESTION = "alice here: should the README be written in"


def demo_pids(tmp: Path) -> list[int]:
    """Processes of this test's demo: every one has the demo's state dir on its command line."""
    done = subprocess.run(["pgrep", "-f", str(tmp)], capture_output=True, text=True)
    return [int(pid) for pid in done.stdout.split() if int(pid) != os.getpid()]


def row(screen: str, pattern: str) -> re.Match[str] | None:
    return re.search(pattern, screen, re.MULTILINE)


async def test_the_demo_question_is_answered_and_its_proposal_deployed_with_keystrokes(
    tmp_path: Path,
) -> None:
    # the demo's state dir goes under TMPDIR: a private one tells this demo's processes apart
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    term = Tmux(
        ["env", f"TMPDIR={tmp}", sys.executable, "-m", "hyperhive", "up", "--demo"],
        cols=160,
        rows=48,
    )
    try:
        await term.wait_for(QUESTION, timeout=30)

        # the questions pane: enter opens the answer dialog, enter picks the first option,
        # tab goes to the free-text box, enter sends
        await term.tab_until("x cancel question")
        term.keys("Enter")
        await term.wait_for("question #1 from alice")
        term.keys("Enter")
        term.keys("Tab")
        term.keys("Enter")
        screen = await term.wait_for("[answer to question #1] En")
        assert row(screen, r"^\s+1\s+alice\s+alice here") is None, screen
        await term.wait_for("Update from hyperhive: [an")

        # the approvals pane: `a` on the oldest proposal, then confirm
        screen = await term.wait_until(
            lambda s: row(s, r"^\s+4\s+apply_commit\s+alice\s+") is not None,
            "approval #4 in the approvals pane",
        )
        await term.tab_until("a approve")
        term.keys("a")
        await term.wait_for("Approve #4?")
        term.keys("Enter")
        await term.wait_until(
            lambda s: row(s, r"^\s+4\s+apply_commit\s+alice\s+") is None,
            "approval #4 leaving the pending list",
        )
        # the daemon tells the manager what was deployed; the manager relays it to the operator
        await term.wait_for("[approval #4 apply_commit alice", timeout=30)

        # a terminal into alice: every key reaches the shell, ctrl+] comes back
        await term.tab_until("t terminal")
        term.keys("Home")  # the manager's row; alice is next
        term.keys("Down")
        term.keys("t")
        await term.wait_for("terminal · alice")
        # no echo (only cat's output shows), no XON/XOFF (the tty would eat ^Q); the
        # marker is computed so that only the shell's output can show it
        term.type("stty -echo -ixon; echo cat-$((6*7)); cat -v")
        term.keys("Enter")
        await term.wait_for("cat-42")
        term.keys("C-q", "C-p", "M-x", "Enter")
        await term.wait_for("^Q^P^[x")
        assert "Quit hyperhive?" not in term.screen()
        term.keys("C-]")
        await term.wait_for("swarm ·")

        # quitting stops the demo: it asks first, and starts on "cancel"
        term.keys("C-q")
        await term.wait_for("Quit hyperhive?")
        term.keys("Tab")
        term.keys("Enter")
        await term.wait_exit(timeout=60)
        assert demo_pids(tmp) == []
        assert list(tmp.iterdir()) == []  # `up --demo` removed its state dir
    finally:
        term.kill()
        for pid in demo_pids(tmp):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
