"""The headless core and agent side never load the TUI stack."""

from __future__ import annotations

import subprocess
import sys


def test_importing_the_core_and_agent_side_loads_neither_textual_nor_rich() -> None:
    code = (
        "import sys, pkgutil, importlib, hyperhive.core, hyperhive.agent\n"
        "for pkg in (hyperhive.core, hyperhive.agent):\n"
        "    for m in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + '.'):\n"
        "        importlib.import_module(m.name)\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('textual', 'rich'))\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == ""


def test_the_harness_loads_no_ssh_stack() -> None:
    """Every agent container runs the harness: what it imports, every agent pays in start
    time and memory. The daemon's host links (asyncssh) are not its business."""
    code = (
        "import sys, hyperhive.agent.harness, hyperhive.agent.mcp_server\n"
        "print(','.join(sorted(m for m in sys.modules if m.split('.')[0] == 'asyncssh')))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == ""
