"""The in-container verbs: ``hyperhive agent serve`` (the harness) and ``hyperhive agent mcp``."""

from __future__ import annotations

import argparse

from hyperhive.commands import Context, Output, Verb


def _args(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="agent_command", metavar="SUBCOMMAND", required=True)
    sub.add_parser(
        "serve",
        help="run this agent's harness: the turn loop and its MCP server",
        description="Run the harness of the agent named by $HYPERHIVE_AGENT (inside its "
        "container, or as the process runtime starts it).",
    )
    sub.add_parser(
        "mcp",
        help="the hyperhive MCP server on stdio",
        description="Serve the hyperhive MCP tools on stdin/stdout, for an MCP client "
        "outside the harness (the harness serves them in its own process).",
    )


async def agent(ctx: Context) -> Output:
    if ctx.args.agent_command == "serve":
        from hyperhive.agent.harness import run_harness

        await run_harness()
        return None
    from hyperhive.agent.mcp_server import run_stdio

    await run_stdio()
    return None


VERBS = [
    Verb(
        "agent", "the in-container side: `agent serve` (harness), `agent mcp` (tools)", agent, _args
    ),
]
