"""`hyperhive shell` in a real terminal: a shell in an agent's container through the daemon."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator

import pytest

from hyperhive.core.client import HiveClient
from hyperhive.core.settings import Settings
from tests.support.daemon import DaemonProcess
from tests.support.tmux import Tmux


@pytest.fixture
async def daemon(settings: Settings) -> AsyncIterator[DaemonProcess]:
    settings.state_dir.mkdir(parents=True)
    (settings.state_dir / "hyperhive.toml").write_text('driver = "scripted"\n')
    d = DaemonProcess(settings, swarm=True)
    await d.start()
    client = await HiveClient.connect(settings.host_socket)
    try:
        await client.call("lifecycle.spawn", name="alice")
        yield d
    finally:
        for name in ("alice", "manager"):
            try:
                await client.call("lifecycle.kill", name=name)
            except Exception:  # noqa: BLE001 - best-effort cleanup
                pass
        await client.close()
        d.stop()


async def test_shell_types_into_the_agents_container_and_shows_the_output(
    daemon: DaemonProcess,
) -> None:
    s = daemon.settings
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
