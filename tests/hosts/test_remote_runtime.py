"""The remote runtime against real hosts: sshd in network namespaces, real nspawn there.

The daemon side is a real `Hive` (its agent sockets, broker and API); the agents run in
real nspawn containers started by ``hyperhive host-agent`` over each host's SSH link.
"""

from __future__ import annotations

import asyncio
import os
import shutil

import pytest

from hyperhive.core.client import HiveClient
from hyperhive.core.hive import Hive
from hyperhive.core.hosts.link import HostUnavailable, LinkState
from hyperhive.core.pty import read_until_eof
from hyperhive.core.runner import which
from hyperhive.core.runtimes.base import ContainerState
from hyperhive.core.runtimes.remote import RemoteRuntime
from tests.hosts.remote_support import (
    agent_spec,
    host_link,
    host_state,
    kill_sshd_only,
    new_state_dir,
    read_json,
    read_log,
    wait_for,
)
from tests.support.netns import SshHost

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or which("systemd-nspawn") is None,
    reason="remote agents run in nspawn containers: root and systemd-nspawn",
)


async def test_agents_on_two_hosts_know_who_they_are_and_message_each_other(
    hive: Hive, ssh_hosts: list[SshHost]
) -> None:
    dirs = [new_state_dir(), new_state_dir()]
    runtimes: list[RemoteRuntime] = []
    try:
        async with host_link(ssh_hosts[0], "one") as one, host_link(ssh_hosts[1], "two") as two:
            for link, d in ((one, dirs[0]), (two, dirs[1])):
                runtimes.append(
                    RemoteRuntime(link, host_state_dir=str(d), python=link.options.python)
                )
            alpha_rt, bravo_rt = runtimes
            for name in ("alpha", "bravo"):
                await hive.create_agent(name)
            await alpha_rt.start(agent_spec(hive, "alpha"))
            await bravo_rt.start(agent_spec(hive, "bravo"))
            try:
                # each container's /run/hive/hive.sock reaches the daemon as that agent
                for rt, name in ((alpha_rt, "alpha"), (bravo_rt, "bravo")):
                    me = await wait_for(
                        lambda rt=rt, name=name: read_json(host_state(rt, name) / "whoami.json"),
                        what=f"{name} never said who it is",
                    )
                    assert me == {"name": name}
                    assert (await rt.status(name)).state is ContainerState.RUNNING
                # a message round trip: alpha (host one) pings bravo (host two), bravo pongs
                async with await HiveClient.connect(hive.settings.host_socket) as op:
                    await op.call("messages.send", to="alpha", body="go:bravo")
                pong = await wait_for(
                    lambda: [
                        e
                        for e in read_log(host_state(alpha_rt, "alpha") / "log.jsonl")
                        if e.get("body") == "pong"
                    ],
                    what="alpha never got bravo's pong",
                )
                assert pong[0]["sender"] == "bravo"
                pings = read_log(host_state(bravo_rt, "bravo") / "log.jsonl")
                assert [e["sender"] for e in pings if e.get("body") == "ping"] == ["alpha"]
                # the approval's applied tree went over the link, written on the host
                applied = dirs[0] / "agents" / "alpha" / "applied" / "agent.toml"
                assert applied.read_text() == 'name = "alpha"\n'
            finally:
                await alpha_rt.destroy("alpha")
                await bravo_rt.destroy("bravo")
            assert (await alpha_rt.status("alpha")).state is ContainerState.ABSENT
    finally:
        for d in dirs:
            shutil.rmtree(d, ignore_errors=True)


async def test_a_raw_connection_to_an_agents_host_socket_is_that_agent_and_no_other(
    hive: Hive, ssh_host: SshHost
) -> None:
    d = new_state_dir()
    try:
        async with host_link(ssh_host, "one") as link:
            rt = RemoteRuntime(link, host_state_dir=str(d), python=link.options.python)
            for name in ("alpha", "bravo"):
                await hive.create_agent(name)
                await rt.create(agent_spec(hive, name))
            assert rt.forwarded() == ("alpha", "bravo"), ssh_host.tail()
            for name in ("alpha", "bravo"):
                # the path bound into the container as /run/hive/hive.sock, dialled raw
                raw = d / "agents" / name / "run" / "hive.sock"
                async with await HiveClient.connect(raw) as client:
                    me = await client.call("agent.whoami")
                assert me["name"] == name
                # the forwarded socket belongs to the container's root, nobody else
                assert raw.stat().st_mode & 0o077 == 0
            for name in ("alpha", "bravo"):
                await rt.destroy(name)
    finally:
        shutil.rmtree(d, ignore_errors=True)


async def test_a_terminal_into_a_remote_agent_runs_in_its_container(
    hive: Hive, ssh_host: SshHost
) -> None:
    d = new_state_dir()
    try:
        async with host_link(ssh_host, "one") as link:
            rt = RemoteRuntime(link, host_state_dir=str(d), python=link.options.python)
            await hive.create_agent("alpha")
            await rt.start(agent_spec(hive, "alpha"))
            try:
                pty = await rt.open_pty("alpha", ["/bin/sh", "-c", "echo hi; hostname"])
                out = await asyncio.wait_for(read_until_eof(pty.fd), 30)
                assert await pty.wait() == 0, out
                await pty.close()
                assert b"hi\r\n" in out
                assert b"h-alpha" in out  # the container's hostname: it ran inside
                done = await rt.exec("alpha", ["/bin/cat", "/config/agent.toml"])
                assert (done.returncode, done.stdout) == (0, 'name = "alpha"\n')
            finally:
                await rt.destroy("alpha")
    finally:
        shutil.rmtree(d, ignore_errors=True)


async def test_a_host_whose_sshd_dies_is_unreachable_then_back_with_no_message_lost(
    hive: Hive, ssh_host: SshHost
) -> None:
    d = new_state_dir()
    try:
        async with host_link(ssh_host, "one") as link:
            rt = RemoteRuntime(link, host_state_dir=str(d), python=link.options.python)
            await hive.create_agent("alpha")
            await rt.start(agent_spec(hive, "alpha"))
            log = host_state(rt, "alpha") / "log.jsonl"
            try:
                await wait_for(lambda: (host_state(rt, "alpha") / "whoami.json").exists())
                kill_sshd_only(ssh_host)
                await wait_for(lambda: link.state is LinkState.UNREACHABLE, what="never down")
                # not crashed, not absent: the runtime cannot know, and says so
                with pytest.raises(HostUnavailable):
                    await rt.status("alpha")
                async with await HiveClient.connect(hive.settings.host_socket) as op:
                    for i in range(20):
                        await op.call("messages.send", to="alpha", body=f"m{i}")
                ssh_host.start()
                await wait_for(lambda: link.state is LinkState.REACHABLE, what="never back")
                await wait_for(lambda: rt.forwarded() == ("alpha",), what="never re-forwarded")
                # the container kept running through the outage: adopted, not restarted
                assert (await rt.status("alpha")).state is ContainerState.RUNNING
                got = await wait_for(
                    lambda: (
                        [e["body"] for e in read_log(log) if "body" in e]
                        if len([e for e in read_log(log) if "body" in e]) >= 20
                        else None
                    ),
                    timeout=60,
                    what="the messages sent while the host was down never arrived",
                )
                assert sorted(got) == sorted(f"m{i}" for i in range(20))
            finally:
                await rt.destroy("alpha")
    finally:
        shutil.rmtree(d, ignore_errors=True)
