"""Fixtures for the hosts tests: netns test hosts running real sshd, and helpers."""

from __future__ import annotations

import asyncio
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from hyperhive.core.events import Event, Subscription
from hyperhive.core.hosts.service import PYTHON_ENV
from tests.support.netns import SshHost, netns_hosts


@pytest.fixture(autouse=True)
def host_python(monkeypatch: pytest.MonkeyPatch) -> None:
    """The test hosts are this machine: their hyperhive is the one this python imports."""
    monkeypatch.setenv(PYTHON_ENV, sys.executable)


@pytest.fixture
def ssh_hosts() -> Iterator[list[SshHost]]:
    """Two hosts, each a network namespace with a running sshd."""
    workdir = Path(tempfile.mkdtemp(prefix="hh-ns-", dir="/tmp"))
    try:
        with netns_hosts(2, workdir) as hosts:
            yield hosts
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture
def ssh_host(ssh_hosts: list[SshHost]) -> SshHost:
    return ssh_hosts[0]


async def next_event(
    sub: Subscription,
    name: str,
    where: Callable[[dict[str, Any]], bool] = lambda data: True,
    timeout: float = 20.0,
) -> Event:
    """The next event called ``name`` whose data passes ``where``."""
    try:
        async with asyncio.timeout(timeout):
            async for event in sub:
                if event.name == name and where(event.data):
                    return event
    except TimeoutError:
        pass
    raise AssertionError(f"no {name} event within {timeout}s")
