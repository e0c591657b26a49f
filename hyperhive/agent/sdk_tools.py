"""hyperhive's MCP tools served in the harness process, through the Claude Agent SDK.

A thin adapter: the tool table stays in `hyperhive.agent.mcp_server` (`build_server`),
and the SDK serves that very server to the CLI over its control channel
(``create_sdk_mcp_server``'s transport, fed a ready ``mcp`` server). No relay process,
no socket, no "still connecting" race: the tools are there when the session starts.
They are a convenience; the daemon still decides every call.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

SERVER_NAME = "hyperhive"


def lowlevel(server: Any) -> Any:
    """The low-level ``mcp.server.Server`` of ``server`` (an ``MCPServer`` or one already)."""
    inner = getattr(server, "_lowlevel_server", None)
    return inner if inner is not None else server


def sdk_server_config(server: Any) -> Any:
    """The SDK's ``mcp_servers`` entry that serves ``server`` in this process."""
    from claude_agent_sdk import McpSdkServerConfig

    return McpSdkServerConfig(type="sdk", name=SERVER_NAME, instance=lowlevel(server))


def hive_server(socket: Path, *, manager: bool, etc_dir: Path) -> tuple[Any, Any]:
    """The agent's tool server on ``socket`` and its `HiveLink` (close it when done)."""
    from hyperhive.agent.mcp_server import HiveLink, HiveTools, build_server

    link = HiveLink(socket)
    return build_server(HiveTools(link, manager=manager, etc_dir=etc_dir)), link
