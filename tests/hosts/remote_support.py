"""Helpers of the remote runtime tests: a host link to a netns sshd, and a tiny agent.

The "remote" hosts are this machine seen through an sshd in a network namespace; each has
its own state dir, so the host-side command keeps its agents apart from the daemon's.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncssh

from hyperhive.core.hive import Hive
from hyperhive.core.hosts.link import Backoff, HostLink, LinkOptions, LinkState
from hyperhive.core.hosts.target import parse_url
from hyperhive.core.models import Role
from hyperhive.core.runtimes.base import AgentSpec
from hyperhive.core.runtimes.remote import RemoteRuntime
from tests.support.netns import SshHost

PY = sys.executable

# The agent in the remote container: it says who the daemon thinks it is (in /state),
# answers "ping" with "pong", sends a ping where it is told to ("go:<agent>"), and logs
# every message it gets. A dropped socket (its host unreachable) is dialled again.
AGENT = r"""
import asyncio, json, os
from hyperhive.core.client import HiveClient

def log(entry):
    with open("/state/log.jsonl", "a") as f:
        f.write(json.dumps(entry) + "\n")

async def session():
    async with await HiveClient.connect("/run/hive/hive.sock") as c:
        await serve(c)

async def serve(c):
    me = await c.call("agent.whoami")
    with open("/state/whoami.json", "w") as f:
        json.dump({"name": me["name"]}, f)
    while True:
        got = await c.call("messages.recv", wait_seconds=2.0, max=32)
        for m in got["messages"]:
            log({"id": m["id"], "sender": m["sender"], "body": m["body"]})
            if m["body"].startswith("go:"):
                await c.call("messages.send", to=m["body"][3:], body="ping")
            elif m["body"] == "ping":
                await c.call("messages.send", to=m["sender"], body="pong")
        if got["messages"]:
            await c.call("messages.ack", ids=[m["id"] for m in got["messages"]])

async def main():
    while True:
        try:
            await session()
        except Exception as exc:
            log({"error": repr(exc)[:200]})
            await asyncio.sleep(0.2)

asyncio.run(main())
"""


def new_state_dir() -> Path:
    """A short host state dir (unix socket paths are capped at 108 bytes)."""
    return Path(tempfile.mkdtemp(prefix="hhr-", dir="/tmp"))


@contextlib.asynccontextmanager
async def host_link(host: SshHost, name: str) -> AsyncIterator[HostLink]:
    """A started `HostLink` to ``host``, its key pinned and ours authorized."""
    key = asyncssh.generate_private_key("ssh-ed25519")
    host.authorize(key.export_public_key().decode())
    link = HostLink(
        name,
        parse_url(host.url),
        host.public_host_key(),
        key,
        options=LinkOptions(python=PY, keepalive_interval=1.0, keepalive_count_max=2),
        backoff=Backoff(first=0.2, cap=0.5),
    )
    link.start()
    try:
        state = await link.settled(30)
        assert state is LinkState.REACHABLE, f"{state}: {link.reason}"
        yield link
    finally:
        await link.close()


def agent_spec(hive: Hive, name: str) -> AgentSpec:
    """``name``'s spec with the daemon's paths, running the tiny agent above."""
    s = hive.settings
    applied = s.applied_dir(name)
    applied.mkdir(parents=True, exist_ok=True)
    (applied / "agent.toml").write_text(f'name = "{name}"\n')
    return AgentSpec(
        name=name,
        role=Role.AGENT,
        socket_dir=s.socket_dir(name),
        state_dir=s.agent_state_dir(name),
        creds_dir=s.creds_dir(name),
        etc_dir=s.agent_dir(name) / "etc",
        applied_dir=applied,
        command=(PY, "-c", AGENT),
    )


def host_state(runtime: RemoteRuntime, name: str) -> Path:
    return Path(runtime.host_state_dir) / "agents" / name / "state"


async def wait_for(check: Any, timeout: float = 30.0, what: str = "") -> Any:
    """Poll ``check()`` (a file the agent writes on the host) until it is truthy."""
    async with asyncio.timeout(timeout):
        while True:
            with contextlib.suppress(OSError, ValueError):
                got = check()
                if got:
                    return got
            await asyncio.sleep(0.05)
    raise AssertionError(what)


def read_json(path: Path) -> Any:
    return json.loads(path.read_text())


def read_log(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def kill_sshd_only(host: SshHost) -> None:
    """Take the host off the network: kill its sshd and every SSH session, not the agents."""
    assert host.proc is not None
    with contextlib.suppress(ProcessLookupError):
        os.killpg(host.proc.pid, signal.SIGKILL)
    host.proc.wait(timeout=10)
    host.proc = None
    pids = subprocess.run(
        ["ip", "netns", "pids", host.netns], capture_output=True, text=True, timeout=10
    ).stdout.split()
    for pid in pids:
        with contextlib.suppress(OSError):
            if Path(f"/proc/{pid}/comm").read_text().strip() == "sshd":
                os.kill(int(pid), signal.SIGKILL)
