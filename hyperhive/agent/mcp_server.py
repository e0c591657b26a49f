"""The ``hyperhive`` MCP server: the agent's tools, each forwarded to its hive.sock.

Every tool answers in plain text. Every failure (a refusal, bad arguments, a daemon
error, a daemon that is gone) is an MCP tool error with a readable message; the server
keeps running. The server lives in the harness process: the Agent SDK serves it to
Claude Code (`hyperhive.agent.sdk_tools`) and the scripted driver calls it in memory;
``python -m hyperhive.agent.mcp_server`` (``hyperhive agent mcp``) runs it on stdio by
itself.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
import time
from pathlib import Path
from typing import Annotated, Any

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import Field

from hyperhive.agent.config import (
    DEFAULT_ETC,
    DEFAULT_SOCKET,
    ENV_ETC,
    ENV_ROLE,
    ENV_SOCKET,
    read_send_allow,
)
from hyperhive.core.client import HiveClient
from hyperhive.core.errors import DaemonUnavailable, HyperhiveError, ProtocolError, Refused
from hyperhive.core.settings import BROADCAST, MANAGER, OPERATOR, SYSTEM

logger = logging.getLogger(__name__)

SERVER_NAME = "hyperhive"
AGENT_TOOLS = ("send", "recv", "ask_operator", "whoami")
MANAGER_TOOLS = (
    "request_spawn",
    "request_spawn_draft",
    "request_spawn_commit",
    "request_apply_commit",
    "kill",
    "start",
    "restart",
    "update",
    "list_agents",
)


class HiveLink:
    """The MCP server's connection to the agent's hive.sock, reconnected when it breaks."""

    def __init__(self, socket: Path) -> None:
        self.socket = socket
        self._client: HiveClient | None = None
        self._lock = asyncio.Lock()

    async def _connected(self) -> HiveClient:
        async with self._lock:
            if self._client is not None and self._client.closed:
                await self._client.close()
                self._client = None
            if self._client is None:
                self._client = await HiveClient.connect(self.socket, timeout=5)
            return self._client

    async def call(self, method: str, **params: Any) -> Any:
        """Call ``method`` as this agent; raise the daemon's error (or `DaemonUnavailable`)."""
        client = await self._connected()
        try:
            return await client.call(method, **params)
        except DaemonUnavailable:
            await self.close()
            raise

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.close()


def check_send_allowed(to: str, *, manager: bool, etc_dir: Path) -> None:
    """Refuse ``to`` unless ``send-allow.json`` lists it (the manager is always allowed).

    Raises:
        Refused: the recipient is not on the allow-list, or the list cannot be read.
    """
    if manager or to == MANAGER:
        return
    try:
        allowed = read_send_allow(etc_dir)
    except HyperhiveError as exc:
        raise Refused(
            f"cannot check your send allow-list ({exc.message}); send it to the manager instead"
        ) from exc
    if not allowed or to in allowed:
        return
    who = "everyone ('*')" if to == BROADCAST else repr(to)
    raise Refused(
        f"you may not message {who} directly: your allow-list is {', '.join(allowed)}. "
        f"Route it through the manager: send(to='manager', body=...) saying who it is for."
    )


def sender_class(sender: str) -> str:
    """operator, manager, system or peer."""
    if sender in (OPERATOR, MANAGER, SYSTEM):
        return sender
    return "peer"


def format_message(m: dict[str, Any]) -> str:
    """One message as the model reads it."""
    head = f"#{m['id']} from {m['sender']} ({sender_class(str(m['sender']))})"
    if m.get("in_reply_to"):
        head += f", reply to #{m['in_reply_to']}"
    if m.get("redelivered"):
        head += " [redelivered: a previous turn failed with it, it may already be handled]"
    return f"{head}:\n{m['body']}"


def _pretty(result: Any) -> str:
    return json.dumps(result, indent=1, sort_keys=True, default=str)


def _approval_text(result: Any) -> str:
    if isinstance(result, dict) and "id" in result:
        what = " ".join(str(result[k]) for k in ("kind", "agent") if result.get(k))
        status = result.get("status", "pending")
        return (
            f"approval #{result['id']} ({what}) is {status}. The operator decides in the TUI; "
            "a system message tells you the outcome. Do not wait for it in this turn.\n"
            + _pretty(result)
        )
    return _pretty(result)


def _agent_text(name: str, verb: str, result: Any) -> str:
    state = result.get("state") if isinstance(result, dict) else None
    if state:
        return f"{verb} {name}: its state is now {state}"
    return f"{verb} {name}: done\n{_pretty(result)}"


class HiveTools:
    """The tool implementations, independent of MCP (the server wraps each one)."""

    def __init__(self, link: HiveLink, *, manager: bool, etc_dir: Path) -> None:
        self.link = link
        self.manager = manager
        self.etc_dir = etc_dir

    async def call(self, tool: str, method: str, **params: Any) -> Any:
        """Forward to the daemon; every error becomes a `ToolError` with readable text."""
        try:
            return await self.link.call(method, **params)
        except DaemonUnavailable as exc:
            raise ToolError(
                f"{tool}: the hyperhive daemon is not reachable right now ({exc.message}); "
                "try again in a moment"
            ) from exc
        except ProtocolError as exc:
            hint = " (only the manager has this tool)" if "unknown method" in exc.message else ""
            raise ToolError(f"{tool}: {exc.message}{hint}") from exc
        except HyperhiveError as exc:
            raise ToolError(f"{tool}: {exc.message}") from exc

    async def send(self, to: str, body: str, in_reply_to: int | None = None) -> str:
        to = to.strip()
        if not to:
            raise ToolError("send: 'to' is empty: name an agent, 'manager', 'operator' or '*'")
        try:
            check_send_allowed(to, manager=self.manager, etc_dir=self.etc_dir)
        except Refused as exc:
            raise ToolError(f"send refused: {exc.message}") from exc
        result = await self.call("send", "messages.send", to=to, body=body, in_reply_to=in_reply_to)
        ids = ", ".join(f"#{i}" for i in result.get("ids", []))
        return f"sent {ids} to {', '.join(result.get('recipients', [to]))}"

    async def recv(self, wait_seconds: float = 0, max: int = 1) -> str:
        result = await self.call(
            "recv", "messages.recv", wait_seconds=float(wait_seconds), max=int(max)
        )
        messages = result.get("messages", [])
        pending = int(result.get("pending", 0))
        if not messages:
            return "(empty)" + (f" — {pending} pending" if pending else "")
        text = "\n\n".join(format_message(m) for m in messages)
        if pending:
            text += f"\n\n({pending} more pending: call recv again to take them)"
        return text

    async def ask_operator(
        self,
        question: str,
        options: list[str] | None = None,
        multi: bool = False,
        ttl_seconds: int | None = None,
    ) -> str:
        params: dict[str, Any] = {"question": question, "options": options or [], "multi": multi}
        if ttl_seconds is not None:
            params["ttl_seconds"] = ttl_seconds
        result = await self.call("ask_operator", "questions.ask", **params)
        qid = result.get("id") if isinstance(result, dict) else None
        return (
            f"question #{qid} is queued for the operator. The answer arrives later as a "
            "message from system; do not wait for it in this turn — finish what you can "
            "and end the turn."
        )

    async def whoami(self) -> str:
        me = await self.call("whoami", "agent.whoami")
        lines = [f"{k}: {me[k]}" for k in sorted(me) if me[k] not in (None, "")]
        return "\n".join(lines)

    async def list_agents(self) -> str:
        result = await self.call("list_agents", "agents.list")
        rows = []
        for a in result.get("agents", []):
            last = a.get("last_turn_at")
            ago = f"{int(time.time() - last)}s ago" if last else "never"
            reason = f" ({a['state_reason']})" if a.get("state_reason") else ""
            rows.append(
                f"{a['name']}: {a['role']}, {a['state']}{reason}, inbox {a.get('inbox', 0)}, "
                f"last turn {ago}, applied {(a.get('applied_sha') or '-')[:12]}"
            )
        return "\n".join(rows) or "(no agents)"

    async def approval(self, tool: str, method: str, **params: Any) -> str:
        return _approval_text(await self.call(tool, method, **params))

    async def lifecycle(self, tool: str, name: str) -> str:
        result = await self.call(tool, f"lifecycle.{tool}", name=name)
        return _agent_text(name, tool, result)


Name = Annotated[str, Field(description="agent name: 1-9 chars, a-z 0-9 '-', starts a-z")]
CommitRef = Annotated[
    str, Field(description="full or abbreviated (7-40 hex) commit sha; not a branch or tag")
]


def build_server(tools: HiveTools) -> MCPServer[Any]:
    """The MCP server with the agent's tools, and the manager's when ``tools.manager``."""
    server: MCPServer[Any] = MCPServer(
        SERVER_NAME,
        instructions=(
            "hyperhive: talk to the other agents, the manager and the operator. "
            "Use recv with a wait instead of sleeping; never wait inline for an answer."
        ),
        log_level="WARNING",
    )

    def tool(description: str) -> Any:
        return server.tool(description=description, structured_output=False)

    @tool(
        "Send a message to another agent (by name), to 'manager', to 'operator' (the human), "
        "or to '*' (every other agent). Bodies are capped at 4 KiB: for more, write a file "
        "under /state and send its path. If the allow-list refuses a recipient, send it to "
        "the manager and say who it is for. Pass in_reply_to=<message id> when answering."
    )
    async def send(
        to: Annotated[str, Field(description="recipient: agent name, manager, operator or *")],
        body: Annotated[str, Field(description="the message text (≤ 4 KiB)")],
        in_reply_to: Annotated[
            int | None, Field(description="id of the message this answers")
        ] = None,
    ) -> str:
        return await tools.send(to, body, in_reply_to)

    @tool(
        "Take messages from your inbox. wait_seconds=0 (the default) returns at once; a "
        "positive wait (up to 180) blocks until a message arrives — use it instead of "
        "sleeping or polling in a loop. max (1-32) is how many to take at once. Returns "
        "'(empty)' when nothing came."
    )
    async def recv(
        wait_seconds: Annotated[float, Field(description="seconds to wait, 0-180")] = 0,
        max: Annotated[int, Field(description="how many messages to take, 1-32")] = 1,
    ) -> str:
        return await tools.recv(wait_seconds, max)

    @tool(
        "Ask the human operator a question. Returns a question id at once; the answer "
        "arrives later as a message from 'system' in a later turn, so do not wait or poll "
        "for it now. options: choices to pick from; multi: allow several; ttl_seconds: the "
        "question expires after this (at most 6 hours)."
    )
    async def ask_operator(
        question: Annotated[str, Field(description="the question, self-contained")],
        options: Annotated[
            list[str] | None, Field(description="choices the operator picks from")
        ] = None,
        multi: Annotated[bool, Field(description="allow picking several options")] = False,
        ttl_seconds: Annotated[
            int | None, Field(description="expire the question after this many seconds")
        ] = None,
    ) -> str:
        return await tools.ask_operator(question, options, multi, ttl_seconds)

    @tool("Your own name, role, state, incarnation, applied config sha and inbox depth.")
    async def whoami() -> str:
        return await tools.whoami()

    if not tools.manager:
        return server

    @tool(
        "Ask the operator to create agent `name` with the default config in one step. "
        "Returns an approval id; a system message tells you when it is decided. Prefer "
        "request_spawn_draft when the new agent needs its own prompt or settings."
    )
    async def request_spawn(name: Name) -> str:
        return await tools.approval("request_spawn", "approvals.request_spawn", name=name)

    @tool(
        "Two-step spawn, step 1: ask the operator for a proposed config repo for a new agent "
        "`name`, without a container. Once approved, edit /agents/<name>/config (agent.toml, "
        "prompt.md), git commit, then call request_spawn_commit with the sha."
    )
    async def request_spawn_draft(name: Name) -> str:
        return await tools.approval(
            "request_spawn_draft", "approvals.request_spawn_draft", name=name
        )

    @tool(
        "Two-step spawn, step 2: ask the operator to create agent `name` from commit "
        "`commit_ref` of /agents/<name>/config. The commit is pinned at once: later edits "
        "change nothing."
    )
    async def request_spawn_commit(name: Name, commit_ref: CommitRef) -> str:
        return await tools.approval(
            "request_spawn_commit",
            "approvals.request_spawn_commit",
            name=name,
            commit_ref=commit_ref,
        )

    @tool(
        "Ask the operator to deploy a config change of an existing agent (yourself too: "
        "'manager'). Commit in /agents/<agent>/config first, explaining the change in the "
        "commit message; `commit_ref` is pinned at once and tagged proposal/<id>. The "
        "operator sees the full diff and approves or denies."
    )
    async def request_apply_commit(
        agent: Annotated[str, Field(description="the agent whose config changes")],
        commit_ref: CommitRef,
    ) -> str:
        return await tools.approval(
            "request_apply_commit",
            "approvals.request_apply_commit",
            agent=agent,
            commit_ref=commit_ref,
        )

    @tool("Stop agent `name` (no approval needed). Its state and inbox are kept.")
    async def kill(name: Name) -> str:
        return await tools.lifecycle("kill", name)

    @tool("Start a stopped agent `name` (no approval needed).")
    async def start(name: Name) -> str:
        return await tools.lifecycle("start", name)

    @tool("Stop and start agent `name` (no approval needed).")
    async def restart(name: Name) -> str:
        return await tools.lifecycle("restart", name)

    @tool(
        "Rebuild agent `name` from its current applied config and restart it (no approval "
        "needed): use it when the agent is flagged stale or after a hyperhive upgrade."
    )
    async def update(name: Name) -> str:
        return await tools.lifecycle("update", name)

    @tool("Every agent with its role, state, inbox depth, last turn and applied config sha.")
    async def list_agents() -> str:
        return await tools.list_agents()

    return server


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
