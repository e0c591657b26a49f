"""mark_read, duplicate approvals, the tools' documented limits, acks of what a turn saw."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from hyperhive.agent.drivers.base import ExitClass, OnEvent, TurnResult
from hyperhive.agent.harness import Harness
from hyperhive.core.client import HiveClient
from hyperhive.core.errors import Conflict, Refused
from hyperhive.core.hive import Hive
from hyperhive.core.settings import Settings
from tests.conftest import agent_client
from tests.support.harness import agent_env, prepare, running
from tests.support.mcp import session_on
from tests.support.swarm import commit_file
from tests.support.waiting import next_named

# --- mark_read ---------------------------------------------------------------------------


async def test_mark_read_marks_only_messages_to_the_operator(settings: Settings) -> None:
    async with Hive.open(settings) as hive:
        await hive.create_agent("alice")
        [to_alice] = await hive.broker.send("operator", "alice", "for alice")
        [to_me] = await hive.broker.send("alice", "operator", "for the operator")
        host = await HiveClient.connect(settings.host_socket)
        got = await host.call("messages.mark_read", ids=[to_alice.id, to_me.id, 10**6])
        await host.close()
        assert got == {"read": 1}
    async with Hive.open(settings) as hive:  # after a restart alice still gets hers
        [m] = await hive.broker.recv("alice", 0, 1)
        assert m.body == "for alice"
        [mine] = await hive.broker.history(recipient="operator")
        assert mine.acked_at is not None


async def test_a_viewer_cannot_mark_messages_read(hive: Hive, host: HiveClient) -> None:
    [m] = await hive.broker.send("manager", "operator", "decide")
    await host.call("session.hello", role="viewer")
    with pytest.raises(Refused, match="viewer"):
        await host.call("messages.mark_read", ids=[m.id])
    [still] = await hive.broker.history(recipient="operator")
    assert still.acked_at is None


# --- duplicate approvals -----------------------------------------------------------------


async def test_a_second_pending_approval_for_the_same_commit_is_refused_with_the_first_id(
    swarm: Hive,
) -> None:
    op = await HiveClient.connect(swarm.settings.host_socket)
    manager = await HiveClient.connect(swarm.settings.agent_socket("manager"))
    req = await manager.call("approvals.request_spawn", name="alice")
    await op.call("approvals.approve", id=req["id"], wait=True)
    sha = commit_file(swarm.settings.proposed_dir("alice"), "prompt.md", "be terse\n")
    first = await manager.call("approvals.request_apply_commit", agent="alice", commit_ref=sha)
    with pytest.raises(Conflict, match=f"approval #{first['id']} already asks"):
        await manager.call("approvals.request_apply_commit", agent="alice", commit_ref=sha[:9])
    # at once, too: one gets in, the others are told which one
    other = commit_file(swarm.settings.proposed_dir("alice"), "prompt.md", "be brief\n")
    results = await asyncio.gather(
        *(
            manager.call("approvals.request_apply_commit", agent="alice", commit_ref=other)
            for _ in range(3)
        ),
        return_exceptions=True,
    )
    created = [r for r in results if isinstance(r, dict)]
    assert len(created) == 1
    assert all(
        isinstance(r, Conflict) and f"#{created[0]['id']}" in r.message
        for r in results
        if r not in created
    )
    pending = await op.call("approvals.list", status="pending")
    assert len(pending["approvals"]) == 2
    # once decided, the same commit may be asked for again
    await op.call("approvals.deny", id=first["id"], note="not now")
    again = await manager.call("approvals.request_apply_commit", agent="alice", commit_ref=sha)
    assert again["id"] not in (first["id"], created[0]["id"])
    await manager.close()
    await op.close()


# --- the tools' limits -------------------------------------------------------------------


async def test_the_tool_schemas_carry_their_documented_limits(hive: Hive, tmp_path: Path) -> None:
    async with session_on(hive, "manager", tmp_path / "etc") as session:
        tools = {t.name: t.input_schema for t in (await session.list_tools()).tools}
    send = tools["send"]["properties"]
    assert send["body"]["maxLength"] == 4096 and send["to"]["maxLength"] == 64
    recv = tools["recv"]["properties"]
    assert (recv["wait_seconds"]["minimum"], recv["wait_seconds"]["maximum"]) == (0, 180)
    assert (recv["max"]["minimum"], recv["max"]["maximum"]) == (1, 32)
    ask = tools["ask_operator"]["properties"]
    assert ask["ttl_seconds"]["maximum"] == 6 * 3600 and ask["options"]["maxItems"] == 16
    assert tools["kill"]["properties"]["name"]["pattern"] == r"^[a-z][a-z0-9-]{0,8}$"
    commit = tools["request_apply_commit"]["properties"]["commit_ref"]
    assert commit["pattern"] == r"^[0-9a-fA-F]{7,40}$"
    assert all(s.get("additionalProperties") is False for s in tools.values())


async def test_a_1_1_mb_send_is_refused_by_the_tool_within_a_second(
    hive: Hive, tmp_path: Path
) -> None:
    await hive.create_agent("bob")
    async with session_on(hive, "alice", tmp_path / "etc") as session:
        t0 = time.monotonic()
        async with asyncio.timeout(1.0):
            result = await session.call_tool("send", {"to": "bob", "body": "x" * 1_100_000})
        elapsed = time.monotonic() - t0
        text = "".join(getattr(c, "text", "") for c in result.content)
        # the byte limit holds where characters would pass: 2,000 × 3-byte characters
        wide = await session.call_tool("send", {"to": "bob", "body": "€" * 2000})
        wide_text = "".join(getattr(c, "text", "") for c in wide.content)
    assert result.is_error and elapsed < 1.0
    assert "'body' is 1100000 characters; the limit is 4096" in text
    assert wide.is_error and "6000 bytes; the limit is 4096" in wide_text
    assert hive.broker.depth("bob") == 0


@pytest.mark.parametrize(
    ("tool", "args", "expected"),
    [
        ("recv", {"wait_seconds": 181}, "'wait_seconds' must be at most 180"),
        ("recv", {"max": 0}, "'max' must be at least 1"),
        ("recv", {"wait_seconds": "soon"}, "'wait_seconds' must be number, not str"),
        ("recv", {"timeout": 5}, "unknown argument(s) 'timeout'"),
        ("send", {"to": "bob"}, "missing argument(s) 'body'"),
        ("send", {"to": "bob", "body": "x", "in_reply_to": 0}, "'in_reply_to' must be at least 1"),
        ("ask_operator", {"question": "q?", "ttl_seconds": 10**9}, "'ttl_seconds' must be at most"),
        ("ask_operator", {"question": "q?", "options": ["a"] * 17}, "17 items; the limit is 16"),
    ],
)
async def test_bad_tool_arguments_are_refused_before_the_daemon(
    hive: Hive, tmp_path: Path, tool: str, args: dict[str, Any], expected: str
) -> None:
    async with session_on(hive, "alice", tmp_path / "etc") as session:
        result = await session.call_tool(tool, args)
    text = "".join(getattr(c, "text", "") for c in result.content)
    assert result.is_error and expected in text, text


# --- acks name what the turn saw ---------------------------------------------------------


class SideReceiver:
    """A driver whose turn succeeds while another connection of the agent holds a message."""

    def __init__(self, hive: Hive) -> None:
        self.hive = hive
        self.prompts: list[str] = []

    async def check(self) -> tuple[ExitClass | None, str]:
        return None, "side 1.0"

    async def run_turn(
        self, prompt: str, *, on_event: OnEvent, new_session: bool = False
    ) -> TurnResult:
        self.prompts.append(prompt)
        if len(self.prompts) == 1:
            await self.hive.broker.send("operator", "alice", "never shown to the model")
            side = await agent_client(self.hive, "alice")
            got = await side.call("messages.recv", wait_seconds=0)
            assert got["messages"], got  # handed to a connection nobody reads
            await side.close()
        return TurnResult(ExitClass.OK)

    def cancel(self) -> None:
        return None


async def test_a_turn_acks_the_ids_it_saw_and_nothing_else(
    hive: Hive, host: HiveClient, tmp_path: Path
) -> None:
    await prepare(hive)
    driver = SideReceiver(hive)
    harness = Harness(agent_env(hive, tmp_path), driver)
    await host.subscribe(["turn.ended"])
    async with running(hive, harness):
        await host.call("messages.send", to="alice", body="the turn's own")
        await next_named(host, "turn.ended")
        # the unseen message comes back and starts a turn of its own
        await next_named(host, "turn.ended")
    assert "the turn's own" in driver.prompts[0]
    assert "never shown to the model" in driver.prompts[1]
