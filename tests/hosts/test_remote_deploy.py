"""The daemon places agents on remote hosts and drives them there through approvals.

A real `Hive` (its approvals, repos, lifecycle and agent sockets), one test host (an sshd
in a network namespace) registered with ``host add``, real nspawn on that host.
"""

from __future__ import annotations

import asyncio
import base64
import os
import shutil

import pytest

from hyperhive.core.client import HiveClient
from hyperhive.core.errors import Refused
from hyperhive.core.hive import Hive
from hyperhive.core.hosts.link import Backoff, HostUnavailable, LinkState
from hyperhive.core.hosts.target import LOCAL
from hyperhive.core.models import AgentState
from hyperhive.core.runner import which
from hyperhive.core.runtimes.base import ContainerState
from hyperhive.core.runtimes.routed import HostRouter
from tests.hosts.conftest import next_event
from tests.hosts.remote_support import (
    AGENT,
    PY,
    kill_sshd_only,
    new_state_dir,
    read_json,
    wait_for,
)
from tests.support.netns import SshHost
from tests.support.swarm import commit_file

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or which("systemd-nspawn") is None,
    reason="remote agents run in nspawn containers: root and systemd-nspawn",
)


async def test_an_approved_spawn_runs_on_the_remote_host_a_deploy_reaches_it_and_an_outage_shows(
    hive: Hive, ssh_host: SshHost
) -> None:
    state = new_state_dir()
    router = hive.runtime
    assert isinstance(router, HostRouter)
    router.host_state_dir = str(state)
    hive.lifecycle.command = (PY, "-c", AGENT)
    try:
        hive.hosts.backoff = Backoff(first=0.2, cap=0.5)
        ssh_host.authorize(hive.hosts.client_public_key())
        await hive.hosts.add("one", ssh_host.url, by="local:op")
        assert await hive.hosts.link("one").settled(30) is LinkState.REACHABLE
        # local drained: the only placeable host is "one"
        await hive.hosts.set_drained(LOCAL, True, by="local:op")

        spawn = await hive.approvals.request_spawn("alpha", by="local:op")
        # the operator sees where it will run before approving
        assert (spawn.host, spawn.host_picked) == ("one", True)
        done = await hive.approvals.approve(spawn.id, by="local:op", wait=True)
        assert done.status.value == "deployed", done
        assert done.host == "one"
        assert hive.hosts.host_of("alpha") == "one"
        assert hive.hosts.agents_on("one") == ["alpha"]
        assert hive.agents.describe(hive.agents.get("alpha"))["host"] == "one"
        assert (await hive.runtime.status("alpha")).state is ContainerState.RUNNING
        # it runs in the container on "one", and the daemon knows it by its socket there
        me = await wait_for(
            lambda: read_json(state / "agents" / "alpha" / "state" / "whoami.json"),
            what="alpha never said who it is",
        )
        assert me == {"name": "alpha"}
        assert hive.agents.get("alpha").state is AgentState.RUNNING
        with pytest.raises(Refused, match="still runs 1 agent"):
            await hive.hosts.remove("one", by="local:op")

        # a config change, approved, is deployed to the host's applied tree
        sha = commit_file(hive.settings.proposed_dir("alpha"), "prompt.md", "be terse\n")
        apply = await hive.approvals.request_apply_commit("alpha", sha[:12], by="local:op")
        assert (apply.host, apply.host_picked) == ("one", False)
        done = await hive.approvals.approve(apply.id, by="local:op", wait=True)
        assert done.status.value == "deployed", done
        # the deploy tag and meta record which host runs which sha
        assert {t.id: t.message for t in await hive.repos.tags("alpha", "deployed")} == {
            spawn.id: "host: one",
            apply.id: "host: one",
        }
        assert (await hive.repos.meta_agents())["alpha"]["host"] == "one"
        remote_applied = state / "agents" / "alpha" / "applied" / "prompt.md"
        assert remote_applied.read_text() == "be terse\n"
        assert (await hive.runtime.status("alpha")).state is ContainerState.RUNNING

        # the daemon's terminal (what the TUI and `hyperhive shell` use) reaches its container
        screen = hive.events.subscribe(["pty.*"], owner=7)
        term = await hive.terminals.open("alpha", "local:op", 7, 24, 80)
        await hive.terminals.write(term.id, 7, b"echo hi-$((40+2)); hostname; exit\n")
        seen = b""
        async with asyncio.timeout(30):
            async for event in screen:
                if event.name == "pty.closed":
                    break
                seen += base64.b64decode(event.data["data_b64"])
        assert b"hi-42" in seen and b"h-alpha" in seen, seen  # ran inside its container
        hive.events.unsubscribe(screen)

        # its host goes down: the agent shows unreachable (an event), is never marked
        # crashed nor restarted, and is back as it was when the host returns
        sub = hive.events.subscribe(["agent.changed"])
        kill_sshd_only(ssh_host)
        down = await next_event(sub, "agent.changed", lambda d: d["name"] == "alpha", 30)
        assert down.data["host_state"] == "unreachable"
        await hive.lifecycle.check_once()
        assert hive.agents.get("alpha").state is AgentState.RUNNING
        ssh_host.start()
        up = await next_event(
            sub, "agent.changed", lambda d: d["name"] == "alpha" and d["host_state"] == "reachable"
        )
        assert up.data["state"] == "running"
        assert (await hive.runtime.status("alpha")).state is ContainerState.RUNNING

        # a tombstone's state stays on its host: measured there, and purged there too
        kept_there = state / "agents" / "alpha"
        (kept_there / "creds" / ".credentials.json").write_text("{}")  # as a login leaves
        await hive.lifecycle.destroy("alpha", by="local:op")
        async with await HiveClient.connect(hive.settings.host_socket) as op:
            [row] = (await op.call("kept.list"))["kept"]
        assert row["name"] == "alpha" and row["has_creds"] is True
        assert row["size"] > 1000
        # its host down: the purge is refused and nothing is forgotten; the size is unknown
        kill_sshd_only(ssh_host)
        await wait_for(lambda: hive.hosts.link("one").state is LinkState.UNREACHABLE)
        with pytest.raises(HostUnavailable):
            await hive.lifecycle.purge("alpha", by="local:op")
        assert hive.hosts.host_of("alpha") == "one" and kept_there.exists()
        async with await HiveClient.connect(hive.settings.host_socket) as op:
            [row] = (await op.call("kept.list"))["kept"]
        assert (row["size"], row["has_creds"]) == (-1, False)
        ssh_host.start()
        await wait_for(lambda: hive.hosts.link("one").state is LinkState.REACHABLE)
        await hive.lifecycle.purge("alpha", by="local:op")
        assert not kept_there.exists()  # its creds are gone from the host too
        assert hive.hosts.agents_on("one") == []
        assert hive.hosts.host_of("alpha") == LOCAL
    finally:
        shutil.rmtree(state, ignore_errors=True)
