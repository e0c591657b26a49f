"""One warm Claude Code session: a `ClaudeSDKClient` kept between turns, and the pool of them.

`WarmSession` wraps a connected client: `ask` sends one prompt and yields the CLI's
stream-json events as the CLI wrote them (the SDK's parsed classes drop fields we fold,
such as ``terminal_reason``), up to and including the ``result`` event. `WarmPool` caps
how many sessions stay warm in this process, closing the least recently used first.
See docs/claude.md ("Sessions").
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from collections.abc import AsyncIterator
from typing import Any

logger = logging.getLogger(__name__)

_STDERR_LIMIT = 16 * 1024
_CLOSE_TIMEOUT = 30.0


class SessionGone(Exception):
    """The CLI of a session exited or its stream broke; ``stderr`` holds its last words."""

    def __init__(self, message: str, stderr: str = "") -> None:
        super().__init__(message)
        self.stderr = stderr


class WarmSession:
    """A connected `ClaudeSDKClient` with the bookkeeping one turn after another needs."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.session_id = ""
        self.model = ""  # the model the CLI runs (set_model switches it in place)
        self.last_used = time.monotonic()
        self.busy = False
        self.closed = False
        self._stderr = ""
        self._cost_base = 0.0  # the CLI reports its cost summed over the whole process

    @classmethod
    async def connect(cls, options: Any) -> WarmSession:
        """Start the CLI with ``options`` and wait for its handshake.

        Raises:
            claude_agent_sdk.CLIConnectionError: the CLI did not start or answer.
        """
        from claude_agent_sdk import ClaudeSDKClient

        holder: list[WarmSession] = []

        def stderr(line: str) -> None:
            if holder:
                holder[0].note_stderr(line)

        client = ClaudeSDKClient(_with_stderr(options, stderr))
        session = cls(client)
        holder.append(session)
        await client.connect()
        return session

    @property
    def alive(self) -> bool:
        """False once the CLI has exited (or the session was closed)."""
        if self.closed:
            return False
        process = getattr(getattr(self.client, "_transport", None), "_process", None)
        return process is not None and process.returncode is None

    def note_stderr(self, line: str) -> None:
        self._stderr = (self._stderr + line + "\n")[-_STDERR_LIMIT:]

    @property
    def stderr(self) -> str:
        return self._stderr

    async def ask(self, prompt: str) -> AsyncIterator[dict[str, Any]]:
        """Send ``prompt``; yield every event of its answer, ending with the result event.

        Raises:
            SessionGone: the CLI exited or its stream broke before the result.
        """
        self.busy = True
        self.last_used = time.monotonic()
        try:
            try:
                await self.client.query(prompt)
            except Exception as exc:  # the SDK's CLIConnectionError: stdin is gone
                raise SessionGone(f"the Claude session is gone: {exc}", self._stderr) from exc
            async for event in self._events():
                if event.get("type") == "result":
                    event = self._per_turn(event)
                    self.session_id = str(event.get("session_id") or self.session_id)
                    yield event
                    return
                if event.get("type") == "system" and event.get("subtype") == "init":
                    self.session_id = str(event.get("session_id") or self.session_id)
                yield event
            raise SessionGone("the Claude CLI exited without a result", self._stderr)
        finally:
            self.busy = False
            self.last_used = time.monotonic()

    async def _events(self) -> AsyncIterator[dict[str, Any]]:
        # The unparsed stream: every field the CLI sends, whatever this SDK version models.
        query = self.client._query
        if query is None:
            raise SessionGone("the Claude session is not connected", self._stderr)
        try:
            async for event in query.receive_messages():
                if isinstance(event, dict):
                    yield event
        except Exception as exc:  # ProcessError, ResultError, a decode error: the CLI is gone
            self.closed = True
            raise SessionGone(f"the Claude CLI stopped: {exc}", self._stderr) from exc

    def _per_turn(self, event: dict[str, Any]) -> dict[str, Any]:
        total = float(event.get("total_cost_usd") or 0.0)
        turn_cost = max(total - self._cost_base, 0.0)
        self._cost_base = total
        return {**event, "total_cost_usd": turn_cost}

    async def interrupt(self) -> None:
        """Ask the CLI to stop the running turn; it still ends it with a result event."""
        await self.client.interrupt()

    async def close(self) -> None:
        """Disconnect: the CLI's stdin closes and it exits (killed if it lingers)."""
        if self.closed and self.client._query is None:
            return
        self.closed = True
        try:
            async with asyncio.timeout(_CLOSE_TIMEOUT):
                await self.client.disconnect()
        except Exception:  # closing must never fail the caller
            logger.warning("closing a Claude session failed", exc_info=True)

    def kill(self) -> None:
        """SIGKILL the CLI at once (a turn that ignores its interrupt)."""
        self.closed = True
        transport = getattr(self.client, "_transport", None)
        process = getattr(transport, "_process", None)
        if process is not None and process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.kill()


def _with_stderr(options: Any, stderr: Any) -> Any:
    from dataclasses import replace

    return replace(options, stderr=stderr)


class WarmPool:
    """The warm sessions of this process, most recently used last, at most ``cap`` of them.

    Each harness is its own process, so the cap bounds one agent's sessions (its turn
    session and its notes session); the host-wide bound is the idle close. ``cap=0``:
    no limit.
    """

    def __init__(self, cap: int = 4) -> None:
        self.cap = cap
        self._sessions: OrderedDict[int, WarmSession] = OrderedDict()

    def __len__(self) -> int:
        return len(self._sessions)

    def touch(self, session: WarmSession) -> list[WarmSession]:
        """Mark ``session`` used now; return the idle ones to close to stay under the cap."""
        self._sessions[id(session)] = session
        self._sessions.move_to_end(id(session))
        evict: list[WarmSession] = []
        if self.cap <= 0:
            return evict
        for key, other in list(self._sessions.items()):
            if len(self._sessions) <= self.cap:
                break
            if other is session or other.busy:
                continue
            del self._sessions[key]
            evict.append(other)
        return evict

    def forget(self, session: WarmSession) -> None:
        self._sessions.pop(id(session), None)


POOL = WarmPool()
