"""An MCP client session on the hyperhive MCP server, in this process, reached in memory."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from mcp.client import Client

from hyperhive.agent.mcp_server import HiveLink, HiveTools, build_server
from hyperhive.core.hive import Hive


@asynccontextmanager
async def session_on(
    hive: Hive, name: str, etc: Path, *, manager: bool | None = None
) -> AsyncIterator[Any]:
    """An MCP client session for ``name``: the server in this process, reached in memory."""
    if hive.agents.find(name) is None:
        await hive.create_agent(name)
    link = HiveLink(hive.settings.agent_socket(name))
    is_manager = name == "manager" if manager is None else manager
    server = build_server(HiveTools(link, manager=is_manager, etc_dir=etc))
    try:
        async with Client(server) as session:
            yield session
    finally:
        await link.close()


def text_of(result: Any) -> str:
    return "\n".join(getattr(c, "text", "") for c in result.content)


async def call(session: Any, tool: str, **args: Any) -> tuple[bool, str]:
    result = await session.call_tool(tool, args)
    return bool(result.is_error), text_of(result)


def write_allow(etc: Path, names: list[str]) -> None:
    etc.mkdir(parents=True, exist_ok=True)
    (etc / "send-allow.json").write_text(json.dumps(names))
