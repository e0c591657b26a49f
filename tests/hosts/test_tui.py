"""The TUI's hosts screen, live from host.* events, against a real daemon and real sshd."""

from __future__ import annotations

from hyperhive.core.hive import Hive
from hyperhive.tui.screens.hosts import HostsPane, HostsScreen
from hyperhive.tui.screens.modals import ConfirmScreen
from tests.support.netns import SshHost
from tests.tui.conftest import app_for, connected, on_screen, rows, until


def state_of(pane: HostsPane, name: str) -> str:
    return next((r[2] for r in rows(pane) if r[0] == name), "")


async def test_the_hosts_screen_follows_a_host_going_down_and_coming_back(
    hive: Hive, ssh_hosts: list[SshHost]
) -> None:
    hive.hosts.backoff.first, hive.hosts.backoff.cap = 0.1, 0.5
    one, two = ssh_hosts
    one.authorize(hive.hosts.client_public_key())
    two.authorize(hive.hosts.client_public_key())
    await hive.hosts.add("alpha", one.url, by="local:op")
    app = app_for(hive)
    async with app.run_test(size=(160, 30)) as pilot:
        await connected(pilot)
        await pilot.press("5")
        screen = await on_screen(pilot, HostsScreen)
        pane = screen.query_one(HostsPane)
        await until(pilot, lambda: [r[0] for r in rows(pane)] == ["alpha", "local"])
        assert state_of(pane, "alpha") == "reachable"
        assert rows(pane)[0][4].endswith("G")  # free memory, read over the connection

        one.stop()
        await until(pilot, lambda: state_of(pane, "alpha") == "unreachable", timeout=20)
        one.start()
        await until(pilot, lambda: state_of(pane, "alpha") == "reachable", timeout=20)

        await pilot.press("z")  # the cursor is on alpha
        await until(pilot, lambda: state_of(pane, "alpha") == "reachable, drained")
        assert hive.hosts.placeable() == ["local"]

        await pilot.press("n")
        modal = await on_screen(pilot, ConfirmScreen)
        await pilot.press(*f"beta {two.url}")
        await pilot.press("enter")
        await on_screen(pilot, HostsScreen)
        await until(pilot, lambda: state_of(pane, "beta") == "reachable", timeout=20)
        assert modal is not pilot.app.screen
    assert sorted(hive.hosts.names()) == ["alpha", "beta", "local"]


async def test_removing_a_host_from_the_screen_asks_first(hive: Hive, ssh_host: SshHost) -> None:
    ssh_host.authorize(hive.hosts.client_public_key())
    await hive.hosts.add("alpha", ssh_host.url, by="local:op")
    app = app_for(hive)
    async with app.run_test(size=(160, 30)) as pilot:
        await connected(pilot)
        await pilot.press("5")
        pane = (await on_screen(pilot, HostsScreen)).query_one(HostsPane)
        await until(pilot, lambda: len(rows(pane)) == 2)
        await pilot.press("d")
        await on_screen(pilot, ConfirmScreen)
        await pilot.press("escape")  # a dangerous question starts on cancel
        await on_screen(pilot, HostsScreen)
        assert "alpha" in hive.hosts.names()
        await pilot.press("d")
        await on_screen(pilot, ConfirmScreen)
        await pilot.click("#confirm")
        await until(pilot, lambda: [r[0] for r in rows(pane)] == ["local"])
    assert hive.hosts.names() == ["local"]
