"""Find the Claude Code CLI for tests: ``$HYPERHIVE_CLAUDE_BIN``, else the SDK's bundled one.

``claude-agent-sdk`` (a dependency) ships the CLI as a native binary, so no Node and no
install step: tests skip only when neither answers ``--version``.
"""

from __future__ import annotations

import functools
import os
import subprocess
from pathlib import Path

import pytest

from hyperhive.agent.drivers.claude_options import bundled_cli

INSTALL_HINT = (
    "Claude Code CLI not found: install claude-agent-sdk (it bundles the CLI), "
    "or point HYPERHIVE_CLAUDE_BIN at a claude binary"
)


@functools.cache
def find_claude() -> tuple[str | None, str]:
    """Return ``(path, version)`` of a CLI that answers ``--version``, or ``(None, why)``."""
    explicit = os.environ.get("HYPERHIVE_CLAUDE_BIN")
    found = explicit or bundled_cli()
    if not found or not os.access(found, os.X_OK):
        return None, f"HYPERHIVE_CLAUDE_BIN={explicit} not found" if explicit else INSTALL_HINT
    path = Path(found)
    try:
        done = subprocess.run(
            [str(path), "--version"], capture_output=True, text=True, timeout=60, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return None, f"{path} --version failed: {exc}"
    if done.returncode != 0:
        return None, f"{path} --version exited {done.returncode}: {done.stderr.strip()[-200:]}"
    return str(path), done.stdout.strip()


def require_claude() -> str:
    """The CLI's path; skips the calling test (saying why) when there is none."""
    path, detail = find_claude()
    if path is None:
        pytest.skip(detail)
    return path
