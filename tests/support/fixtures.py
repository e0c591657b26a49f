"""The fixtures test directories share (a pytest plugin that tests/conftest.py loads).

In process: ``swarm`` (a served hive whose agents run the mini harness), ``op`` (the
operator on its host socket), ``manager`` (the manager on its own socket).
Out of process: ``daemon`` (the real daemon, swarm off, with alice created), ``alice``
(her client on it), ``scripted_swarm`` (the real daemon running its swarm on the
scripted driver). A test module that needs a variant overrides a fixture by name and
asks for the shared one, e.g. ``async def swarm(swarm, op)`` that spawns an agent first.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from hyperhive.core.client import HiveClient
from hyperhive.core.hive import Hive
from hyperhive.core.settings import Settings
from tests.support.daemon import DaemonProcess, daemon_with_agents, scripted_swarm_daemon
from tests.support.swarm import open_swarm


@pytest.fixture
async def swarm(settings: Settings) -> AsyncIterator[Hive]:
    """A served hive whose agents run the mini harness; every agent is stopped at the end."""
    async with open_swarm(settings) as hive:
        yield hive


@pytest.fixture
async def op(swarm: Hive) -> AsyncIterator[HiveClient]:
    """The operator: a client on the swarm's host socket."""
    client = await HiveClient.connect(swarm.settings.host_socket)
    yield client
    await client.close()


@pytest.fixture
async def manager(swarm: Hive) -> AsyncIterator[HiveClient]:
    """The manager: a client on its own agent socket."""
    client = await HiveClient.connect(swarm.settings.agent_socket("manager"))
    yield client
    await client.close()


@pytest.fixture
async def daemon(settings: Settings) -> AsyncIterator[DaemonProcess]:
    """The real daemon in a subprocess, its swarm off, with the agent alice created."""
    async with daemon_with_agents(settings, "alice") as process:
        yield process


@pytest.fixture
async def alice(daemon: DaemonProcess) -> AsyncIterator[HiveClient]:
    """The agent alice: a client on her own socket of ``daemon``."""
    client = await HiveClient.connect(daemon.settings.agent_socket("alice"))
    yield client
    await client.close()


@pytest.fixture
async def scripted_swarm(settings: Settings) -> AsyncIterator[DaemonProcess]:
    """The real daemon in a subprocess running its swarm on the scripted driver."""
    async with scripted_swarm_daemon(settings) as process:
        yield process
