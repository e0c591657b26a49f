"""Operator overrides of an agent's approved config; today one: the model.

``hyperhive model NAME MODEL`` stores an override that beats ``model`` of the agent's
``agent.toml``; the harness learns it from ``harness.started`` and, while running,
from a ``model`` control command, and uses it from its next turn. A newly deployed
config clears it (the approved config is the truth again). Every change is audited
and published as ``agent.model_changed`` and as ``agent.changed`` (with
``model_override``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from hyperhive.core.agent_config import _MODEL_RE
from hyperhive.core.agents import AgentRegistry
from hyperhive.core.audit import AuditLog
from hyperhive.core.errors import InvalidInput
from hyperhive.core.events import EventBus
from hyperhive.core.store import Store
from hyperhive.core.store import overrides as q

MODEL = "model"


class Overrides:
    """The model override of each agent, persisted in ``agent_overrides``."""

    def __init__(
        self, store: Store, events: EventBus, agents: AgentRegistry, audit: AuditLog
    ) -> None:
        self._store = store
        self._events = events
        self._agents = agents
        self._audit = audit
        # told when an agent's model changes (the harness control queue)
        self.on_model: Callable[[str, str | None], None] | None = None
        self._models: dict[str, str] = {}

    async def load(self) -> None:
        self._models = await self._store.read(q.all_of, MODEL)

    def model_of(self, agent: str) -> str | None:
        """``agent``'s model override (in memory), or None."""
        return self._models.get(agent)

    async def model(self, agent: str) -> dict[str, Any] | None:
        """``{"value", "set_by", "set_at"}`` of ``agent``'s model override, or None."""
        return await self._store.read(q.get, agent, MODEL)

    async def set_model(self, agent: str, model: object, *, by: str) -> dict[str, Any]:
        """Override ``agent``'s model from its next turn.

        Raises:
            NotFound: no such agent.
            InvalidInput: not a model name.
        """
        self._agents.get(agent)
        if not isinstance(model, str) or not _MODEL_RE.fullmatch(model):
            raise InvalidInput(f"{model!r} is not a model name")
        await self._store.write(q.put, agent, MODEL, model, by, time.time())
        self._models[agent] = model
        await self._audit.record(by, "agent.model", agent, {"model": model})
        self._changed(agent, model, by)
        return {"agent": agent, "model": model}

    async def clear_model(self, agent: str, *, by: str) -> bool:
        """Drop ``agent``'s model override; False if it had none."""
        self._agents.get(agent)
        return await self._clear(agent, by)

    async def config_deployed(self, agent: str) -> None:
        """A new approved config is live: it decides the model again."""
        await self._clear(agent, "system")

    async def _clear(self, agent: str, by: str) -> bool:
        if not await self._store.write(q.delete, agent, MODEL):
            return False
        self._models.pop(agent, None)
        await self._audit.record(by, "agent.model", agent, {"model": None})
        self._changed(agent, None, by)
        return True

    def _changed(self, agent: str, model: str | None, by: str) -> None:
        self._events.publish("agent.model_changed", {"agent": agent, "model": model, "by": by})
        found = self._agents.find(agent)
        if found is not None:  # its row (``model_override``) changed for every agent view
            self._events.publish("agent.changed", self._agents.describe(found))
        if self.on_model is not None:
            self.on_model(agent, model)
