"""The driver protocol: what the harness needs from an agent CLI to run one turn per wake-up.

The harness calls `Driver.check` before it starts (and after a failure) to learn whether
the driver can run at all, then `Driver.run_turn` once per wake prompt. A driver never
raises for a failure of the agent CLI or the model API: it returns a `TurnResult` whose
`ExitClass` tells the harness what to do next.

| exit class      | meaning, and what the harness is expected to do                    |
|-----------------|--------------------------------------------------------------------|
| ok              | ack the message, write the turn's stats                            |
| compact_retry   | same as ok; the context was compacted and the turn retried once    |
| failed          | show ``error``; the message is requeued                            |
| rate_limited    | show it, wait ``retry_after_s``, requeue the message               |
| needs_login     | agent state ``needs_login``, message requeued, wait for the login  |
| cancelled       | the operator stopped the turn                                      |
| driver_missing  | the CLI is not installed; nothing can run                          |

Events passed to ``on_event`` are small JSON-safe dicts. Every one has ``type``; the
shapes a driver emits:

* ``{"type": "text", "text"}`` — model text (truncated)
* ``{"type": "thinking", "text"}`` — model thinking (truncated)
* ``{"type": "tool_use", "tool", "id", "input"}`` — a tool call, input values truncated
* ``{"type": "tool_result", "id", "is_error", "text"}`` — what the tool returned
* ``{"type": "system", "subtype", ...}`` — CLI notices (``init``, ``api_retry``, ``status``)
* ``{"type": "result", "subtype", "is_error", "text", "duration_ms", "cost_usd", "num_turns"}``
* ``{"type": "driver", "subtype", "text"}`` — the driver's own steps and notices
  (``compact``, ``retry``, ``timeout``, ``exit`` without a result, ``stdout`` not JSON)
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from hyperhive.core.models import ExitClass


@dataclass(frozen=True)
class TurnResult:
    """The outcome of one turn: exit class, counts and usage.

    Usage, cost and duration come from the CLI's own end-of-run report (summed over the
    CLI runs of the turn when a compaction retried it), never from adding up the
    transcript. ``messages_sent`` lists the recipients of successful
    ``mcp__hyperhive__send`` calls, in order. ``retry_after_s`` is set when the turn was
    rate limited: how long the harness should wait before the next attempt.
    """

    exit_class: ExitClass
    duration_ms: float = 0.0
    tool_calls: int = 0
    tools: dict[str, int] = field(default_factory=dict)
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_creation_tokens: int = 0
    cost_usd: float = 0.0
    num_turns: int = 0
    error: str = ""
    permission_denials: list[str] = field(default_factory=list)
    messages_sent: list[str] = field(default_factory=list)
    retry_after_s: float = 0.0
    session_id: str = ""


OnEvent = Callable[[dict[str, Any]], Awaitable[None]]
"""Receives every event of a turn as a small dict; it must not raise."""


class Driver(Protocol):
    """One agent CLI, driven one turn at a time."""

    async def check(self) -> tuple[ExitClass | None, str]:
        """Return ``(None, detail)`` when ready, else ``(DRIVER_MISSING | NEEDS_LOGIN, reason)``."""
        ...

    async def run_turn(
        self, prompt: str, *, on_event: OnEvent, new_session: bool = False
    ) -> TurnResult:
        """Run one turn for ``prompt``; ``new_session`` starts a fresh conversation."""
        ...

    def cancel(self) -> None:
        """Stop the running turn (operator request); it ends with `ExitClass.CANCELLED`."""
        ...
