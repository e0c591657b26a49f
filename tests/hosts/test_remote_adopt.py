"""A daemon restart with an agent running on a remote host: the agent is adopted there.

The real daemon (a subprocess, its swarm on) places ``alpha`` on a test host (an sshd in a
network namespace, real nspawn there), then is stopped (SIGTERM) or killed (``kill -9``)
and started again on the same state dir. The new daemon must reconnect the host with its
pinned key, find ``alpha``'s container still running there (the same one: no second copy,
never marked crashed), forward its socket again so the harness in the container reaches
the new daemon on the same path, and deliver every message sent before, across and
after the restart. An agent whose container stopped while the daemon was down is handled
as a local one is: the crash watcher finds it exited, records it crashed, starts it again.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from hyperhive.core.client import HiveClient
from hyperhive.core.hosts.service import PYTHON_ENV
from hyperhive.core.runner import which
from hyperhive.core.runtimes.routed import STATE_ENV
from hyperhive.core.settings import Settings
from tests.hosts.remote_support import PY, new_state_dir, read_json, read_log, wait_for
from tests.support.daemon import DaemonProcess
from tests.support.netns import SshHost

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or which("systemd-nspawn") is None,
    reason="remote agents run in nspawn containers: root and systemd-nspawn",
)

ROOT = Path(__file__).resolve().parents[2]

# The real daemon, with one test-only change made from outside the core: agents run the
# tiny AGENT of remote_support (the manager, always local, the mini harness).
LAUNCHER = f"""
import sys
sys.path.insert(0, {str(ROOT)!r})
from dataclasses import replace
from hyperhive.core.lifecycle import Lifecycle
from hyperhive.core.models import Role
from tests.hosts.remote_support import AGENT, PY
from tests.support.swarm import MINI_HARNESS

_spec = Lifecycle.spec

def spec(self, agent):
    manager = agent.role is Role.MANAGER
    return replace(_spec(self, agent), command=MINI_HARNESS if manager else (PY, "-c", AGENT))

Lifecycle.spec = spec
from hyperhive.cli import main
sys.exit(main(sys.argv[1:]))
"""


class RemoteDaemon(DaemonProcess):
    """``hyperhive daemon`` (swarm on) whose remote hosts keep agents under ``host_state``."""

    def __init__(self, settings: Settings, host_state: Path) -> None:
        super().__init__(settings, swarm=True)
        self.host_state = host_state

    def argv(self) -> list[str]:
        return [PY, "-c", LAUNCHER, *super().argv()[3:]]

    def env(self) -> dict[str, str]:
        return super().env() | {STATE_ENV: str(self.host_state), PYTHON_ENV: PY}


def on_host(host_state: Path, op: str, *args: str) -> Any:
    """``hyperhive host-agent OP`` run on the host itself (the test host is this machine)."""
    done = subprocess.run(
        [PY, "-m", "hyperhive", "--state-dir", str(host_state), "host-agent", "--json", op, *args],
        input=b"{}\n",
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    return json.loads(done.stdout)


async def call(settings: Settings, method: str, **params: Any) -> Any:
    async with await HiveClient.connect(settings.host_socket) as op:
        return await op.call(method, **params)


async def send(settings: Settings, bodies: list[str]) -> None:
    async with await HiveClient.connect(settings.host_socket) as op:
        for body in bodies:
            await op.call("messages.send", to="alpha", body=body)


def bodies_seen(host_state: Path) -> set[str]:
    log = host_state / "agents" / "alpha" / "state" / "log.jsonl"
    return {e["body"] for e in read_log(log) if "body" in e}


async def all_arrive(host_state: Path, bodies: list[str], timeout: float = 90) -> None:
    await wait_for(
        lambda: set(bodies) <= bodies_seen(host_state),
        timeout=timeout,
        what=f"never delivered: {sorted(set(bodies) - bodies_seen(host_state))}",
    )


@pytest.fixture
async def placed(settings: Settings, ssh_host: SshHost) -> AsyncIterator[tuple[RemoteDaemon, Path]]:
    """The daemon running, ``alpha`` spawned on host ``one`` and talking to it."""
    host_state = new_state_dir()
    daemon = RemoteDaemon(settings, host_state)
    try:
        await daemon.start(timeout=60)
        key = await call(settings, "hosts.client_key")
        ssh_host.authorize(key["client_key"])
        await call(settings, "hosts.add", name="one", url=ssh_host.url)
        await call(settings, "hosts.drain", name="local")
        spawned = await call(settings, "lifecycle.spawn", name="alpha")
        assert spawned["agent"]["host"] == "one", spawned
        me = await wait_for(
            lambda: read_json(host_state / "agents" / "alpha" / "state" / "whoami.json"),
            what="alpha never said who it is",
        )
        assert me == {"name": "alpha"}
        yield daemon, host_state
    finally:
        daemon.stop()
        if (host_state / "agents" / "alpha").exists():
            subprocess.run(
                [PY, "-m", "hyperhive", "--state-dir", str(host_state)]
                + ["host-agent", "--json", "destroy", "alpha"],
                input=b"{}\n",
                capture_output=True,
                timeout=120,
                check=False,
            )
        shutil.rmtree(host_state, ignore_errors=True)
        print(daemon.tail())


async def restart_adopts_and_delivers(daemon: RemoteDaemon, host_state: Path, how: str) -> None:
    settings = daemon.settings
    before = on_host(host_state, "status", "alpha")
    assert before["state"] == "running"
    fingerprint = (await call(settings, "hosts.list"))["hosts"]
    await send(settings, [f"before-{i}" for i in range(10)])
    await all_arrive(host_state, [f"before-{i}" for i in range(10)])
    # sent right before the daemon goes: some delivered and not yet acked, some queued
    await send(settings, [f"across-{i}" for i in range(10)])
    if how == "kill -9":
        daemon.kill9()
    else:
        assert daemon.stop() == 0
    # the container does not depend on the daemon: it runs on
    assert on_host(host_state, "status", "alpha")["pid"] == before["pid"]

    await daemon.start(timeout=60)
    await send(settings, [f"after-{i}" for i in range(10)])
    await all_arrive(
        host_state,
        [f"{when}-{i}" for when in ("before", "across", "after") for i in range(10)],
    )
    # the same container, adopted: never a second copy, never called crashed
    assert on_host(host_state, "status", "alpha")["pid"] == before["pid"]
    alpha = next(a for a in (await call(settings, "agents.list"))["agents"] if a["name"] == "alpha")
    assert (alpha["state"], alpha["host"], alpha["host_state"]) == ("running", "one", "reachable")
    crashed = await call(settings, "audit.list", action="lifecycle.crashed", limit=20)
    assert [e["target"] for e in crashed["entries"]] == [], crashed
    # the host reconnected with the key pinned at `host add`
    hosts = {h["name"]: h for h in (await call(settings, "hosts.list"))["hosts"]}
    assert hosts["one"]["state"] == "reachable"
    pinned = {h["name"]: h["fingerprint"] for h in fingerprint}
    assert hosts["one"]["fingerprint"] == pinned["one"]
    # alpha's harness reaches the daemon through its socket as alpha, both ways
    await send(settings, ["go:alpha"])
    await all_arrive(host_state, ["ping", "pong"])


async def test_a_daemon_killed_and_restarted_adopts_its_remote_agent_and_its_messages_flow(
    placed: tuple[RemoteDaemon, Path],
) -> None:
    await restart_adopts_and_delivers(*placed, "kill -9")


async def test_a_daemon_stopped_and_started_adopts_its_remote_agent_and_its_messages_flow(
    placed: tuple[RemoteDaemon, Path],
) -> None:
    await restart_adopts_and_delivers(*placed, "sigterm")


async def test_a_remote_agent_that_stopped_while_the_daemon_was_down_is_restarted_as_a_local_one(
    placed: tuple[RemoteDaemon, Path],
) -> None:
    daemon, host_state = placed
    settings = daemon.settings
    before = on_host(host_state, "status", "alpha")
    daemon.kill9()
    on_host(host_state, "stop", "alpha")
    assert on_host(host_state, "status", "alpha")["state"] == "stopped"
    whoami = host_state / "agents" / "alpha" / "state" / "whoami.json"
    whoami.unlink()

    await daemon.start(timeout=60)
    await send(settings, [f"m{i}" for i in range(10)])
    # the local rule: the crash watcher finds its container exited, says so, and starts it
    # again (a new container, the same identity); its messages waited for it
    assert await wait_for(lambda: read_json(whoami), timeout=60) == {"name": "alpha"}
    now = on_host(host_state, "status", "alpha")
    assert now["state"] == "running" and now["pid"] != before["pid"]
    await all_arrive(host_state, [f"m{i}" for i in range(10)])
    alpha = next(a for a in (await call(settings, "agents.list"))["agents"] if a["name"] == "alpha")
    assert (alpha["state"], alpha["host"]) == ("running", "one")
    crashed = await call(settings, "audit.list", action="lifecycle.crashed", limit=20)
    [entry] = [e for e in crashed["entries"] if e["target"] == "alpha"]
    assert entry["detail"]["reason"].startswith("container exited")


async def test_a_daemon_restarted_without_its_swarm_still_serves_its_running_remote_agent(
    placed: tuple[RemoteDaemon, Path],
) -> None:
    # maintenance mode (`daemon --no-swarm`) starts no agent and runs no reconcile, yet
    # serves every agent's socket: a remote one's too, forwarded as its host connects
    daemon, host_state = placed
    before = on_host(host_state, "status", "alpha")
    daemon.kill9()
    daemon.extra = ("--no-swarm",)
    await daemon.start(timeout=60)
    await send(daemon.settings, [f"m{i}" for i in range(10)])
    await all_arrive(host_state, [f"m{i}" for i in range(10)])
    assert on_host(host_state, "status", "alpha")["pid"] == before["pid"]
