"""The agent registry: the agents table, cached in memory, with a change event per update."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace

from hyperhive.core.errors import NotFound, Refused
from hyperhive.core.events import EventBus
from hyperhive.core.models import Agent, AgentState, Role
from hyperhive.core.names import MANAGER, validate_agent_name
from hyperhive.core.store import Store
from hyperhive.core.store import agents as q
from hyperhive.core.store.agents import Build


class AgentRegistry:
    """Every agent the daemon knows, destroyed ones (tombstones) included."""

    def __init__(
        self, store: Store, events: EventBus, *, clock: Callable[[], float] = time.time
    ) -> None:
        self._store = store
        self._events = events
        self._clock = clock
        self._agents: dict[str, Agent] = {}
        self._builds: dict[str, Build] = {}
        self._names: frozenset[str] | None = None
        self.extras: dict[str, Callable[[str], object]] = {}

    async def load(self) -> None:
        rows = await self._store.read(lambda db: q.all_agents(db, include_destroyed=True))
        self._agents = {a.name: a for a in rows}
        self._builds = await self._store.read(q.builds)
        self._names = None

    def get(self, name: str) -> Agent:
        agent = self._agents.get(name)
        if agent is None or agent.state is AgentState.DESTROYED:
            raise NotFound(f"no agent named {name!r}")
        return agent

    def find(self, name: str) -> Agent | None:
        """The agent or its tombstone, or None."""
        return self._agents.get(name)

    def live(self) -> list[Agent]:
        """Every agent that is not a tombstone, manager first."""
        return sorted(
            (a for a in self._agents.values() if a.state is not AgentState.DESTROYED),
            key=lambda a: (a.role is not Role.MANAGER, a.name),
        )

    def tombstones(self) -> list[Agent]:
        return sorted(
            (a for a in self._agents.values() if a.state is AgentState.DESTROYED),
            key=lambda a: a.name,
        )

    def names(self) -> frozenset[str]:
        """Names of the agents that can receive messages (drafts and tombstones cannot)."""
        if self._names is None:
            self._names = frozenset(
                a.name
                for a in self._agents.values()
                if a.state not in (AgentState.DESTROYED, AgentState.DRAFT)
            )
        return self._names

    def _put(self, agent: Agent) -> None:
        self._agents[agent.name] = agent
        self._names = None

    async def create(
        self,
        name: str,
        *,
        role: Role = Role.AGENT,
        state: AgentState = AgentState.STOPPED,
        runtime: str = "process",
    ) -> Agent:
        """Record a new agent (or revive a tombstone, bumping its incarnation)."""
        validate_agent_name(name, allow_manager=role is Role.MANAGER)
        if role is Role.AGENT and name == MANAGER:
            raise Refused("the name 'manager' belongs to the manager")
        existing = self._agents.get(name)
        now = self._clock()
        if existing is not None and existing.state is not AgentState.DESTROYED:
            raise Refused(f"agent {name!r} already exists")
        if existing is not None:
            agent = await self._store.write(
                lambda db: q.update(
                    db,
                    name,
                    now,
                    state=state,
                    incarnation=existing.incarnation + 1,
                    runtime=runtime,
                    stale=0,
                    state_reason="",
                )
            )
        else:
            agent = await self._store.write(q.insert, name, role, state, runtime, now)
        assert agent is not None
        self._put(agent)
        self._events.publish("agent.created", self.describe(agent))
        return agent

    async def update(self, name: str, **fields: object) -> Agent:
        """Change columns of an agent and publish ``agent.changed``."""
        if name not in self._agents:
            raise NotFound(f"no agent named {name!r}")
        now = self._clock()
        agent = await self._store.write(lambda db: q.update(db, name, now, **fields))
        if agent is None:
            raise NotFound(f"no agent named {name!r}")
        self._put(agent)
        self._events.publish("agent.changed", self.describe(agent))
        return agent

    async def set_state(self, name: str, state: AgentState, reason: str = "") -> Agent:
        return await self.update(name, state=state, state_reason=reason)

    def build(self, name: str) -> Build:
        """What ``name``'s container was last built with (`Build()`: nothing recorded)."""
        return self._builds.get(name, Build())

    async def record_build(self, name: str, version: str, inputs: str) -> None:
        """Remember that ``name``'s container was just built by hyperhive ``version``."""
        await self._store.write(q.set_build, name, version, inputs)
        self._builds[name] = replace(self.build(name), version=version, inputs=inputs)

    async def set_told(self, name: str, told: str) -> None:
        """Remember the needs_update reason the manager was told about ("": none)."""
        if self.build(name).told != told:
            await self._store.write(q.set_told, name, told)
            self._builds[name] = replace(self.build(name), told=told)

    async def delete(self, name: str) -> None:
        """Forget an agent entirely (purge)."""
        await self._store.write(q.delete, name)
        self._agents.pop(name, None)
        self._builds.pop(name, None)
        self._names = None
        self._events.publish("agent.purged", {"name": name})

    def describe(self, agent: Agent) -> dict[str, object]:
        """The JSON view of an agent, with the live extras (inbox depth, ...)."""
        data: dict[str, object] = agent.to_json()
        data["built_version"] = self.build(agent.name).version
        for key, fn in self.extras.items():
            data[key] = fn(agent.name)
        return data
