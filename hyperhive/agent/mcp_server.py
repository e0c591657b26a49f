"""The ``hyperhive`` MCP server: the agent's tools (`hive_tools.TOOLS`), served over MCP.

Every tool answers in plain text. Every failure (a refusal, bad arguments, a daemon
error, a daemon that is gone) is an MCP tool error with a readable message; the server
keeps running. Arguments are checked against the tool's JSON schema before anything
reaches the daemon. The server lives in the harness process: the Agent SDK serves it to
Claude Code (`hyperhive.agent.sdk_tools`) and the scripted driver calls it in memory;
``python -m hyperhive.agent.mcp_server`` (``hyperhive agent mcp``) runs it on stdio by
itself.

A tool call the client cancels (``notifications/cancelled``) or abandons (the session
ends) is cancelled here, and through `HiveLink` at the daemon too.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from pathlib import Path
from typing import Any

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
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
from hyperhive.agent.tool_specs import AGENT_TOOLS, MANAGER_TOOLS, ToolSpec, run_tool, tools_for
from hyperhive.core.errors import HyperhiveError
from hyperhive.core.names import MANAGER

__all__ = [
    "AGENT_TOOLS",
    "MANAGER_TOOLS",
    "HiveLink",
    "HiveTools",
    "build_server",
    "check_send_allowed",
    "format_message",
    "sender_class",
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


# --- standalone -------------------------------------------------------------------------


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
