"""Agent text in an SSH session: the TUI over SSH shows a hostile body escaped.

Only what the SSH session shows is asserted (the screen and the window title tmux
keeps), so the test holds whichever TUI pane renders the message.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from hyperhive.core.client import HiveClient
from hyperhive.core.hive import Hive
from hyperhive.core.settings import Settings
from tests.support.daemon import DaemonProcess
from tests.support.ssh import free_port, keygen, listening
from tests.support.tmux import Tmux

HOSTILE = "MARK-7 \x1b]2;pwned\x07\x1b[2J\x1b[H\x1b[31mCLEARED"


@pytest.fixture
async def door(settings: Settings, tmp_path: Path) -> AsyncIterator[tuple[int, Path]]:
    async with Hive.open(settings, serve=False) as hive:
        await hive.create_agent("alice")
    keys = tmp_path / "keys"
    keys.mkdir()
    op = keygen(keys / "op")
    settings.ssh_dir.mkdir(parents=True)
    (settings.ssh_dir / "authorized_keys").write_text(f"{op} op@text\n")
    port = free_port()
    daemon = DaemonProcess(settings, "--ssh", f"127.0.0.1:{port}")
    await daemon.start()
    try:
        await listening(port)
        yield port, keys
    finally:
        daemon.stop()


async def test_a_hostile_body_is_shown_escaped_in_an_ssh_session(
    settings: Settings, door: tuple[int, Path]
) -> None:
    port, keys = door
    alice = await HiveClient.connect(settings.agent_socket("alice"))
    await alice.call("messages.send", to="operator", body=HOSTILE)
    await alice.close()
    term = Tmux(
        [
            "ssh", "-tt", "-i", str(keys / "op"), "-p", str(port),
            "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
            "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-o", "LogLevel=ERROR",
            "operator@127.0.0.1",
        ],
        cols=160,
        rows=48,
    )  # fmt: skip
    try:
        await term.wait_for("1 unread", timeout=30)
        screen = await term.wait_for("MARK-7 ^[]2;pwned^G^[[2J^[[H^[[31mCLEARED", timeout=10)
        assert "1 dashboard" in screen and "0 approvals" in screen  # the header stays
        title = term._tmux("display-message", "-p", "-t", term.name, "#{pane_title}")
        assert "pwned" not in title
        term.keys("C-q")
        await term.wait_exit()
    finally:
        term.kill()
