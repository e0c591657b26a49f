"""The agent's hyperhive tools, independent of any MCP library (their table: `tool_specs`).

`HiveTools` implements each tool by calling the daemon through `HiveLink`, the tools'
connection to the agent's hive.sock: every call on it has a deadline, and a call whose
caller stops waiting is cancelled at the daemon. Every failure is a `ToolFailure` with
text the model can act on.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hyperhive.agent.config import read_send_allow
from hyperhive.core.client import HiveClient
from hyperhive.core.errors import DaemonUnavailable, HyperhiveError, ProtocolError, Refused
from hyperhive.core.names import BROADCAST, MANAGER, sender_class

BODY_BYTES = 4096  # what the send tool documents; the daemon enforces its own limit too
RECV_WAIT_MAX = 180
RECV_MAX = 32
QUESTION_BYTES = 4096
QUESTION_OPTIONS = 16
QUESTION_OPTION_CHARS = 256
QUESTION_TTL_MAX = 6 * 3600
ID_MAX = 2**63 - 1
CALL_DEADLINE = 60.0  # seconds a tool call may take, plus a recv's wait
LIFECYCLE_DEADLINE = 900.0  # start/restart/update may build a container


class ToolFailure(Exception):
    """A tool call that failed; ``str(exc)`` is what the model reads."""


class HiveLink:
    """The tools' connection to the agent's hive.sock, reconnected when it breaks."""

    def __init__(self, socket: Path, *, deadline: float = CALL_DEADLINE) -> None:
        self.socket = socket
        self.deadline = deadline
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

    async def call(self, method: str, /, deadline: float | None = None, **params: Any) -> Any:
        """Call ``method`` as this agent; raise the daemon's error (or `DaemonUnavailable`).

        No reply within ``deadline`` seconds (default `deadline`, plus a long poll's
        ``wait_seconds``) is a `DaemonUnavailable`; cancelling the call cancels it at the
        daemon, so a cancelled ``recv`` never takes a message.
        """
        client = await self._connected()
        wait = params.get("wait_seconds", 0)
        extra = float(wait) if isinstance(wait, int | float) and wait > 0 else 0.0
        limit = (self.deadline if deadline is None else deadline) + extra
        try:
            return await client.request(method, params, deadline=limit)
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
    """The tool implementations: each forwards to the daemon and answers in plain text.

    ``seen`` collects the ids of the messages `recv` handed to the model: the harness
    acknowledges exactly those (and the turn's own message) when the turn ends.
    """

    def __init__(self, link: HiveLink, *, manager: bool, etc_dir: Path) -> None:
        self.link = link
        self.manager = manager
        self.etc_dir = etc_dir
        self.seen: list[int] = []
        self.senders: list[str] = []

    def take_seen(self) -> list[int]:
        """The ids `recv` returned since the last call, oldest first; resets the list."""
        seen, self.seen = self.seen, []
        return seen

    def take_senders(self) -> list[str]:
        """The senders of the messages `recv` returned since the last call; resets the list."""
        senders, self.senders = self.senders, []
        return senders

    async def call(
        self, tool: str, method: str, deadline: float | None = None, **params: Any
    ) -> Any:
        """Forward to the daemon; every error becomes a `ToolFailure` with readable text."""
        try:
            return await self.link.call(method, deadline, **params)
        except DaemonUnavailable as exc:
            raise ToolFailure(
                f"{tool}: the hyperhive daemon is not reachable right now ({exc.message}); "
                "try again in a moment"
            ) from exc
        except ProtocolError as exc:
            hint = " (only the manager has this tool)" if "unknown method" in exc.message else ""
            raise ToolFailure(f"{tool}: {exc.message}{hint}") from exc
        except HyperhiveError as exc:
            raise ToolFailure(f"{tool}: {exc.message}") from exc

    async def send(self, to: str, body: str, in_reply_to: int | None = None) -> str:
        to = to.strip()
        if not to:
            raise ToolFailure("send: 'to' is empty: name an agent, 'manager', 'operator' or '*'")
        size = len(body.encode())
        if size > BODY_BYTES:
            raise ToolFailure(
                f"send: the body is {size} bytes; the limit is {BODY_BYTES}. Write the text "
                "to a file under /state and send its path instead."
            )
        try:
            # a friendly early error only: the daemon decides (and lets replies through)
            if in_reply_to is None:
                check_send_allowed(to, manager=self.manager, etc_dir=self.etc_dir)
        except Refused as exc:
            raise ToolFailure(f"send refused: {exc.message}") from exc
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
        self.seen.extend(int(m["id"]) for m in messages)
        self.senders.extend(str(m.get("sender", "?")) for m in messages)
        return text

    async def ask_operator(
        self,
        question: str,
        options: list[str] | None = None,
        multi: bool = False,
        ttl_seconds: int | None = None,
    ) -> str:
        size = len(question.encode())
        if size > QUESTION_BYTES:
            raise ToolFailure(
                f"ask_operator: the question is {size} bytes; the limit is {QUESTION_BYTES}"
            )
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
        result = await self.call(tool, f"lifecycle.{tool}", LIFECYCLE_DEADLINE, name=name)
        return _agent_text(name, tool, result)


Handler = Callable[[HiveTools, dict[str, Any]], Awaitable[str]]


@dataclass(frozen=True)
class ToolSpec:
    """One tool: what the model sees (name, description, JSON schema) and what it runs."""

    name: str
    description: str
    schema: dict[str, Any]
    handler: Handler
    manager_only: bool = False


def object_schema(
    required: list[str] | None = None, **properties: dict[str, Any]
) -> dict[str, Any]:
    """A JSON schema object with exactly these properties (no others accepted)."""
    return {
        "type": "object",
        "properties": properties,
        "required": required or [],
        "additionalProperties": False,
    }
