"""The hyperhive MCP server, driven through the MCP SDK's client.

Most tests run the production path: the server lives in this process (as in the
harness) and the client talks to it in memory, as the Agent SDK serves it to the CLI
and the scripted driver calls it; one runs it standalone on stdio.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client

from hyperhive.agent.mcp_server import (
    AGENT_TOOLS,
    MANAGER_TOOLS,
    check_send_allowed,
)
from hyperhive.core.errors import Refused
from hyperhive.core.hive import Hive
from hyperhive.core.models import AgentState
from tests.conftest import agent_client
from tests.support.mcp import call, session_on, write_allow


async def test_an_agent_sees_only_the_agent_tools(hive: Hive, tmp_path: Path) -> None:
    async with session_on(hive, "alice", tmp_path / "etc") as session:
        tools = await session.list_tools()
    names = {t.name for t in tools.tools}
    assert names == set(AGENT_TOOLS)
    send = next(t for t in tools.tools if t.name == "send")
    assert "manager" in (send.description or "")
    assert send.input_schema["required"] == ["to", "body"]


async def test_the_manager_sees_the_manager_tools_too(hive: Hive, tmp_path: Path) -> None:
    async with session_on(hive, "manager", tmp_path / "etc") as session:
        tools = await session.list_tools()
        error, text = await call(session, "list_agents")
    assert {t.name for t in tools.tools} == set(AGENT_TOOLS) | set(MANAGER_TOOLS)
    assert not error
    assert text.startswith("manager: manager,")


async def test_send_and_recv_carry_a_message_between_agents(hive: Hive, tmp_path: Path) -> None:
    await hive.create_agent("bob")
    async with session_on(hive, "alice", tmp_path / "etc") as alice:
        error, text = await call(alice, "send", to="bob", body="hello bob")
        assert not error, text
        assert text.startswith("sent #") and text.endswith("to bob")
    async with session_on(hive, "bob", tmp_path / "etc") as bob:
        error, text = await call(bob, "recv", wait_seconds=5, max=5)
        assert not error
        assert "from alice (peer)" in text and "hello bob" in text
        error, text = await call(bob, "recv")
        assert (error, text) == (False, "(empty)")


async def test_the_allow_list_refuses_with_a_readable_error_and_the_server_goes_on(
    hive: Hive, tmp_path: Path
) -> None:
    await hive.create_agent("bob")
    etc = tmp_path / "etc"
    write_allow(etc, ["bob"])
    async with session_on(hive, "alice", etc) as session:
        error, text = await call(session, "send", to="operator", body="hi")
        assert error
        assert "may not message 'operator'" in text and "manager" in text
        error, text = await call(session, "send", to="*", body="all")
        assert error and "everyone" in text
        # the manager is always allowed, and the listed peer too
        assert not (await call(session, "send", to="manager", body="please relay"))[0]
        assert not (await call(session, "send", to="bob", body="hi bob"))[0]
    assert hive.broker.depth("manager") == 1 and hive.broker.depth("bob") == 1


async def test_an_unreadable_allow_list_refuses_every_direct_send(
    hive: Hive, tmp_path: Path
) -> None:
    etc = tmp_path / "etc"
    etc.mkdir()
    (etc / "send-allow.json").write_text("{not json")
    with pytest.raises(Refused, match="send it to the manager"):
        check_send_allowed("bob", manager=False, etc_dir=etc)
    check_send_allowed("manager", manager=False, etc_dir=etc)
    check_send_allowed("bob", manager=True, etc_dir=etc)


async def test_a_manager_tool_on_an_agent_socket_is_a_tool_error(
    hive: Hive, tmp_path: Path
) -> None:
    await hive.create_agent("bob")
    async with session_on(hive, "alice", tmp_path / "etc", manager=True) as session:
        error, text = await call(session, "kill", name="bob")
        assert error
        assert "unknown method 'lifecycle.kill'" in text and "only the manager" in text
        error, text = await call(session, "list_agents")
        assert error and "agents.list" in text
        # still serving
        error, text = await call(session, "whoami")
        assert not error and "name: alice" in text


async def test_bad_arguments_and_daemon_errors_are_tool_errors(hive: Hive, tmp_path: Path) -> None:
    async with session_on(hive, "alice", tmp_path / "etc") as session:
        error, text = await call(session, "send", to="bob")
        assert error and "body" in text
        error, text = await call(session, "send", to="nobody", body="x")
        assert error and "unknown recipient 'nobody'" in text
        error, text = await call(session, "send", to="  ", body="x")
        assert error and "'to' is empty" in text
        error, text = await call(session, "recv", wait_seconds=999)
        assert error and "wait_seconds" in text
        error, text = await call(session, "send", to="manager", body="x" * 5000)
        assert error and "limit is 4096" in text
        error, text = await call(session, "whoami")
        assert not error and "role: agent" in text


async def test_ask_operator_queues_a_question_or_explains_why_not(
    hive: Hive, tmp_path: Path
) -> None:
    async with session_on(hive, "alice", tmp_path / "etc") as session:
        error, text = await call(
            session, "ask_operator", question="English or French?", options=["en", "fr"]
        )
    if "questions.ask" in hive.registry.methods:
        assert not error, text
        assert text.startswith("question #") and "do not wait" in text
    else:
        assert error and "questions.ask" in text


async def test_manager_requests_reach_the_approval_queue_or_fail_readably(
    hive: Hive, tmp_path: Path
) -> None:
    async with session_on(hive, "manager", tmp_path / "etc") as session:
        error, text = await call(session, "request_spawn", name="carol")
        if "approvals.request_spawn" in hive.registry.methods:
            assert not error, text
            assert text.startswith("approval #") and "spawn carol" in text
        else:
            assert error and "approvals.request_spawn" in text
        error, text = await call(session, "request_apply_commit", agent="carol", commit_ref="zz")
        assert error and text.startswith("request_apply_commit: 'commit_ref'")


async def test_a_dead_daemon_is_a_tool_error_not_a_crash(hive: Hive, tmp_path: Path) -> None:
    async with session_on(hive, "alice", tmp_path / "etc") as session:
        assert not (await call(session, "whoami"))[0]
        await hive.unlisten_agent("alice")
        error, text = await call(session, "whoami")
        assert error and "not reachable" in text
        await hive.listen_agent(hive.agents.get("alice"))
        error, text = await call(session, "whoami")
        assert not error and "name: alice" in text


async def test_the_standalone_server_serves_the_tools_on_stdio(hive: Hive, tmp_path: Path) -> None:
    await hive.create_agent("alice")
    await hive.agents.set_state("alice", AgentState.RUNNING)
    params = StdioServerParameters(
        command=sys.executable,
        args=["-I", "-m", "hyperhive", "agent", "mcp"],
        env={
            **os.environ,
            "HYPERHIVE_SOCKET": str(hive.settings.agent_socket("alice")),
            "HYPERHIVE_ETC": str(tmp_path / "etc"),
        },
    )
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        tools = await session.list_tools()
        error, text = await call(session, "whoami")
    assert {t.name for t in tools.tools} == set(AGENT_TOOLS)
    assert not error and "state: running" in text
    client = await agent_client(hive, "alice")
    await client.close()
