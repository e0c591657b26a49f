"""Run the real ``hyperhive`` CLI against a daemon, in text and --json form."""

from __future__ import annotations

import json
import subprocess
from typing import Any

from hyperhive.core.settings import Settings, cli_argv


def cli(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    """``hyperhive ARGS`` on ``settings``' directories; never raises for a failed verb."""
    return subprocess.run(cli_argv(settings, *args), capture_output=True, text=True, timeout=60)


def cli_json(settings: Settings, *args: str) -> Any:
    """``hyperhive ARGS --json``, which must succeed; its decoded output."""
    done = cli(settings, *args, "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)
