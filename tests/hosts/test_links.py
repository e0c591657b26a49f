"""A host's link: reachability events, reconnects, the version check, commands over it."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from hyperhive import __version__
from hyperhive.core.errors import NotFound, Refused
from hyperhive.core.hive import Hive
from hyperhive.core.hosts.link import HostLink, LinkOptions, LinkState
from tests.hosts.conftest import next_event
from tests.support.netns import SshHost
from tests.support.waiting import wait_for


@pytest.fixture
def quick(hive: Hive) -> Hive:
    hive.hosts.backoff.first, hive.hosts.backoff.cap = 0.1, 0.5
    return hive


async def add(hive: Hive, name: str, host: SshHost) -> dict:
    host.authorize(hive.hosts.client_public_key())
    return await hive.hosts.add(name, host.url, by="local:op")


async def test_host_list_shows_local_and_a_reachable_host_with_free_memory_and_version(
    hive: Hive, ssh_host: SshHost
) -> None:
    await hive.create_agent("alice")
    await add(hive, "alpha", ssh_host)
    hosts = {h["name"]: h for h in await hive.hosts.list()}
    assert sorted(hosts) == ["alpha", "local"]
    for name in ("alpha", "local"):
        assert hosts[name]["state"] == "reachable"
        assert hosts[name]["version"] == __version__
        assert hosts[name]["free_memory"] > 16 * 2**20  # MemAvailable, in bytes
    assert hosts["local"]["agents"] == ["alice", "manager"]
    assert hosts["alpha"]["agents"] == []
    assert hosts["alpha"]["url"] == ssh_host.url


async def test_a_killed_sshd_makes_the_host_unreachable_and_a_restarted_one_reachable_again(
    quick: Hive, ssh_host: SshHost
) -> None:
    await add(quick, "alpha", ssh_host)
    link = quick.hosts.link("alpha")
    seen: list[str] = []

    async def connected(link: HostLink) -> None:
        seen.append("connect")

    async def dropped(link: HostLink) -> None:
        seen.append("disconnect")

    link.on_connect(connected)  # the link is up: this one runs at once
    link.on_disconnect(dropped)
    sub = quick.events.subscribe(["host.*"])
    ssh_host.stop()
    down = await next_event(sub, "host.unreachable", lambda d: d["name"] == "alpha")
    assert down.data["reason"]
    assert quick.hosts.describe("alpha")["state"] == "unreachable"
    assert "alpha" not in quick.hosts.placeable()
    ssh_host.start()
    await next_event(sub, "host.reachable", lambda d: d["name"] == "alpha")
    # on_connect callbacks run in order after the state changed: the host's runtime's
    # (which lists what runs there) before this one
    await wait_for(lambda: seen == ["connect", "disconnect", "connect"])
    rc, out, _ = await link.run(["echo", "back"])
    assert (rc, out) == (0, b"back\n")


async def test_a_host_with_another_hyperhive_version_is_incompatible_and_never_used(
    hive: Hive, ssh_host: SshHost, tmp_path: Path
) -> None:
    fake = tmp_path / "python3"
    fake.write_text("#!/bin/sh\nprintf 0.0.0-other\n")
    fake.chmod(0o755)
    hive.hosts.options = LinkOptions(python=str(fake))
    added = await add(hive, "alpha", ssh_host)
    assert added["host"]["state"] == "incompatible"
    assert "0.0.0-other" in added["host"]["reason"] and __version__ in added["host"]["reason"]
    assert added["host"]["version"] == "0.0.0-other"
    with pytest.raises(Refused, match="incompatible"):
        await hive.hosts.link("alpha").run(["true"])
    assert "alpha" not in hive.hosts.placeable()


async def test_a_host_without_hyperhive_is_incompatible_with_the_reason(
    hive: Hive, ssh_host: SshHost, tmp_path: Path
) -> None:
    hive.hosts.options = LinkOptions(python=str(tmp_path / "no-such-python"))
    added = await add(hive, "alpha", ssh_host)
    assert added["host"]["state"] == "incompatible"
    assert "hyperhive is not usable on the host" in added["host"]["reason"]


async def test_run_passes_every_word_as_data_and_returns_code_output_and_errors(
    hive: Hive, ssh_host: SshHost
) -> None:
    await add(hive, "alpha", ssh_host)
    link = hive.hosts.link("alpha")
    word = "a b; echo pwned $(id) `id` 'q' \"d\""
    assert await link.run(["printf", "%s", word]) == (0, word.encode(), b"")
    rc, out, err = await link.run(["sh", "-c", "cat; echo oops >&2; exit 3"], input=b"in")
    assert (rc, out, err) == (3, b"in", b"oops\n")
    rc, out, _ = await link.run(["head", "-c", "300000", "/dev/zero"], limit=1000)
    assert (rc, len(out)) == (0, 1000)
    with pytest.raises(TimeoutError):
        await link.run(["sleep", "5"], timeout=0.5)


async def test_a_drained_host_takes_no_new_agents_until_undrained(
    hive: Hive, ssh_host: SshHost
) -> None:
    await add(hive, "alpha", ssh_host)
    assert hive.hosts.placeable() == ["alpha", "local"]
    sub = hive.events.subscribe(["host.changed"])
    drained = await hive.hosts.set_drained("alpha", True, by="local:op")
    assert drained["drained"] is True
    assert (await next_event(sub, "host.changed")).data["drained"] is True
    assert hive.hosts.placeable() == ["local"]
    await hive.hosts.set_drained("alpha", False, by="local:op")
    assert hive.hosts.placeable() == ["alpha", "local"]
    actions = [e.action for e in await hive.audit.list(10, None, "local:op", None)]
    assert actions == ["host.add", "host.drain", "host.undrain"]


async def test_local_cannot_be_removed_nor_a_host_agents_are_placed_on(
    hive: Hive, ssh_host: SshHost
) -> None:
    await add(hive, "alpha", ssh_host)
    with pytest.raises(Refused, match="local cannot be removed"):
        await hive.hosts.remove("local", by="local:op")
    # placement is the hook remote runtimes fill in: say one agent runs on alpha
    hive.hosts.placement = lambda: {"manager": "local", "bob": "alpha"}
    with pytest.raises(Refused, match=r"still runs 1 agent\(s\) \(bob\)"):
        await hive.hosts.remove("alpha", by="local:op")
    hive.hosts.placement = lambda: {"manager": "local"}
    sub = hive.events.subscribe(["host.removed"])
    await hive.hosts.remove("alpha", by="local:op")
    assert (await next_event(sub, "host.removed")).data == {"name": "alpha"}
    assert hive.hosts.names() == ["local"]
    with pytest.raises(NotFound):
        hive.hosts.link("alpha")


async def test_a_removed_host_can_be_added_again_under_its_name(
    hive: Hive, ssh_host: SshHost
) -> None:
    await add(hive, "alpha", ssh_host)
    await hive.hosts.remove("alpha", by="local:op")
    again = await add(hive, "alpha", ssh_host)
    assert again["host"]["state"] == "reachable"
    assert hive.hosts.link("alpha").state is LinkState.REACHABLE


async def test_a_silent_network_cut_is_noticed_by_keepalives_and_mended_by_a_reconnect(
    quick: Hive, ssh_host: SshHost
) -> None:
    quick.hosts.options = LinkOptions(
        python=quick.hosts.options.python,
        keepalive_interval=0.3,
        keepalive_count_max=2,
        connect_timeout=1,
    )
    await add(quick, "alpha", ssh_host)
    sub = quick.events.subscribe(["host.*"])
    ssh_host.cut()  # sshd still runs: only keepalives can tell
    down = await next_event(sub, "host.unreachable", lambda d: d["name"] == "alpha")
    assert down.data["reason"]
    ssh_host.mend()
    await next_event(sub, "host.reachable", lambda d: d["name"] == "alpha")
    assert await quick.hosts.link("alpha").run(["true"]) == (0, b"", b"")


async def test_two_adds_of_one_name_at_once_give_one_host_and_one_clear_refusal(
    hive: Hive, ssh_host: SshHost
) -> None:
    ssh_host.authorize(hive.hosts.client_public_key())
    results = await asyncio.gather(
        hive.hosts.add("alpha", ssh_host.url, by="local:op"),
        hive.hosts.add("alpha", ssh_host.url, by="local:op"),
        return_exceptions=True,
    )
    refused = [r for r in results if isinstance(r, Refused)]
    assert len(refused) == 1 and "exists" in refused[0].message
    assert hive.hosts.names() == ["alpha", "local"]


async def test_the_roomiest_host_is_chosen_among_reachable_undrained_hosts_only(
    quick: Hive, ssh_host: SshHost
) -> None:
    await add(quick, "alpha", ssh_host)
    await quick.hosts.set_drained("local", True, by="local:op")
    assert await quick.hosts.roomiest() == "alpha"
    assert quick.hosts.describe("alpha")["free_memory"] > 0  # read over the connection
    sub = quick.events.subscribe(["host.unreachable"])
    ssh_host.stop()
    await next_event(sub, "host.unreachable")
    with pytest.raises(Refused, match="no host can take a new agent"):
        await quick.hosts.roomiest()
    await quick.hosts.set_drained("local", False, by="local:op")
    assert await quick.hosts.roomiest() == "local"
