"""Shared fixtures: settings in temp dirs, an open hive, clients on its sockets."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from hyperhive.core.client import HiveClient
from hyperhive.core.hive import Hive
from hyperhive.core.settings import Settings

# Daemons and CLIs the tests start as subprocesses read their runtime from the
# environment: the process runtime, chosen explicitly (the default, "auto", picks nspawn
# on a root host with systemd-nspawn). tests/security/test_isolation_default.py unsets it.
os.environ.setdefault("HYPERHIVE_RUNTIME", "process")

# swarm, op, manager, daemon, scripted_swarm: the fixtures many directories share
pytest_plugins = ["tests.support.fixtures"]


@pytest.fixture
def run_dir() -> Iterator[Path]:
    # unix socket paths are capped at 108 bytes: keep the run dir short
    path = Path(tempfile.mkdtemp(prefix="hh-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def settings(tmp_path: Path, run_dir: Path) -> Settings:
    # the process runtime, chosen explicitly (the default, "auto", would pick nspawn as root)
    return Settings(state_dir=tmp_path / "state", run_dir=run_dir, runtime="process")


@pytest.fixture
async def hive(settings: Settings) -> AsyncIterator[Hive]:
    async with Hive.open(settings) as hive:
        yield hive


@pytest.fixture
async def host(hive: Hive) -> AsyncIterator[HiveClient]:
    client = await HiveClient.connect(hive.settings.host_socket)
    yield client
    await client.close()


async def agent_client(hive: Hive, name: str) -> HiveClient:
    """A client on ``name``'s own socket, creating the agent if needed."""
    if hive.agents.find(name) is None:
        await hive.create_agent(name)
    return await HiveClient.connect(hive.settings.agent_socket(name))
