"""The daemon's PTY service through the TUI's transport, and the terminal screen, for real."""

from __future__ import annotations

import asyncio

import pytest

from hyperhive.core.client import HiveClient
from hyperhive.core.errors import NotFound, Refused
from hyperhive.core.hive import Hive
from hyperhive.tui.panes.swarm import SwarmPane
from hyperhive.tui.pty_transport import DaemonPtyTransport
from hyperhive.tui.screens.terminal import TerminalScreen
from hyperhive.tui.widgets.terminal import TerminalWidget
from tests.tui.conftest import app_for, connected, factory_for, on_screen, until


@pytest.fixture
async def swarm(swarm: Hive, op: HiveClient) -> Hive:
    """The shared swarm with alpha spawned."""
    await op.call("lifecycle.spawn", name="alpha")
    return swarm


async def read_until(transport: DaemonPtyTransport, needle: bytes) -> bytes:
    out = b""
    async with asyncio.timeout(10):
        while needle not in out:
            chunk = await transport.read()
            assert chunk, f"the session ended before {needle!r}: {out!r}"
            out += chunk
    return out


async def test_a_shell_follows_resizes_and_ends_with_the_transport(swarm: Hive) -> None:
    transport = DaemonPtyTransport(factory_for(swarm), "alpha", rows=30, cols=100)
    await transport.write(b"stty size\r")
    await read_until(transport, b"30 100")
    await transport.resize(40, 120)
    await transport.write(b"stty size\r")
    await read_until(transport, b"40 120")
    host = await HiveClient.connect(swarm.settings.host_socket)
    assert [s["agent"] for s in (await host.call("pty.list"))["sessions"]] == ["alpha"]
    await transport.close()
    await transport.close()  # twice is fine
    assert (await host.call("pty.list"))["sessions"] == []
    actions = [e["action"] for e in (await host.call("audit.list", limit=10))["entries"]]
    assert actions[-2:] == ["pty.open", "pty.close"]
    await host.close()


async def test_the_shell_exiting_ends_the_read(swarm: Hive) -> None:
    transport = DaemonPtyTransport(factory_for(swarm), "alpha")
    await transport.write(b"exit\r")
    async with asyncio.timeout(10):
        while await transport.read():
            pass
    await transport.close()


async def test_a_terminal_needs_an_agent_that_exists_and_an_operator(swarm: Hive) -> None:
    transport = DaemonPtyTransport(factory_for(swarm), "nobody")
    with pytest.raises(NotFound):
        await transport.read()
    viewer = await HiveClient.connect(swarm.settings.host_socket)
    await viewer.call("session.hello", role="viewer")
    with pytest.raises(Refused):
        await viewer.call("pty.open", agent="alpha")
    await viewer.close()


async def test_t_opens_a_terminal_that_runs_what_is_typed_and_ctrl_bracket_leaves(
    swarm: Hive,
) -> None:
    app = app_for(swarm)
    async with app.run_test(size=(100, 30)) as pilot:
        await connected(pilot)
        pane = app.screen.query_one(SwarmPane)
        pane.focus_table()
        while pane.cursor_key != "alpha":
            await pilot.press("down")
        await pilot.press("t")
        await on_screen(pilot, TerminalScreen)
        term = app.screen.query_one(TerminalWidget)
        await pilot.press(*"echo hi-$((40+2))", "enter")
        await until(pilot, lambda: any(line == "hi-42" for line in term.screen_lines()))
        await pilot.press("ctrl+right_square_bracket")
        await until(pilot, lambda: not isinstance(app.screen, TerminalScreen))
        host = await HiveClient.connect(swarm.settings.host_socket)
        async with asyncio.timeout(10):
            while (await host.call("pty.list"))["sessions"]:
                await pilot.pause(0.05)
        await host.close()
