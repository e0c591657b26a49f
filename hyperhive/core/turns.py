"""Turns: what each agent's harness reports about its turns, and the operator's control of them.

A harness reports every event of a turn (stored in the turn events table, published as
``turn.event``) and the end of each turn (``turn.ended``, the agent's ``last_turn_at``).
The operator reaches a harness through `Turns.queue` (``cancel``, ``new_session``,
``compact``) and a model override through `Turns.set_model`: the daemon queues the
command and the harness picks it up with its long-poll (`Turns.poll`). `Turns.sweep` is
the turn events' retention. The RPC methods are in `core/api/harness.py`.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from typing import Any

from hyperhive.core.agents import AgentRegistry
from hyperhive.core.errors import InvalidInput, Refused
from hyperhive.core.events import EventBus
from hyperhive.core.models import EXIT_CLASSES, TurnEvent
from hyperhive.core.quotas import Quotas, Watermark
from hyperhive.core.settings import Limits
from hyperhive.core.store import Store
from hyperhive.core.store import turn_events as q

EVENT_BATCH_MAX = 500
EVENT_DATA_MAX = 8 * 1024
KIND_MAX = 40
CONTROL_WAIT_MAX = 180.0
COMMANDS = ("cancel", "new_session", "compact")


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

    def drop(self, *commands: str) -> None:
        self.commands = [c for c in self.commands if c["command"] not in commands]


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


class Turns:
    """Turn events, turn ends and the per-agent command queue the harness long-polls."""

    def __init__(
        self,
        store: Store,
        events: EventBus,
        agents: AgentRegistry,
        limits: Limits,
        quotas: Quotas,
        watermark: Watermark,
    ) -> None:
        self._store = store
        self._events = events
        self._agents = agents
        self._limits = limits
        self._quotas = quotas
        self._watermark = watermark
        self._controls: dict[str, _Control] = {}

    def _control(self, name: str) -> _Control:
        found = self._controls.get(name)
        if found is None:
            found = self._controls[name] = _Control()
        return found

    def set_model(self, agent: str, model: str | None) -> None:
        """Queue ``agent``'s model for its next turn (None: its config's again)."""
        self._control(agent).set_model(model)

    async def harness_started(self, agent: str) -> int:
        """A new life of ``agent``'s harness: forget its old turn; its last stored turn.

        A cancel was meant for a turn of the previous life and the model goes in the
        ``harness.started`` answer; a queued new session still applies.
        """
        ctl = self._control(agent)
        ctl.drop("cancel", "model")
        ctl.in_turn = False
        last: int = await self._store.read(q.last_turn, agent)
        return last

    async def _store_events(
        self, agent: str, turn: int | None, batch: list[tuple[str, str]], what: str
    ) -> list[TurnEvent]:
        """Store a batch within the agent's quotas and under the database watermark.

        Raises:
            Refused: over the ``events`` or ``event_bytes`` quota, or the watermark.
        """
        self._watermark.check(agent, what)
        size = sum(len(kind) + len(data) for kind, data in batch)
        self._quotas.spend(agent, what, events=len(batch), event_bytes=size)
        stored = await self._store.write(q.insert_many, agent, time.time(), turn, batch)
        for ev in stored:
            self._events.publish("turn.event", ev.to_json())
        return stored

    async def record(self, agent: str, turn: int | None, events: list[Any]) -> list[int]:
        """Store and publish a batch of turn events (each a dict with a ``type``); their ids."""
        if len(events) > EVENT_BATCH_MAX:
            raise InvalidInput(f"harness.event: at most {EVENT_BATCH_MAX} events per call")
        batch = []
        for ev in events:
            if not isinstance(ev, dict):
                raise InvalidInput("harness.event: every event must be an object")
            batch.append(encode_event(ev))
        if not batch:
            return []
        if any(kind == "turn_start" for kind, _ in batch):
            self._control(agent).in_turn = True
        stored = await self._store_events(agent, turn, batch, "harness.event")
        return [ev.id for ev in stored]

    async def end(
        self,
        agent: str,
        turn: int,
        exit_class: str,
        duration_ms: float,
        error: str,
        message_id: int | None,
    ) -> None:
        """A turn is over: record it, publish ``turn.ended``, stamp the agent's last turn."""
        if exit_class not in EXIT_CLASSES:
            raise InvalidInput(
                f"harness.turn_ended: exit_class must be one of {', '.join(sorted(EXIT_CLASSES))}"
            )
        ctl = self._control(agent)
        ctl.in_turn = False
        ctl.drop("cancel")
        data = {
            "type": "turn_end",
            "exit_class": exit_class,
            "duration_ms": duration_ms,
            "error": error[:2000],
            "message_id": message_id,
        }
        try:
            await self._store_events(agent, turn, [encode_event(data)], "harness.turn_ended")
        except Refused:
            pass  # over a quota or the watermark: the turn still ends, without its event row
        now = time.time()
        await self._agents.update(agent, last_turn_at=now)
        self._events.publish("turn.ended", {"agent": agent, "turn": turn, "ts": now, **data})

    async def poll(self, agent: str, wait_seconds: float) -> list[dict[str, Any]]:
        """The commands queued for ``agent``'s harness, waiting up to ``wait_seconds`` for one."""
        if not 0 <= wait_seconds <= CONTROL_WAIT_MAX:
            raise InvalidInput(f"harness.control: wait_seconds must be 0..{CONTROL_WAIT_MAX:g}")
        ctl = self._control(agent)
        if not ctl.commands and wait_seconds > 0:
            ctl.wake.clear()
            try:
                async with asyncio.timeout(wait_seconds):
                    await ctl.wake.wait()
            except TimeoutError:
                pass
        commands, ctl.commands = ctl.commands, []
        ctl.wake.clear()
        return commands

    def queue(self, agent: str, command: str) -> None:
        """Queue an operator ``command`` (one of `COMMANDS`) for ``agent``'s harness.

        Raises:
            NotFound: no such agent.
            Refused: ``cancel`` while the agent runs no turn.
        """
        self._agents.get(agent)
        ctl = self._control(agent)
        if command == "cancel" and not ctl.in_turn:
            raise Refused(f"agent {agent} is not running a turn")
        ctl.push(command)

    async def page(self, agent: str, limit: int, before_id: int | None) -> list[TurnEvent]:
        """Stored turn events of ``agent``, oldest first; page back with ``before_id``."""
        limit = max(1, min(limit, 5000))
        return await self._store.read(
            lambda db: q.page(db, agent, limit=limit, before_id=before_id)
        )

    async def sweep(self) -> None:
        """Drop turn events older than ``events_keep_days``."""
        await self._store.write(q.sweep, time.time() - self._limits.events_keep_days * 86400)
