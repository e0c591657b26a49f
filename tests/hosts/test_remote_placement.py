"""Placement: ``host = "NAME"`` in agent.toml, else the usable host with most free memory."""

from __future__ import annotations

import pytest

from hyperhive.core.agent_config import parse_agent_toml
from hyperhive.core.errors import InvalidInput, Refused
from hyperhive.core.hive import Hive
from hyperhive.core.hosts.link import LinkState
from tests.hosts.remote_support import wait_for
from tests.support.netns import SshHost


def test_agent_toml_names_its_host_or_leaves_placement_to_the_daemon() -> None:
    assert parse_agent_toml('host = "gpu-1"\n').host == "gpu-1"
    assert parse_agent_toml('host = "local"\n').host == "local"
    assert parse_agent_toml("").host is None


@pytest.mark.parametrize("bad", ['host = "GPU"', 'host = "-x"', "host = 3", 'host = "a/b"'])
def test_a_host_that_is_not_a_host_name_is_refused_naming_the_key(bad: str) -> None:
    with pytest.raises(InvalidInput, match="agent.toml: host"):
        parse_agent_toml(bad + "\n")


async def test_placement_follows_agent_toml_else_skips_drained_and_unreachable_hosts(
    hive: Hive, ssh_hosts: list[SshHost]
) -> None:
    for name, host in zip(("alpha", "beta"), ssh_hosts, strict=True):
        host.authorize(hive.hosts.client_public_key())
        await hive.hosts.add(name, host.url, by="local:op")
    # asked for: that host, even one not chosen by memory
    assert await hive.hosts.pick("beta") == "beta"
    with pytest.raises(InvalidInput, match="not registered"):
        await hive.hosts.pick("gamma")
    # unasked: the most free memory among the usable hosts, local included
    views = {v["name"]: v for v in await hive.hosts.list()}
    assert await hive.hosts.pick(None) in views
    # a drained host and an unreachable one are never chosen
    await hive.hosts.set_drained("local", True, by="local:op")
    ssh_hosts[0].stop()
    await wait_for(lambda: hive.hosts.link("alpha").state is LinkState.UNREACHABLE)
    for _ in range(5):
        assert await hive.hosts.pick(None) == "beta"
    await hive.hosts.set_drained("beta", True, by="local:op")
    with pytest.raises(Refused, match="no host can take a new agent"):
        await hive.hosts.pick(None)  # every host drained or unreachable: nowhere to go
    assert await hive.hosts.pick("beta") == "beta"  # asked for by name: drained or not
