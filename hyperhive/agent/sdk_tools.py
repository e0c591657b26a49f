"""hyperhive's MCP tools served in the harness process, through the Claude Agent SDK.

A thin adapter: the tool table stays in `hyperhive.agent.mcp_server` (`build_server`),
and the SDK serves that very server to the CLI over its control channel
(``create_sdk_mcp_server``'s transport, fed a ready ``mcp`` server). No relay process,
no socket, no "still connecting" race: the tools are there when the session starts.
They are a convenience; the daemon still decides every call.

The server is built the first time a turn needs it (`ToolServer`): importing ``mcp``
costs ~1 s and ~25 MB, which an idle harness never pays.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hyperhive.agent.hive_tools import HiveLink, HiveTools

SERVER_NAME = "hyperhive"


class ToolServer:
    """The agent's MCP tool server over ``hive_tools``, built on first use (`served`)."""

    def __init__(self, hive_tools: HiveTools) -> None:
        self.hive_tools = hive_tools
        self._server: Any = None

    @property
    def built(self) -> bool:
        return self._server is not None

    def get(self) -> Any:
        """The ``MCPServer`` (built now if it was not)."""
        if self._server is None:
            from hyperhive.agent.mcp_server import build_server

            self._server = build_server(self.hive_tools)
        return self._server


def served(server: Any) -> Any:
    """The MCP server object behind ``server`` (a `ToolServer`, or an ``mcp`` server)."""
    return server.get() if isinstance(server, ToolServer) else server


def lowlevel(server: Any) -> Any:
    """The low-level ``mcp.server.Server`` of ``server`` (a `ToolServer`, an ``MCPServer``
    or one already)."""
    server = served(server)
    inner = getattr(server, "_lowlevel_server", None)
    return inner if inner is not None else server


def sdk_server_config(server: Any) -> Any:
    """The SDK's ``mcp_servers`` entry that serves ``server`` in this process."""
    from claude_agent_sdk import McpSdkServerConfig

    return McpSdkServerConfig(type="sdk", name=SERVER_NAME, instance=lowlevel(server))


def hive_server(socket: Path, *, manager: bool, etc_dir: Path) -> tuple[ToolServer, HiveLink]:
    """The agent's tool server on ``socket`` and its `HiveLink` (close it when done)."""
    link = HiveLink(socket)
    return ToolServer(HiveTools(link, manager=manager, etc_dir=etc_dir)), link
