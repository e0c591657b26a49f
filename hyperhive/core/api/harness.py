"""RPC methods between the daemon and the harnesses: turn events, driver state, operator control.

The harness of each agent reports on its own socket (agent scope): ``harness.started``
once per life, ``harness.event`` for every event of a turn (stored in the events table,
published as ``turn.event``), ``harness.turn_ended`` (``turn.ended``, the agent's
``last_turn_at``) and ``harness.state`` for what the driver can or cannot do. The
operator reaches a harness through ``harness.cancel``, ``harness.new_session`` and
``harness.compact``: the daemon queues the command and the harness picks it up with its
long-poll ``harness.control``. The work is the `Turns` service in `core/turns.py`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hyperhive.core.errors import InvalidInput, NotFound
from hyperhive.core.models import UP_STATES, AgentState
from hyperhive.core.protocol import Caller, Registry, Scope, p

if TYPE_CHECKING:
    from hyperhive.core.hive import Hive


def register(reg: Registry, hive: Hive) -> None:
    turns = hive.turns

    @reg.method("harness.started", Scope.AGENT)
    async def started(caller: Caller) -> Any:
        """A harness (re)started: requeue what its previous life left in flight."""
        agent = hive.agents.get(caller.name)
        requeued = hive.broker.requeue(caller.name)
        last = await turns.harness_started(caller.name)
        limits = hive.settings.limits
        return {
            "name": agent.name,
            "role": agent.role.value,
            "incarnation": agent.incarnation,
            "requeued": requeued,
            "last_turn": last,
            "limits": {
                "recv_wait_seconds": limits.recv_wait_seconds,
                "recv_max": limits.recv_max,
                "message_body_bytes": limits.message_body_bytes,
                "notes_compact_bytes": limits.notes_compact_bytes,
            },
            "rate_limit_backoff_seconds": hive.settings.rate_limit_backoff_seconds,
            "model": hive.overrides.model_of(caller.name),
        }

    @reg.method("harness.event", Scope.AGENT, events=p(list), turn=p(int, None, default=None))
    async def event(caller: Caller, events: list[Any], turn: int | None) -> Any:
        """Store and publish a batch of turn events (each a dict with a ``type``)."""
        return {"ids": await turns.record(caller.name, turn, events)}

    @reg.method(
        "harness.turn_ended",
        Scope.AGENT,
        turn=p(int),
        exit_class=p(str),
        duration_ms=p(float, default=0.0),
        error=p(str, default=""),
        message_id=p(int, None, default=None),
    )
    async def turn_ended(
        caller: Caller,
        turn: int,
        exit_class: str,
        duration_ms: float,
        error: str,
        message_id: int | None,
    ) -> Any:
        """A turn is over: record it, publish ``turn.ended``, stamp the agent's last turn."""
        await turns.end(caller.name, turn, exit_class, duration_ms, error, message_id)
        return {"ok": True}

    @reg.method("harness.state", Scope.AGENT, state=p(str), reason=p(str, default=""))
    async def state(caller: Caller, state: str, reason: str) -> Any:
        """The driver's state as the harness sees it: running, needs_login, driver_missing,
        rate_limited (with the reason the operator sees)."""
        try:
            wanted = AgentState(state)
        except ValueError:
            wanted = None
        if wanted not in UP_STATES:
            names = ", ".join(sorted(s.value for s in UP_STATES))
            raise InvalidInput(f"harness.state: state must be one of {names}, not {state!r}")
        assert wanted is not None
        agent = hive.agents.get(caller.name)
        reason = reason[:500]
        if agent.state not in UP_STATES:
            return {"state": agent.state.value, "applied": False}
        if agent.state is not wanted or agent.state_reason != reason:
            before, agent = agent, await hive.agents.set_state(caller.name, wanted, reason)
            await hive.notices.login_changed(before, agent)  # tells the manager of a login
        return {"state": agent.state.value, "applied": True}

    @reg.method("harness.control", Scope.AGENT, wait_seconds=p(float, default=0.0))
    async def control_poll(caller: Caller, wait_seconds: float) -> Any:
        """Long-poll for operator commands (``cancel``, ``new_session``, ``compact``)."""
        return {"commands": await turns.poll(caller.name, wait_seconds)}

    @reg.method("harness.cancel", Scope.HOST, decides=True, agent=p(str))
    async def cancel(caller: Caller, agent: str) -> Any:
        """Stop the turn ``agent`` is running (its message is acknowledged, not retried)."""
        turns.queue(agent, "cancel")
        return {"agent": agent, "queued": "cancel"}

    @reg.method("harness.new_session", Scope.HOST, decides=True, agent=p(str))
    async def new_session(caller: Caller, agent: str) -> Any:
        """Start ``agent``'s next turn in a fresh conversation (no ``--continue``)."""
        turns.queue(agent, "new_session")
        return {"agent": agent, "queued": "new_session"}

    @reg.method("harness.compact", Scope.HOST, decides=True, agent=p(str))
    async def compact(caller: Caller, agent: str) -> Any:
        """Compact ``agent``'s conversation now (after the running turn, if one runs)."""
        turns.queue(agent, "compact")
        return {"agent": agent, "queued": "compact"}

    @reg.method(
        "turns.events",
        Scope.HOST,
        agent=p(str),
        limit=p(int, default=200),
        before_id=p(int, None, default=None),
    )
    async def turn_events(caller: Caller, agent: str, limit: int, before_id: int | None) -> Any:
        """Stored turn events of ``agent``, oldest first; page back with ``before_id``."""
        if hive.agents.find(agent) is None:
            raise NotFound(f"no agent named {agent!r}")
        return {"events": [ev.to_json() for ev in await turns.page(agent, limit, before_id)]}
