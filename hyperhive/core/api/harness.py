"""RPC methods between the daemon and the harnesses: turn events, driver state, operator control.

The harness of each agent reports on its own socket (agent scope): ``harness.started``
once per life, ``harness.event`` for every event of a turn (stored in the events table,
published as ``turn.event``), ``harness.turn_ended`` (``turn.ended``, the agent's
``last_turn_at``) and ``harness.state`` for what the driver can or cannot do. The
operator reaches a harness through ``harness.cancel``, ``harness.new_session`` and
``harness.compact``: the
daemon queues the command and the harness picks it up with its long-poll
``harness.control``.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from hyperhive.core.errors import InvalidInput, NotFound, Refused
from hyperhive.core.models import AgentState
from hyperhive.core.protocol import Caller, Registry, Scope, p
from hyperhive.core.store import turn_events as q

if TYPE_CHECKING:
    from hyperhive.core.hive import Hive

# States a harness may report. Lifecycle states (stopped, transient ones) belong to the
# daemon: a late report from a harness that is being stopped must not undo them.
HARNESS_STATES = frozenset(
    {
        AgentState.RUNNING,
        AgentState.NEEDS_LOGIN,
        AgentState.DRIVER_MISSING,
        AgentState.RATE_LIMITED,
    }
)
EXIT_CLASSES = frozenset(
    {"ok", "compact_retry", "failed", "rate_limited", "needs_login", "cancelled", "driver_missing"}
)
CONTROL_WAIT_MAX = 180.0
EVENT_BATCH_MAX = 500
EVENT_DATA_MAX = 8 * 1024
KIND_MAX = 40


@dataclass
class _Control:
    """Commands queued for one agent's harness, and whether it is inside a turn."""

    commands: list[dict[str, Any]] = field(default_factory=list)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    in_turn: bool = False

    def set_model(self, model: str | None) -> None:
        """Tell the harness its model from the next turn (None: its config's again)."""
        self.commands = [c for c in self.commands if c["command"] != "model"]
        self.commands.append({"command": "model", "model": model, "ts": time.time()})
        self.wake.set()

    def push(self, command: str) -> None:
        if any(c["command"] == command for c in self.commands):
            return  # one pending cancel (or new session) is as good as two
        self.commands.append({"command": command, "ts": time.time()})
        self.wake.set()


def encode_event(event: dict[str, Any]) -> tuple[str, str]:
    """``(kind, data_json)`` for one harness event, its data cut to `EVENT_DATA_MAX` bytes."""
    kind = event.get("type")
    if not isinstance(kind, str) or not kind:
        raise InvalidInput("harness.event: every event needs a 'type' string")
    kind = kind[:KIND_MAX]
    data = json.dumps(event, separators=(",", ":"), default=str)
    if len(data) > EVENT_DATA_MAX:
        data = json.dumps({"type": kind, "truncated": True, "text": data[: EVENT_DATA_MAX // 2]})
    return kind, data


def register(reg: Registry, hive: Hive) -> None:
    controls: dict[str, _Control] = {}

    def control(name: str) -> _Control:
        found = controls.get(name)
        if found is None:
            found = controls[name] = _Control()
        return found

    hive.overrides.on_model = lambda agent, model: control(agent).set_model(model)

    async def store_events(
        agent: str, turn: int | None, batch: list[tuple[str, str]], what: str
    ) -> list[q.TurnEvent]:
        """Store a batch within the agent's quotas and under the database watermark.

        Raises:
            Refused: over the ``events`` or ``event_bytes`` quota, or the watermark.
        """
        hive.watermark.check(agent, what)
        size = sum(len(kind) + len(data) for kind, data in batch)
        hive.quotas.spend(agent, what, events=len(batch), event_bytes=size)
        stored = await hive.store.write(q.insert_many, agent, time.time(), turn, batch)
        for ev in stored:
            hive.events.publish("turn.event", ev.to_json())
        return stored

    @reg.method("harness.started", Scope.AGENT)
    async def started(caller: Caller) -> Any:
        """A harness (re)started: requeue what its previous life left in flight."""
        agent = hive.agents.get(caller.name)
        requeued = hive.broker.requeue(caller.name)
        ctl = control(caller.name)
        # a cancel was meant for a turn of the previous life; a new session still applies;
        # the model is in this answer
        ctl.commands = [c for c in ctl.commands if c["command"] not in ("cancel", "model")]
        ctl.in_turn = False
        last = await hive.store.read(q.last_turn, caller.name)
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
        if len(events) > EVENT_BATCH_MAX:
            raise InvalidInput(f"harness.event: at most {EVENT_BATCH_MAX} events per call")
        batch = []
        for ev in events:
            if not isinstance(ev, dict):
                raise InvalidInput("harness.event: every event must be an object")
            batch.append(encode_event(ev))
        if not batch:
            return {"ids": []}
        if any(kind == "turn_start" for kind, _ in batch):
            control(caller.name).in_turn = True
        stored = await store_events(caller.name, turn, batch, "harness.event")
        return {"ids": [ev.id for ev in stored]}

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
        if exit_class not in EXIT_CLASSES:
            raise InvalidInput(
                f"harness.turn_ended: exit_class must be one of {', '.join(sorted(EXIT_CLASSES))}"
            )
        ctl = control(caller.name)
        ctl.in_turn = False
        ctl.commands = [c for c in ctl.commands if c["command"] != "cancel"]
        data = {
            "type": "turn_end",
            "exit_class": exit_class,
            "duration_ms": duration_ms,
            "error": error[:2000],
            "message_id": message_id,
        }
        try:
            await store_events(caller.name, turn, [encode_event(data)], "harness.turn_ended")
        except Refused:
            pass  # over a quota or the watermark: the turn still ends, without its event row
        now = time.time()
        await hive.agents.update(caller.name, last_turn_at=now)
        hive.events.publish("turn.ended", {"agent": caller.name, "turn": turn, "ts": now, **data})
        return {"ok": True}

    @reg.method("harness.state", Scope.AGENT, state=p(str), reason=p(str, default=""))
    async def state(caller: Caller, state: str, reason: str) -> Any:
        """The driver's state as the harness sees it: running, needs_login, driver_missing,
        rate_limited (with the reason the operator sees)."""
        try:
            wanted = AgentState(state)
        except ValueError:
            wanted = None
        if wanted not in HARNESS_STATES:
            names = ", ".join(sorted(s.value for s in HARNESS_STATES))
            raise InvalidInput(f"harness.state: state must be one of {names}, not {state!r}")
        assert wanted is not None
        agent = hive.agents.get(caller.name)
        reason = reason[:500]
        if agent.state not in HARNESS_STATES:
            return {"state": agent.state.value, "applied": False}
        if agent.state is not wanted or agent.state_reason != reason:
            agent = await hive.agents.set_state(caller.name, wanted, reason)
        return {"state": agent.state.value, "applied": True}

    @reg.method("harness.control", Scope.AGENT, wait_seconds=p(float, default=0.0))
    async def control_poll(caller: Caller, wait_seconds: float) -> Any:
        """Long-poll for operator commands (``cancel``, ``new_session``, ``compact``)."""
        if not 0 <= wait_seconds <= CONTROL_WAIT_MAX:
            raise InvalidInput(f"harness.control: wait_seconds must be 0..{CONTROL_WAIT_MAX:g}")
        ctl = control(caller.name)
        if not ctl.commands and wait_seconds > 0:
            ctl.wake.clear()
            try:
                async with asyncio.timeout(wait_seconds):
                    await ctl.wake.wait()
            except TimeoutError:
                pass
        commands, ctl.commands = ctl.commands, []
        ctl.wake.clear()
        return {"commands": commands}

    @reg.method("harness.cancel", Scope.HOST, decides=True, agent=p(str))
    async def cancel(caller: Caller, agent: str) -> Any:
        """Stop the turn ``agent`` is running (its message is acknowledged, not retried)."""
        hive.agents.get(agent)
        ctl = control(agent)
        if not ctl.in_turn:
            raise Refused(f"agent {agent} is not running a turn")
        ctl.push("cancel")
        return {"agent": agent, "queued": "cancel"}

    @reg.method("harness.new_session", Scope.HOST, decides=True, agent=p(str))
    async def new_session(caller: Caller, agent: str) -> Any:
        """Start ``agent``'s next turn in a fresh conversation (no ``--continue``)."""
        hive.agents.get(agent)
        control(agent).push("new_session")
        return {"agent": agent, "queued": "new_session"}

    @reg.method("harness.compact", Scope.HOST, decides=True, agent=p(str))
    async def compact(caller: Caller, agent: str) -> Any:
        """Compact ``agent``'s conversation now (after the running turn, if one runs)."""
        hive.agents.get(agent)
        control(agent).push("compact")
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
        limit = max(1, min(limit, 5000))
        got = await hive.store.read(lambda db: q.page(db, agent, limit=limit, before_id=before_id))
        return {"events": [ev.to_json() for ev in got]}

    async def sweep() -> None:
        cutoff = time.time() - hive.settings.limits.events_keep_days * 86400
        await hive.store.write(q.sweep, cutoff)

    hive.every(3600, sweep, "turn events retention sweep")
