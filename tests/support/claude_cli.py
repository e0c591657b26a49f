"""Find the pinned Claude Code CLI for tests, or skip with the command that installs it.

Tests look for ``$HYPERHIVE_CLAUDE_BIN``, then for the project-local npm prefix
``.cache/claude`` that ``scripts/install-claude-cli`` fills (CI runs it once, before the
suite). Tests never install the CLI themselves.
"""

from __future__ import annotations

import functools
import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PREFIX = ROOT / ".cache" / "claude"
INSTALL_HINT = (
    "Claude Code CLI not installed: run scripts/install-claude-cli "
    "(or point HYPERHIVE_CLAUDE_BIN at a claude binary)"
)


@functools.cache
def find_claude() -> tuple[str | None, str]:
    """Return ``(path, version)`` of a CLI that answers ``--version``, or ``(None, why)``."""
    explicit = os.environ.get("HYPERHIVE_CLAUDE_BIN")
    path = Path(explicit) if explicit else PREFIX / "node_modules" / ".bin" / "claude"
    if not os.access(path, os.X_OK):
        return None, f"HYPERHIVE_CLAUDE_BIN={explicit} not found" if explicit else INSTALL_HINT
    try:
        done = subprocess.run(
            [str(path), "--version"], capture_output=True, text=True, timeout=60, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return None, f"{path} --version failed: {exc}"
    if done.returncode != 0:
        # npm without its postinstall step leaves a stub that only prints how to fix it
        return None, f"{path} --version exited {done.returncode}: {done.stderr.strip()[-200:]}"
    return str(path), done.stdout.strip()


def require_claude() -> str:
    """The CLI's path; skips the calling test (saying how to install it) when it is absent."""
    path, detail = find_claude()
    if path is None:
        pytest.skip(detail)
    return path
