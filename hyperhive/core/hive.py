"""The Hive facade: one async context manager that owns every resource of the daemon."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import replace
from typing import Any

from hyperhive.core.agents import AgentRegistry
from hyperhive.core.api import build_registry
from hyperhive.core.approvals import Approvals
from hyperhive.core.audit import AuditLog
from hyperhive.core.broker import Broker
from hyperhive.core.errors import HyperhiveError, NotFound
from hyperhive.core.events import EventBus
from hyperhive.core.hosts.service import Hosts
from hyperhive.core.lifecycle import Lifecycle
from hyperhive.core.models import Agent, AgentState, Role
from hyperhive.core.names import MANAGER
from hyperhive.core.notices import Notices
from hyperhive.core.overrides import Overrides
from hyperhive.core.policy import SendPolicies
from hyperhive.core.protocol import Caller, Registry, Scope
from hyperhive.core.questions import Questions
from hyperhive.core.quotas import Quotas, Watermark
from hyperhive.core.reminders import Reminders
from hyperhive.core.repos import Repos
from hyperhive.core.runner import Runner
from hyperhive.core.runtimes import AUTO, get_runtime, with_runtime
from hyperhive.core.runtimes.base import Runtime
from hyperhive.core.runtimes.routed import HostRouter
from hyperhive.core.server import SocketServer
from hyperhive.core.settings import Settings
from hyperhive.core.stats import Stats
from hyperhive.core.store import Store
from hyperhive.core.terminals import Terminals
from hyperhive.core.turns import Turns

logger = logging.getLogger(__name__)


class Hive:
    """Store, event bus, agents, broker and sockets, built and torn down together.

    Use ``async with Hive.open(settings) as hive:``; nothing here is module-global.
    """

    def __init__(self, settings: Settings, store: Store, runtime: Runtime) -> None:
        self.settings = settings
        self.store = store
        self.events = EventBus()
        self.agents = AgentRegistry(store, self.events)
        self.repos = Repos(settings)
        self.quotas = Quotas(settings.limits)
        self.watermark = Watermark(settings.limits, self.events, store.used_bytes)
        self.policies = SendPolicies(self._agent_facts, self._read_agent_toml)
        self.broker = Broker(
            store,
            self.events,
            settings.limits,
            self.agents.names,
            policies=self.policies,
            watermark=self.watermark,
        )
        self.agents.extras["inbox"] = self.broker.depth
        self.audit = AuditLog(store, self.events)
        self.hosts = Hosts(settings, store, self.events, self.audit, self.agents)
        self.agents.extras["host"] = self.hosts.host_of
        self.agents.extras["host_state"] = self.hosts.host_state
        # every agent's calls go to the runtime of the host it was placed on
        self.runtime: Runtime = HostRouter(runtime, self.hosts)
        self.notices = Notices(self.broker)
        self.approvals = Approvals(
            store,
            self.events,
            self.repos,
            self.agents,
            notify=self.notices.tell,
            audit=self.audit.record,
            driver=settings.driver,
        )
        self.lifecycle = Lifecycle(
            settings,
            self.agents,
            self.repos,
            self.runtime,
            self.broker,
            self.events,
            listen=self.listen_agent,
            unlisten=self.unlisten_agent,
            audit=self.audit.record,
            notices=self.notices,
            hosts=self.hosts,
        )
        self.approvals.builder = self.lifecycle
        self.approvals.host_of = self.hosts.host_of
        self.approvals.plan_host = self.hosts.plan
        self.questions = Questions(
            store,
            self.events,
            self.broker,
            settings.limits,
            self.audit,
            recipients=self.agents.names,
            allowed=self._allowed_recipients,
        )
        self.overrides = Overrides(store, self.events, self.agents, self.audit)
        self.agents.extras["model_override"] = self.overrides.model_of
        self.approvals.on_deployed = self.overrides.config_deployed
        self.reminders = Reminders(store, self.events, self.broker, settings.limits, self.audit)
        self.stats = Stats(store, self.events, settings.limits, self.agents, self.broker.depth)
        self.turns = Turns(
            store, self.events, self.agents, settings.limits, self.quotas, self.watermark
        )
        self.overrides.on_model = self.turns.set_model
        self.terminals = Terminals(
            self.events, self.agents, self.audit, self.runtime, self.spawn_task
        )
        self.registry: Registry = Registry()
        self.server: SocketServer | None = None
        self._tasks: list[asyncio.Task[None]] = []

    @classmethod
    @asynccontextmanager
    async def open(
        cls,
        settings: Settings,
        *,
        serve: bool = True,
        run_agents: bool = False,
        runtime: Runtime | None = None,
        runner: Runner | None = None,
    ) -> AsyncIterator[Hive]:
        """Open every resource.

        Args:
            settings: where and how.
            serve: listen on host.sock and the agent sockets.
            run_agents: run the swarm: build the manager, adopt or start the agents,
                resume interrupted builds, watch for crashes (the daemon does; most tests
                do not).
            runtime: a runtime to use instead of the one the settings name.
            runner: the subprocess runner for the runtime.
        """
        if settings.runtime == AUTO:
            if runtime is not None:
                settings = replace(settings, runtime=runtime.name)
            else:
                settings, why = with_runtime(settings)
                logger.info("runtime %s: %s", settings.runtime, why)
        async with AsyncExitStack() as stack:
            prepare_dirs(settings)
            store = await Store.open(settings.db_path)
            stack.push_async_callback(store.close)
            hive = cls(settings, store, runtime or get_runtime(settings, runner))
            for lock in await hive.repos.clear_stale_locks():
                logger.warning("removed a stale git lock left by a crash: %s", lock)
            await hive.agents.load()
            await hive.broker.start()
            stack.push_async_callback(hive.broker.stop)
            await hive.audit.load()
            await hive.overrides.load()
            await hive.hosts.load()
            stack.push_async_callback(hive.hosts.close)
            hive.hosts.start()
            await hive.ensure_manager()
            hive.registry = build_registry(hive)
            if serve:
                hive.server = SocketServer(
                    hive.registry,
                    hive.events,
                    line_limit=settings.limits.protocol_line_bytes,
                    redact=settings.redact_paths,
                )
                stack.push_async_callback(hive.server.close)
                await hive.server.listen(
                    settings.host_socket,
                    Caller(Scope.HOST, "operator"),
                    max_connections=settings.limits.host_connections,
                )
                for agent in hive.agents.live():
                    await hive.listen_agent(agent)
            stack.push_async_callback(hive._stop_tasks)
            stack.push_async_callback(hive.approvals.wait_builds)
            hive.start_jobs()
            if run_agents:
                await hive.run_swarm()
            yield hive

    def start_jobs(self) -> None:
        """Every periodic job of the daemon, scheduled here and nowhere else."""
        self.every(3600, self.broker.sweep, "message retention sweep")
        self.every(3600, self.turns.sweep, "turn events retention sweep")
        self.every(Questions.SWEEP_SECONDS, self.questions.expire_due, "question expiry")
        self.spawn_task(self.reminders.run(), "reminder scheduler")
        self.every(Stats.SAMPLE_SECONDS, self.stats.sample_swarm, "swarm stats sample")
        self.every(Stats.SWEEP_SECONDS, self.stats.sweep, "stats retention sweep")
        self.every(
            86400, lambda: self.gc_tags(dry_run=False, by="system"), "daily tag gc", first=600
        )

    async def run_swarm(self) -> None:
        """Build the manager if needed, adopt or start every agent, watch for crashes."""
        await self.lifecycle.reconcile()
        await self.approvals.resume()
        try:
            await self.approvals.bootstrap_manager()
        except HyperhiveError as exc:
            logger.error("could not build the manager: %s", exc)
        self.every(self.settings.crash_poll_seconds, self.lifecycle.check_once, "crash watcher")

    def _agent_facts(self, name: str) -> tuple[Role, str | None] | None:
        agent = self.agents.find(name)
        if agent is None or agent.state is AgentState.DESTROYED:
            return None
        return agent.role, agent.applied_sha

    async def _read_agent_toml(self, name: str, sha: str) -> bytes | None:
        """``agent.toml`` in ``name``'s applied repo at ``sha`` (None: the commit has none)."""
        try:
            return await self.repos.read_file(name, sha, "agent.toml")
        except NotFound:
            if not self.repos.applied_exists(name):
                raise
            return None

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
        if not path.parent.exists():
            # the runtime may hand the dir to the container's uid; only create it here
            path.parent.mkdir(parents=True, mode=0o755)
        # the container's root may be an unprivileged uid: the socket itself is open,
        # and only this agent's directory is bound into its container
        await self.server.listen(
            path,
            Caller(scope, agent.name, agent.name),
            mode=0o666,
            max_connections=self.settings.limits.agent_connections,
        )

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

    def spawn_task(self, coro: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
        """A background task owned by the hive (cancelled on close)."""
        task = asyncio.create_task(coro, name=name)
        self._tasks.append(task)
        return task

    def _allowed_recipients(self, name: str) -> tuple[str, ...]:
        """``allowed_recipients`` of ``name``'s applied config (() = anyone)."""
        try:
            return self.lifecycle.config(name).allowed_recipients
        except (HyperhiveError, OSError):
            return (MANAGER,)  # an unreadable config: only the manager, as the harness does

    async def gc_tags(self, *, dry_run: bool, by: str) -> dict[str, list[str]]:
        """Tag retention over every agent's applied repo (live agents and tombstones)."""
        out: dict[str, list[str]] = {}
        now = time.time()
        keep = self.settings.limits.tags_keep_days
        for agent in [*self.agents.live(), *self.agents.tombstones()]:
            if not self.settings.applied_dir(agent.name).exists():
                continue
            deleted = await self.repos.gc_tags(agent.name, now=now, keep_days=keep, dry_run=dry_run)
            if deleted:
                out[agent.name] = deleted
        if not dry_run:
            await self.audit.record(
                by, "repos.gc_tags", "", {"deleted": sum(map(len, out.values()))}
            )
        return out

    async def _daily_tag_gc(self) -> None:
        await self.gc_tags(dry_run=False, by="system")

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
        os.chmod(d, 0o700)  # the daemon's alone: containers get their parts as binds
    (settings.run_dir / "agents").mkdir(exist_ok=True)
    os.chmod(settings.run_dir / "agents", 0o711)
