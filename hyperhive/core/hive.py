"""The Hive facade: one async context manager that owns every resource of the daemon."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

from hyperhive.core.agents import AgentRegistry
from hyperhive.core.broker import Broker
from hyperhive.core.events import EventBus
from hyperhive.core.models import Agent, AgentState, Role
from hyperhive.core.protocol import Caller, Registry, Scope
from hyperhive.core.server import SocketServer
from hyperhive.core.settings import MANAGER, Settings
from hyperhive.core.store import Store

logger = logging.getLogger(__name__)


class Hive:
    """Store, event bus, agents, broker and sockets, built and torn down together.

    Use ``async with Hive.open(settings) as hive:``; nothing here is module-global.
    """

    def __init__(self, settings: Settings, store: Store) -> None:
        self.settings = settings
        self.store = store
        self.events = EventBus()
        self.agents = AgentRegistry(store, self.events)
        self.broker = Broker(store, self.events, settings.limits, self.agents.names)
        self.agents.extras["inbox"] = self.broker.depth
        self.registry: Registry = Registry()
        self.server: SocketServer | None = None
        self._tasks: list[asyncio.Task[None]] = []

    @classmethod
    @asynccontextmanager
    async def open(cls, settings: Settings, *, serve: bool = True) -> AsyncIterator[Hive]:
        """Open every resource; with ``serve``, listen on host.sock and the agent sockets."""
        async with AsyncExitStack() as stack:
            prepare_dirs(settings)
            store = await Store.open(settings.db_path)
            stack.push_async_callback(store.close)
            hive = cls(settings, store)
            await hive.agents.load()
            await hive.broker.start()
            await hive.ensure_manager()
            from hyperhive.core.api import build_registry

            hive.registry = build_registry(hive)
            if serve:
                hive.server = SocketServer(
                    hive.registry, hive.events, line_limit=settings.limits.protocol_line_bytes
                )
                stack.push_async_callback(hive.server.close)
                await hive.server.listen(settings.host_socket, Caller(Scope.HOST, "operator"))
                for agent in hive.agents.live():
                    await hive.listen_agent(agent)
            stack.push_async_callback(hive._stop_tasks)
            hive.every(3600, hive.broker.sweep, "message retention sweep")
            yield hive

    async def ensure_manager(self) -> Agent:
        """The manager exists from the first start."""
        found = self.agents.find(MANAGER)
        if found is not None and found.state is not AgentState.DESTROYED:
            return found
        return await self.agents.create(MANAGER, role=Role.MANAGER, runtime=self.settings.runtime)

    async def create_agent(self, name: str, *, role: Role = Role.AGENT) -> Agent:
        """Record an agent and serve its socket (the lifecycle builds its container)."""
        agent = await self.agents.create(name, role=role, runtime=self.settings.runtime)
        await self.listen_agent(agent)
        return agent

    async def listen_agent(self, agent: Agent) -> None:
        """Serve ``<run>/agents/<name>/hive.sock`` (or the manager's) as that agent."""
        if self.server is None:
            return
        path = self.settings.agent_socket(agent.name)
        scope = Scope.MANAGER if agent.role is Role.MANAGER else Scope.AGENT
        path.parent.mkdir(parents=True, exist_ok=True)
        os.chmod(path.parent, 0o755)
        # the container's root may be an unprivileged uid: the socket itself is open,
        # and only this agent's directory is bound into its container
        await self.server.listen(path, Caller(scope, agent.name, agent.name), mode=0o666)

    async def unlisten_agent(self, name: str) -> None:
        if self.server is not None:
            await self.server.unlisten(self.settings.agent_socket(name))

    def every(
        self, seconds: float, fn: Callable[[], Awaitable[Any]], what: str, *, first: float = 0
    ) -> None:
        """Run ``fn`` every ``seconds`` until the hive closes; failures are logged."""

        async def loop() -> None:
            await asyncio.sleep(first or seconds)
            while True:
                try:
                    await fn()
                except Exception:
                    logger.exception("%s failed", what)
                await asyncio.sleep(seconds)

        self._tasks.append(asyncio.create_task(loop(), name=what))

    def spawn_task(self, coro: Awaitable[None], name: str) -> asyncio.Task[None]:
        """A background task owned by the hive (cancelled on close)."""

        async def run() -> None:
            await coro

        task = asyncio.create_task(run(), name=name)
        self._tasks.append(task)
        return task

    async def _stop_tasks(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


def prepare_dirs(settings: Settings) -> None:
    """Create the state and run dirs with private permissions."""
    for d in (settings.state_dir, settings.run_dir):
        d.mkdir(parents=True, exist_ok=True)
        os.chmod(d, 0o700 if d == settings.run_dir else 0o711)
    (settings.run_dir / "agents").mkdir(exist_ok=True)
    os.chmod(settings.run_dir / "agents", 0o711)
