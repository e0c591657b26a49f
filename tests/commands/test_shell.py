"""`hyperhive shell` in a real terminal: a shell in an agent's container through the daemon."""

from __future__ import annotations

import sys

import pytest

from hyperhive.core.client import HiveClient
from tests.support.daemon import DaemonProcess
from tests.support.tmux import Tmux


@pytest.fixture
async def scripted_swarm(scripted_swarm: DaemonProcess) -> DaemonProcess:
    """The shared scripted swarm with alice spawned."""
    client = await HiveClient.connect(scripted_swarm.settings.host_socket)
    try:
        await client.call("lifecycle.spawn", name="alice")
    finally:
        await client.close()
    return scripted_swarm


async def test_shell_types_into_the_agents_container_and_shows_the_output(
    scripted_swarm: DaemonProcess,
) -> None:
    s = scripted_swarm.settings
    term = Tmux(
        [
            sys.executable,
            "-m",
            "hyperhive",
            "--state-dir",
            str(s.state_dir),
            "--run-dir",
            str(s.run_dir),
            "shell",
            "alice",
        ]
    )
    try:
        await term.wait_for("alice/state#")
        term.type("echo hello-from-$HYPERHIVE_AGENT")
        term.keys("Enter")
        await term.wait_for("hello-from-alice")
        term.type("exit")
        term.keys("Enter")
        client = await HiveClient.connect(s.host_socket)
        audit = await client.call("audit.list", limit=20)
        await client.close()
        actions = [e["action"] for e in audit["entries"]]
        assert "pty.open" in actions
    finally:
        term.kill()
