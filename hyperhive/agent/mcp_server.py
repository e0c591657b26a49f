"""The ``hyperhive`` MCP server: the agent's tools (`hive_tools.TOOLS`), served over MCP.

Every tool answers in plain text. Every failure (a refusal, bad arguments, a daemon
error, a daemon that is gone) is an MCP tool error with a readable message; the server
keeps running. Arguments are checked against the tool's JSON schema before anything
reaches the daemon. The server lives in the harness process and is reached per turn
through `hyperhive.agent.mcp_relay` (importing the MCP SDK takes about a second, and the
agent CLI starts its MCP servers at every turn); ``python -m hyperhive.agent.mcp_server``
runs it on stdio by itself.

A tool call the client cancels (``notifications/cancelled``) or abandons (the session
ends) is cancelled here, and through `HiveLink` at the daemon too.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.stdio import stdio_server
from mcp_types import CallToolResult, TextContent
from mcp_types import Tool as McpTool

import hyperhive
from hyperhive.agent.config import DEFAULT_ETC, DEFAULT_SOCKET, ENV_ETC, ENV_ROLE, ENV_SOCKET
from hyperhive.agent.hive_tools import (
    HiveLink,
    HiveTools,
    ToolFailure,
    check_send_allowed,
    format_message,
    sender_class,
)
from hyperhive.agent.mcp_socket import serve_sessions
from hyperhive.agent.tool_specs import AGENT_TOOLS, MANAGER_TOOLS, ToolSpec, run_tool, tools_for
from hyperhive.core.errors import HyperhiveError
from hyperhive.core.settings import MANAGER

__all__ = [
    "AGENT_TOOLS",
    "MANAGER_TOOLS",
    "HiveLink",
    "HiveTools",
    "build_server",
    "check_send_allowed",
    "format_message",
    "sender_class",
    "serve_unix",
]

logger = logging.getLogger(__name__)

SERVER_NAME = "hyperhive"


class HiveMcpServer(MCPServer[Any]):
    """An MCP server whose tools come from the `tool_specs` table, schemas as written there."""

    def __init__(self, tools: HiveTools) -> None:
        super().__init__(
            SERVER_NAME,
            version=hyperhive.__version__,
            instructions=(
                "hyperhive: talk to the other agents, the manager and the operator. "
                "Use recv with a wait instead of sleeping; never wait inline for an answer."
            ),
            log_level="WARNING",
        )
        self.hive_tools = tools
        self.specs: dict[str, ToolSpec] = tools_for(manager=tools.manager)

    async def list_tools(self) -> list[McpTool]:
        return [
            McpTool(name=s.name, description=s.description, input_schema=s.schema)
            for s in self.specs.values()
        ]

    def _tool_input_schema(self, name: str) -> dict[str, Any] | None:
        spec = self.specs.get(name)
        return None if spec is None else spec.schema

    async def call_tool(
        self, name: str, arguments: dict[str, Any], context: Any = None
    ) -> CallToolResult:
        spec = self.specs.get(name)
        if spec is None:
            raise ToolError(f"unknown tool {name!r}")
        try:
            text = await run_tool(spec, self.hive_tools, arguments)
        except ToolFailure as exc:
            raise ToolError(str(exc)) from exc
        return CallToolResult(content=[TextContent(type="text", text=text)])


def build_server(tools: HiveTools) -> MCPServer[Any]:
    """The MCP server with the agent's tools, and the manager's when ``tools.manager``."""
    return HiveMcpServer(tools)


# --- transports ------------------------------------------------------------------------


class _LinesIn:
    """An async iterator of text lines over a socket, as `stdio_server` reads stdin."""

    def __init__(self, reader: asyncio.StreamReader) -> None:
        self._reader = reader

    def __aiter__(self) -> _LinesIn:
        return self

    async def __anext__(self) -> str:
        try:
            line = await self._reader.readline()
        except (ValueError, ConnectionError) as exc:
            raise StopAsyncIteration from exc
        if not line:
            raise StopAsyncIteration
        return line.decode("utf-8", errors="replace")


class _LinesOut:
    """Text writes over a socket, as `stdio_server` writes stdout."""

    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self._writer = writer

    async def write(self, text: str) -> None:
        if not self._writer.is_closing():
            self._writer.write(text.encode())

    async def flush(self) -> None:
        with contextlib.suppress(ConnectionError):
            await self._writer.drain()


async def serve_streams(
    server: MCPServer[Any], reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    """Serve one MCP session over a byte stream of JSON-RPC lines (one relay connection)."""
    # MCPServer exposes no public way to serve arbitrary streams; run_stdio_async does this
    low = server._lowlevel_server
    try:
        async with stdio_server(_LinesIn(reader), _LinesOut(writer)) as (read, write):  # type: ignore[arg-type]
            await low.run(read, write, low.create_initialization_options())
    except Exception:  # the edge: one broken session must not take the harness down
        logger.exception("MCP session failed")
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()


@contextlib.asynccontextmanager
async def serve_unix(server: MCPServer[Any], path: Path) -> AsyncIterator[asyncio.Server]:
    """Serve MCP sessions on the unix socket ``path`` (mode 0600) until the block exits."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await serve_streams(server, reader, writer)

    async with serve_sessions(path, handle) as listener:
        yield listener


async def resolve_manager(link: HiveLink, env: dict[str, str]) -> bool:
    """Whether this is the manager: ``HYPERHIVE_ROLE``, else what the daemon says."""
    role = env.get(ENV_ROLE)
    if role:
        return role == MANAGER
    try:
        me = await link.call("agent.whoami")
    except HyperhiveError:
        return False
    return isinstance(me, dict) and me.get("role") == MANAGER


async def run_stdio(env: dict[str, str] | None = None) -> None:
    """Run the server on stdin/stdout until the client hangs up."""
    env = dict(os.environ) if env is None else env
    link = HiveLink(Path(env.get(ENV_SOCKET) or DEFAULT_SOCKET))
    try:
        manager = await resolve_manager(link, env)
        etc = Path(env.get(ENV_ETC) or DEFAULT_ETC)
        await build_server(HiveTools(link, manager=manager, etc_dir=etc)).run_stdio_async()
    finally:
        await link.close()


def main() -> int:
    """``python -m hyperhive.agent.mcp_server``: the server on stdio, by itself."""
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    try:
        asyncio.run(run_stdio())
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
