"""Adding hosts: the host key is pinned on first contact and nothing else is ever accepted."""

from __future__ import annotations

import asyncio

import asyncssh
import pytest

from hyperhive.core.errors import HyperhiveError, Refused
from hyperhive.core.hive import Hive
from hyperhive.core.hosts.link import HostUnavailable, LinkState
from hyperhive.core.settings import Settings
from hyperhive.core.store import hosts as q
from tests.conftest import agent_client
from tests.hosts.conftest import next_event
from tests.support.netns import SshHost


def fingerprint(line: str) -> str:
    return asyncssh.import_public_key(line).get_fingerprint("sha256")


async def add(hive: Hive, name: str, host: SshHost) -> dict:
    host.authorize(hive.hosts.client_public_key())
    return await hive.hosts.add(name, host.url, by="local:op")


async def test_adding_a_host_pins_its_key_on_first_contact_and_shows_the_fingerprint(
    hive: Hive, ssh_host: SshHost
) -> None:
    added = await add(hive, "alpha", ssh_host)
    assert added["fingerprint"] == fingerprint(ssh_host.public_host_key())
    assert added["host"]["state"] == "reachable"
    assert added["client_key"].startswith("ssh-ed25519 ")
    stored = {h.name: h for h in await hive.store.read(q.all_hosts)}
    assert stored["alpha"].host_key == ssh_host.public_host_key()
    assert stored["alpha"].url == ssh_host.url
    entries = await hive.audit.list(10, None, None, "host.add")
    assert [(e.target, e.detail["fingerprint"]) for e in entries] == [
        ("alpha", added["fingerprint"])
    ]


async def test_the_client_key_is_made_once_and_kept_private(hive: Hive) -> None:
    first = hive.hosts.client_public_key()
    path = hive.settings.ssh_dir / "hosts_client_ed25519"
    assert path.stat().st_mode & 0o777 == 0o600
    again = Hive  # a second daemon on the same state reads the same key
    async with again.open(
        Settings(hive.settings.state_dir, hive.settings.run_dir / "b", runtime="process"),
        serve=False,
    ) as other:
        assert other.hosts.client_public_key() == first


async def test_a_reopened_daemon_reconnects_accepting_the_pinned_key(
    settings: Settings, ssh_host: SshHost
) -> None:
    async with Hive.open(settings, serve=False) as hive:
        await add(hive, "alpha", ssh_host)
    async with Hive.open(settings, serve=False) as hive:
        link = hive.hosts.link("alpha")
        assert await link.settled(20) is LinkState.REACHABLE
        rc, out, _ = await link.run(["hostname", "-I"])
        assert rc == 0 and ssh_host.addr in out.decode()


async def test_a_changed_host_key_is_refused_with_a_clear_error_and_an_audit_entry(
    hive: Hive, ssh_host: SshHost
) -> None:
    hive.hosts.backoff.first, hive.hosts.backoff.cap = 0.1, 0.5
    pinned = (await add(hive, "alpha", ssh_host))["fingerprint"]
    sub = hive.events.subscribe(["host.*"])
    new = fingerprint(ssh_host.new_host_key())
    ssh_host.restart()
    event = await next_event(sub, "host.unreachable", lambda d: "refused" in d["reason"])
    assert new in event.data["reason"] and pinned in event.data["reason"]
    with pytest.raises(HostUnavailable, match="host key refused"):
        await hive.hosts.link("alpha").connection()
    entries = await hive.audit.list(10, None, None, "host.key_refused")
    assert [(e.target, e.result, e.detail["offered"], e.detail["pinned"]) for e in entries] == [
        ("alpha", "refused", new, pinned)
    ]
    # retries (every ≤ 0.5 s here) keep refusing it; the audit log is told once per key
    await asyncio.sleep(1.5)
    assert hive.hosts.link("alpha").state is LinkState.UNREACHABLE
    assert len(await hive.audit.list(10, None, None, "host.key_refused")) == 1


async def test_a_host_offering_another_key_than_the_expected_one_is_never_added(
    hive: Hive, ssh_hosts: list[SshHost]
) -> None:
    one, other = ssh_hosts
    with pytest.raises(Refused, match="not the expected"):
        await hive.hosts.add(
            "alpha", one.url, by="local:op", expect=fingerprint(other.public_host_key())
        )
    assert [h.name for h in await hive.store.read(q.all_hosts)] == ["local"]
    entries = await hive.audit.list(10, None, None, "host.add")
    assert [(e.target, e.result) for e in entries] == [("alpha", "refused")]


async def test_an_unknown_key_at_the_pinned_address_is_refused(
    hive: Hive, ssh_hosts: list[SshHost]
) -> None:
    """The address now answers with another machine's key (the other test host's)."""
    hive.hosts.backoff.first, hive.hosts.backoff.cap = 0.1, 0.5
    one, other = ssh_hosts
    await add(hive, "alpha", one)
    sub = hive.events.subscribe(["host.*"])
    one.stop()
    one.host_key.write_bytes(other.host_key.read_bytes())
    one.host_key.with_suffix(".pub").write_bytes(other.host_key.with_suffix(".pub").read_bytes())
    one.start()
    event = await next_event(sub, "host.unreachable", lambda d: "refused" in d["reason"])
    assert fingerprint(other.public_host_key()) in event.data["reason"]
    assert hive.hosts.link("alpha").state is LinkState.UNREACHABLE


async def test_an_unreachable_address_is_not_added(hive: Hive) -> None:
    hive.hosts.options = type(hive.hosts.options)(
        python=hive.hosts.options.python, connect_timeout=1
    )
    with pytest.raises(Refused, match="cannot reach"):
        await hive.hosts.add("alpha", "ssh://root@127.0.0.1:1", by="local:op")
    assert "alpha" not in hive.hosts.names()


async def test_a_host_without_the_daemon_key_is_pinned_but_says_to_install_the_key(
    hive: Hive, ssh_host: SshHost
) -> None:
    hive.hosts.backoff.first, hive.hosts.backoff.cap = 0.1, 0.3
    added = await hive.hosts.add("alpha", ssh_host.url, by="local:op")
    assert added["host"]["state"] == "unreachable"
    assert "install it on the host" in added["host"]["reason"]
    sub = hive.events.subscribe(["host.*"])
    ssh_host.authorize(added["client_key"])
    await next_event(sub, "host.reachable", lambda d: d["name"] == "alpha")


async def test_a_damaged_host_row_shows_unreachable_and_never_stops_the_daemon(
    settings: Settings,
) -> None:
    async with Hive.open(settings, serve=False) as hive:
        bad = q.HostRecord("alpha", "ssh://root@10.231.0.2", "not a key", False, 0.0, "x")
        await hive.store.write(q.insert, bad)
    async with Hive.open(settings, serve=False) as hive:
        alpha = hive.hosts.describe("alpha")
        assert alpha["state"] == "unreachable"
        assert "not usable" in alpha["reason"]
        assert hive.hosts.placeable() == ["local"]
        await hive.hosts.remove("alpha", by="local:op")


async def test_neither_the_manager_nor_an_agent_can_reach_the_host_methods(hive: Hive) -> None:
    for name in ("manager", "alice"):
        client = await agent_client(hive, name)
        try:
            for method, params in (
                ("hosts.add", {"name": "evil", "url": "ssh://root@10.231.0.2"}),
                ("hosts.list", {}),
                ("hosts.client_key", {}),
                ("hosts.drain", {"name": "local"}),
            ):
                with pytest.raises(HyperhiveError, match="unknown method"):
                    await client.call(method, **params)
        finally:
            await client.close()
    assert hive.hosts.names() == ["local"]
