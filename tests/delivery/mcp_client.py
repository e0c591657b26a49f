"""An MCP SDK client in its own process, for tests that kill it mid-call.

``python -m tests.delivery.mcp_client``: starts the hyperhive MCP server on stdio
(``$HYPERHIVE_SOCKET`` names the agent's hive.sock), then calls ``recv(wait_seconds=20)``
and prints ``calling`` first.
"""

from __future__ import annotations

import asyncio
import os
import sys

from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client


def server_params() -> StdioServerParameters:
    args = ["-m", "hyperhive.agent.mcp_server"]
    return StdioServerParameters(command=sys.executable, args=args, env=dict(os.environ))


async def main() -> None:
    async with stdio_client(server_params()) as (read, write):
        async with ClientSession(read, write) as session:
            await session.initialize()
            print("calling", flush=True)
            await session.call_tool("recv", {"wait_seconds": 20})
            print("returned", flush=True)


if __name__ == "__main__":
    asyncio.run(main())
