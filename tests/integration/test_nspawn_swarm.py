"""The whole stack on the nspawn runtime: the real harness in an unprivileged container."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import AsyncIterator
from dataclasses import replace

import pytest

from hyperhive.core.client import HiveClient
from hyperhive.core.hive import Hive
from hyperhive.core.models import AgentState
from hyperhive.core.settings import Settings
from tests.support.waiting import wait_for

pytestmark = pytest.mark.root

WHOAMI = """
import asyncio, json
from hyperhive.core.client import HiveClient
async def main():
    c = await HiveClient.connect("/run/hive/hive.sock")
    me = await c.call("agent.whoami")
    sent = await c.call("messages.send", to="operator", body="hello from inside")
    print(json.dumps({"name": me["name"], "sent": sent["ids"]}))
asyncio.run(main())
"""


@pytest.fixture
async def swarm(settings: Settings) -> AsyncIterator[Hive]:
    if os.geteuid() != 0:
        pytest.skip("the nspawn runtime needs root (CI runs this as root)")
    if shutil.which("systemd-nspawn") is None:
        pytest.skip("systemd-nspawn is not installed (apt install systemd-container)")
    nspawn = replace(settings, runtime="nspawn", driver="scripted")
    async with Hive.open(nspawn) as hive:
        try:
            yield hive
        finally:
            await hive.approvals.wait_builds()
            for status in await hive.runtime.list():
                await hive.runtime.destroy(status.name)


async def test_an_nspawn_agent_runs_the_harness_and_acts_only_as_itself(swarm: Hive) -> None:
    op = await HiveClient.connect(swarm.settings.host_socket)
    await op.call("lifecycle.spawn", name="alice")
    assert swarm.agents.get("alice").state is AgentState.RUNNING

    # the real harness inside the container connects and takes its messages
    await op.call("messages.send", to="alice", body="are you there?")
    await wait_for(
        lambda: swarm.broker.depth("alice") == 0 and swarm.broker.inflight("alice") == 0, timeout=60
    )

    ids = await op.call("lifecycle.exec", name="alice", argv=["id", "-u"])
    assert ids["stdout"].strip() == "0"
    uid_map = await op.call("lifecycle.exec", name="alice", argv=["cat", "/proc/self/uid_map"])
    inside, outside, _ = uid_map["stdout"].split()
    assert inside == "0" and int(outside) >= 65536

    done = await op.call("lifecycle.exec", name="alice", argv=["python3", "-c", WHOAMI])
    assert done["returncode"] == 0, done["stderr"]
    assert json.loads(done["stdout"])["name"] == "alice"
    [m] = (await op.call("messages.inbox"))["messages"]
    assert (m["sender"], m["body"]) == ("alice", "hello from inside")

    writable = await op.call(
        "lifecycle.exec",
        name="alice",
        argv=["sh", "-c", "echo x > /etc/hyperhive/send-allow.json"],
    )
    assert writable["returncode"] != 0
    others = await op.call("lifecycle.exec", name="alice", argv=["ls", "/run/hive"])
    assert others["stdout"].split() == ["hive.sock"]
    await op.close()
