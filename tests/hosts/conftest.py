"""Fixtures for the hosts tests: netns test hosts running real sshd."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.netns import SshHost, netns_hosts


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
