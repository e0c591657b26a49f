"""The send allow-list is enforced by the daemon, from the applied config it holds.

An agent that skips its MCP server and writes JSON lines straight to its own
``hive.sock`` is held to the same allow-list, read from its applied git repo; nothing
it (or the manager) can write changes the daemon's decision.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import stat
from collections.abc import AsyncIterator
from typing import Any

import pytest

from hyperhive.core.client import HiveClient
from hyperhive.core.errors import RepoError
from hyperhive.core.hive import Hive
from hyperhive.core.models import Role
from hyperhive.core.policy import SendPolicies
from tests.support.swarm import commit_file
from tests.support.waiting import wait_for


class RawSocket:
    """JSON lines written by hand to an agent's socket: no MCP, no client library."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer, self.next_id = reader, writer, 0

    @classmethod
    async def open(cls, hive: Hive, name: str) -> RawSocket:
        reader, writer = await asyncio.open_unix_connection(str(hive.settings.agent_socket(name)))
        return cls(reader, writer)

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        self.next_id += 1
        line = {"id": self.next_id, "method": method, "params": params}
        self.writer.write(json.dumps(line).encode() + b"\n")
        await self.writer.drain()
        reply: dict[str, Any] = json.loads(await asyncio.wait_for(self.reader.readline(), 10))
        assert reply["id"] == self.next_id
        return reply

    async def close(self) -> None:
        self.writer.close()
        await self.writer.wait_closed()


async def _deploy(hive: Hive, op: HiveClient, manager: HiveClient, name: str, allow: str) -> None:
    """Commit ``allowed_recipients = <allow>`` to ``name``'s proposed repo; approve it."""
    repo = hive.settings.proposed_dir(name)
    text = (repo / "agent.toml").read_text()
    text = re.sub(r"(?m)^allowed_recipients = .*$", f"allowed_recipients = {allow}", text)
    sha = commit_file(repo, "agent.toml", text, "allow-list")
    req = await manager.call("approvals.request_apply_commit", agent=name, commit_ref=sha)
    done = await op.call("approvals.approve", id=req["id"], wait=True)
    assert done["status"] == "deployed", done


@pytest.fixture
async def restricted(swarm: Hive) -> AsyncIterator[Hive]:
    """alice (may message only bob), bob and carol, each running the mini harness."""
    op = await HiveClient.connect(swarm.settings.host_socket)
    manager = await HiveClient.connect(swarm.settings.agent_socket("manager"))
    for name in ("alice", "bob", "carol"):
        req = await manager.call("approvals.request_spawn", name=name)
        assert (await op.call("approvals.approve", id=req["id"], wait=True))["status"] == "deployed"
    await _deploy(swarm, op, manager, "alice", '["bob"]')
    swarm.op, swarm.mgr = op, manager  # type: ignore[attr-defined]
    yield swarm
    await manager.close()
    await op.close()


async def test_a_raw_send_to_a_recipient_off_the_allow_list_is_refused_naming_it(
    restricted: Hive,
) -> None:
    raw = await RawSocket.open(restricted, "alice")
    refused = await raw.call("messages.send", to="carol", body="let me in")
    assert refused["error"]["code"] == "refused"
    message = refused["error"]["message"]
    assert "alice may not message 'carol'" in message
    assert "allowed_recipients" in message and "bob" in message
    # nothing was stored or queued for carol
    assert restricted.broker.depth("carol") == 0
    history = await restricted.broker.history(agent="carol", limit=50)
    assert not any(m.sender == "alice" for m in history)
    await raw.close()


async def test_a_raw_broadcast_and_a_raw_send_to_the_operator_are_refused(
    restricted: Hive,
) -> None:
    raw = await RawSocket.open(restricted, "alice")
    everyone = await raw.call("messages.send", to="*", body="hello all")
    assert everyone["error"]["code"] == "refused"
    assert "everyone ('*')" in everyone["error"]["message"]
    operator = await raw.call("messages.send", to="operator", body="psst")
    assert operator["error"]["code"] == "refused"
    assert "'operator'" in operator["error"]["message"]
    assert restricted.broker.depth("bob") == restricted.broker.depth("carol") == 0
    await raw.close()


async def test_the_listed_recipient_and_the_manager_are_allowed(restricted: Hive) -> None:
    raw = await RawSocket.open(restricted, "alice")
    to_bob = await raw.call("messages.send", to="bob", body="hi bob")
    assert to_bob["result"]["recipients"] == ["bob"]
    to_manager = await raw.call("messages.send", to="manager", body="hi manager")
    assert to_manager["result"]["recipients"] == ["manager"]
    await raw.close()


async def test_an_agent_may_answer_whoever_wrote_to_it_and_nobody_else(restricted: Hive) -> None:
    # carol (unrestricted) writes to alice; alice's mini harness answers "echo" with
    # in_reply_to over its raw socket: a reply to the sender is always allowed
    op = restricted.op  # type: ignore[attr-defined]
    raw_carol = await RawSocket.open(restricted, "carol")
    sent = await raw_carol.call("messages.send", to="alice", body="echo pong")
    original = sent["result"]["ids"][0]

    async def answered() -> bool:
        got = await restricted.broker.history(agent="alice", limit=50)
        return any(m.sender == "alice" and m.in_reply_to == original for m in got)

    async with asyncio.timeout(15):
        while not await answered():
            await asyncio.sleep(0.05)
    # a reply is to the sender of the original only: naming carol's message does not
    # let alice write to the operator
    raw = await RawSocket.open(restricted, "alice")
    sideways = await raw.call("messages.send", to="operator", body="x", in_reply_to=original)
    assert sideways["error"]["code"] == "refused"
    # nor does naming a message alice never received
    bob_note = await op.call("messages.send", to="bob", body="for bob only")
    forged = await raw.call(
        "messages.send", to="operator", body="x", in_reply_to=bob_note["ids"][0]
    )
    assert forged["error"]["code"] == "refused"
    await raw.close()
    await raw_carol.close()


async def test_rewriting_the_files_an_agent_or_the_manager_can_reach_changes_nothing(
    restricted: Hive,
) -> None:
    # what the harness's early check reads (/etc/hyperhive/send-allow.json) and the
    # exported tree (/config, and the manager's rw /agents view): both rewritten
    etc = restricted.lifecycle.etc_dir("alice") / "send-allow.json"
    os.chmod(etc, stat.S_IWUSR | stat.S_IRUSR)
    etc.write_text('["carol", "*", "operator"]\n')
    tree = restricted.lifecycle.tree_dir("alice") / "agent.toml"
    tree.write_text(tree.read_text().replace('["bob"]', "[]"))
    raw = await RawSocket.open(restricted, "alice")
    refused = await raw.call("messages.send", to="carol", body="let me in")
    assert refused["error"]["code"] == "refused"
    await raw.close()


async def test_a_deploy_refreshes_the_allow_list(restricted: Hive) -> None:
    raw = await RawSocket.open(restricted, "alice")
    assert (await raw.call("messages.send", to="carol", body="1"))["error"]["code"] == "refused"
    await _deploy(
        restricted,
        restricted.op,  # type: ignore[attr-defined]
        restricted.mgr,  # type: ignore[attr-defined]
        "alice",
        '["bob", "carol"]',
    )
    await raw.close()
    await wait_for(lambda: restricted.agents.get("alice").state.value == "running")
    raw = await RawSocket.open(restricted, "alice")
    assert (await raw.call("messages.send", to="carol", body="2"))["result"]["recipients"] == [
        "carol"
    ]
    await raw.close()


# --- the rules, on the policy object the broker consults ---------------------------------


def _policies(toml: bytes | Exception) -> tuple[SendPolicies, list[str]]:
    reads: list[str] = []

    async def read(agent: str, sha: str) -> bytes | None:
        reads.append(sha)
        if isinstance(toml, Exception):
            raise toml
        return toml

    facts = {"alice": (Role.AGENT, "a" * 40), "manager": (Role.MANAGER, "b" * 40)}
    return SendPolicies(facts.get, read), reads


async def test_the_rules_empty_list_broadcast_manager_and_the_cache() -> None:
    policies, reads = _policies(b'allowed_recipients = ["bob", "*"]\n')
    alice = await policies.get("alice")
    assert [alice.permits(to) for to in ("bob", "*", "manager", "carol", "operator")] == [
        True,
        True,
        True,
        False,
        False,
    ]
    await policies.get("alice")
    assert len(reads) == 1  # parsed once per applied sha
    assert (await policies.get("manager")).permits("carol")
    anyone, _ = _policies(b"allowed_recipients = []\n")
    assert (await anyone.get("alice")).permits("operator")


async def test_an_unreadable_applied_config_fails_closed_and_is_read_again() -> None:
    policies, reads = _policies(RepoError("git operation failed: bad object"))
    alice = await policies.get("alice")
    assert not alice.permits("bob") and alice.permits("manager")
    assert "applied config cannot be read" in alice.refusal("bob").message
    await policies.get("alice")
    assert len(reads) == 2  # a failure is not cached
