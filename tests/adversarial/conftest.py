"""Hostile-input fixtures: hypothesis profiles and one real daemon shared by a module.

The ``ci`` profile (the default) is derandomized and keeps no example database, so a
run is the same every time; ``HYPOTHESIS_PROFILE=fuzz`` explores with fresh randomness
and more examples, for a local hunt.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from hyperhive.core.hive import Hive
from hyperhive.core.protocol import Method
from hyperhive.core.settings import Settings
from tests.support.daemon import DaemonProcess

settings.register_profile(
    "ci",
    derandomize=True,
    database=None,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "fuzz",
    deadline=None,
    max_examples=2000,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

AGENTS = ("alice", "bob")


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DaemonProcess]:
    """A real daemon (no swarm) with agents alice and bob, shared by one test module."""
    run_dir = Path(tempfile.mkdtemp(prefix="hh-", dir="/tmp"))  # socket paths are short
    state = tmp_path_factory.mktemp("adversarial") / "state"
    hive_settings = Settings(state_dir=state, run_dir=run_dir, runtime="process")

    async def prepare() -> None:
        async with Hive.open(hive_settings, serve=False) as hive:
            for name in AGENTS:
                await hive.create_agent(name)

    asyncio.run(prepare())
    d = DaemonProcess(hive_settings)
    asyncio.run(d.start())
    yield d
    d.stop()
    shutil.rmtree(run_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def methods(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Method]:
    """Every registered RPC method with its parameter declarations (from a scratch hive)."""
    run_dir = Path(tempfile.mkdtemp(prefix="hh-", dir="/tmp"))
    hive_settings = Settings(
        state_dir=tmp_path_factory.mktemp("registry"), run_dir=run_dir, runtime="process"
    )

    async def collect() -> dict[str, Method]:
        async with Hive.open(hive_settings, serve=False) as hive:
            return dict(hive.registry.methods)

    try:
        return asyncio.run(collect())
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)
