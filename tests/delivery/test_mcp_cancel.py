"""A cancelled or abandoned MCP ``recv`` never swallows the next message.

Run with the MCP SDK's own client against both paths an agent uses: the server on stdio
by itself (``direct``) and the server in the harness process (``in_process``: the Agent
SDK serves it to Claude Code), whose one daemon connection outlives every MCP session.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from mcp.client import Client
from mcp.client.session import ClientSession
from mcp.client.stdio import stdio_client

import hyperhive
from hyperhive.agent.hive_tools import HiveLink, HiveTools
from hyperhive.agent.mcp_server import build_server
from hyperhive.core.hive import Hive
from hyperhive.core.models import AgentState
from tests.delivery.mcp_client import server_params
from tests.support.waiting import wait_for

ROOT = Path(__file__).resolve().parents[2]


class Paths:
    """How a test reaches alice's tools: ``direct`` or the harness's ``in_process`` server."""

    def __init__(self, hive: Hive, mode: str, tmp_path: Path) -> None:
        self.hive = hive
        self.mode = mode
        self.env = {
            **os.environ,
            "HYPERHIVE_SOCKET": str(hive.settings.agent_socket("alice")),
            "HYPERHIVE_ETC": str(tmp_path / "etc"),
            "HYPERHIVE_ROLE": "agent",
            "PYTHONPATH": str(ROOT),
        }
        self.link: HiveLink | None = None
        self.server: Any = None

    def params(self) -> Any:
        params = server_params()
        params.env = self.env
        return params

    @contextlib.asynccontextmanager
    async def harness_side(self) -> AsyncIterator[None]:
        """For ``in_process``: the server in this process, one daemon link for every session."""
        if self.mode != "in_process":
            yield
            return
        self.link = HiveLink(self.hive.settings.agent_socket("alice"))
        self.server = build_server(
            HiveTools(self.link, manager=False, etc_dir=Path("/nonexistent"))
        )
        try:
            yield
        finally:
            await self.link.close()

    @contextlib.asynccontextmanager
    async def session(self) -> AsyncIterator[Any]:
        if self.server is not None:
            async with Client(self.server) as session:
                yield session
            return
        async with stdio_client(self.params()) as (read, write):
            async with ClientSession(read, write) as session:
                await session.initialize()
                yield session


@pytest.fixture
async def alice(hive: Hive) -> Hive:
    await hive.create_agent("alice")
    await hive.agents.set_state("alice", AgentState.RUNNING)
    return hive


async def next_session_gets(paths: Paths, body: str) -> str:
    async with paths.session() as session:
        result = await session.call_tool("recv", {"wait_seconds": 5})
    text = "\n".join(getattr(c, "text", "") for c in result.content)
    assert body in text, text
    assert "redelivered" not in text
    return text


@pytest.mark.parametrize("mode", ["direct", "in_process"])
async def test_a_cancelled_recv_leaves_the_next_message_for_a_new_session(
    alice: Hive, tmp_path: Path, mode: str
) -> None:
    paths = Paths(alice, mode, tmp_path)
    async with paths.harness_side():
        async with paths.session() as session:
            with pytest.raises(Exception):  # noqa: B017 - the SDK's own timeout error
                # the client gives up after 1 s and sends notifications/cancelled
                await session.call_tool("recv", {"wait_seconds": 20}, read_timeout_seconds=1)
            # the session goes on; the daemon stopped waiting for the cancelled call
            await wait_for(lambda: alice.broker.waiters("alice") == 0)
            await alice.broker.send("operator", "alice", "after the cancel")
            assert alice.broker.depth("alice") == 1
        connection = paths.link._client if paths.link else None
        await next_session_gets(paths, "after the cancel")
        if paths.link is not None:  # one daemon connection served both sessions
            assert connection is not None and paths.link._client is connection


async def test_a_killed_client_leaves_the_next_message_for_a_new_session(
    alice: Hive, tmp_path: Path
) -> None:
    paths = Paths(alice, "direct", tmp_path)
    async with paths.harness_side():
        client = subprocess.Popen(
            [sys.executable, "-m", "tests.delivery.mcp_client"],
            env=paths.env,
            cwd=ROOT,
            stdout=subprocess.PIPE,
        )
        try:
            await wait_for(lambda: alice.broker.waiters("alice") == 1, timeout=30)
            client.send_signal(signal.SIGKILL)
            client.wait()
            await wait_for(lambda: alice.broker.waiters("alice") == 0)
            await alice.broker.send("operator", "alice", "after the kill")
            assert alice.broker.depth("alice") == 1
            await next_session_gets(paths, "after the kill")
        finally:
            if client.poll() is None:
                client.kill()
                client.wait()
            assert client.stdout is not None
            client.stdout.close()


async def test_the_server_reports_hyperhives_version(alice: Hive, tmp_path: Path) -> None:
    paths = Paths(alice, "direct", tmp_path)
    async with stdio_client(paths.params()) as (read, write):
        async with ClientSession(read, write) as session:
            init = await session.initialize()
    assert init.server_info.name == "hyperhive"
    assert init.server_info.version == hyperhive.__version__ != ""
