"""Fuzzing every MCP tool's arguments through the MCP SDK's client, against a real daemon.

The MCP server runs as in the harness (in this process, reached in memory as the Agent
SDK and the scripted driver reach it); the session lives on an event loop in a background thread
so that hypothesis can drive it example by example. Every call must come back as a tool
result (an error result for anything bad, never an exception or a dead server), and the
daemon behind it must keep no invalid state.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
from collections.abc import Awaitable, Iterator
from concurrent.futures import Future
from pathlib import Path
from typing import Any, TypeVar

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.adversarial.hostile import HOSTILE_STRINGS, HUGE_INTS, assert_no_invalid_state
from tests.support.daemon import DaemonProcess

mcp_server = pytest.importorskip("hyperhive.agent.mcp_server")
from mcp.client import Client  # noqa: E402

from hyperhive.core.names import validate_agent_name  # noqa: E402

T = TypeVar("T")
SCALE = 10 if os.environ.get("HYPOTHESIS_PROFILE") == "fuzz" else 1
# tools that act on the host for real when given a valid name: fuzz them with bad names only
ACTING = frozenset({"kill", "start", "restart", "update"})

# MCP carries JSON: no NaN or Infinity here (the SDK refuses to encode them)
json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**31), 2**31),
    st.sampled_from(HUGE_INTS + [-1, 0]),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(HOSTILE_STRINGS),
    st.text(max_size=30),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=10,
)


class McpSession:
    """An MCP client session on a background event loop, called from synchronous code."""

    def __init__(self, daemon: DaemonProcess, agent: str, etc: Path) -> None:
        self.daemon, self.agent, self.etc = daemon, agent, etc
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.ready: Future[None] = Future()
        self.done: asyncio.Event | None = None
        self.session: Client | None = None
        self.tools: dict[str, dict[str, Any]] = {}

    def __enter__(self) -> McpSession:
        self.thread.start()
        self.main = asyncio.run_coroutine_threadsafe(self._hold(), self.loop)
        self.ready.result(timeout=60)
        return self

    def __exit__(self, *exc: object) -> None:
        assert self.done is not None
        self.loop.call_soon_threadsafe(self.done.set)
        self.main.result(timeout=30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        self.loop.close()

    async def _hold(self) -> None:
        self.done = asyncio.Event()
        s = self.daemon.settings
        link = mcp_server.HiveLink(s.agent_socket(self.agent))
        server = mcp_server.build_server(
            mcp_server.HiveTools(link, manager=self.agent == "manager", etc_dir=self.etc)
        )
        try:
            async with Client(server) as session:
                self.session = session
                listed = await session.list_tools()
                self.tools = {t.name: t.input_schema for t in listed.tools}
                self.ready.set_result(None)
                await self.done.wait()
        except BaseException as exc:
            if not self.ready.done():
                self.ready.set_exception(exc)
            raise
        finally:
            await link.close()

    def run(self, coro: Awaitable[T], timeout: float = 30.0) -> T:
        return asyncio.run_coroutine_threadsafe(_wrap(coro), self.loop).result(timeout)

    def call(self, tool: str, args: dict[str, Any]) -> tuple[bool, str]:
        assert self.session is not None
        result = self.run(self.session.call_tool(tool, args))
        text = "\n".join(getattr(c, "text", "") for c in result.content)
        return bool(result.is_error), text


async def _wrap(coro: Awaitable[T]) -> T:
    return await coro


@pytest.fixture(scope="module", params=["alice", "manager"])
def mcp(
    request: pytest.FixtureRequest, daemon: DaemonProcess, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[McpSession]:
    etc = tmp_path_factory.mktemp("etc")
    with McpSession(daemon, request.param, etc) as session:
        yield session


def _bad_name(name: object) -> bool:
    with contextlib.suppress(Exception):
        validate_agent_name(name, allow_manager=True)
        return False
    return True


def arguments(schema: dict[str, Any], acting: bool) -> st.SearchStrategy[dict[str, Any]]:
    """Arguments for a tool with input ``schema``: any value for any property, plus junk."""
    props = sorted(schema.get("properties", {}))

    @st.composite
    def build(draw: st.DrawFn) -> dict[str, Any]:
        args: dict[str, Any] = {}
        for prop in props:
            if draw(st.integers(0, 4)):
                args[prop] = draw(json_values)
        if not draw(st.integers(0, 5)):
            args[draw(st.text(max_size=10))] = draw(json_values)
        if acting:  # a valid name would start or stop a real agent
            args["name"] = draw(json_values.filter(_bad_name))
        if isinstance(args.get("wait_seconds"), int | float) and args["wait_seconds"] > 0:
            args["wait_seconds"] = 0  # no long polls
        return args

    return build()


def fuzz(mcp: McpSession, tool: str, schema: dict[str, Any]) -> None:
    """Call ``tool`` with hostile arguments; every answer must be a readable tool result."""

    @settings(max_examples=15 * SCALE)
    @given(args=arguments(schema, tool in ACTING))
    def run(args: dict[str, Any]) -> None:
        error, text = mcp.call(tool, args)
        assert text, f"{tool} answered nothing for {args!r}"
        assert "Traceback" not in text
        if error:
            assert "internal error" not in text, text

    run()


def test_every_mcp_tool_answers_hostile_arguments_with_a_tool_result(
    mcp: McpSession, daemon: DaemonProcess
) -> None:
    assert "send" in mcp.tools and "whoami" in mcp.tools
    for tool, schema in sorted(mcp.tools.items()):
        fuzz(mcp, tool, schema)
        error, text = mcp.call("whoami", {})
        assert not error and f"name: {mcp.agent}" in text, text
    assert_no_invalid_state(daemon)
