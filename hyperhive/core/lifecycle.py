"""Agent lifecycle: spawn, start, kill, restart, update, destroy, purge; the crash watcher.

Every operation holds the agent's lock, shows a transient state (``spawning``,
``starting``, ...) while it runs, and always leaves a stable state behind, even when it
fails or its task is cancelled. At start-up `reconcile` turns whatever a crash left
(a transient state, a container that died meanwhile) into the truth, adopting running
containers; `watch` notices containers that die without an operator action, tells the
manager, and restarts them with capped exponential backoff.

Every build records the hyperhive version and runtime inputs it was made with; at
start-up an agent built with others (or running an older config than applied ``main``)
is flagged ``stale`` (needs_update), and the manager is told once per reason. The
manager hears of everything else that happens to its agents too (`notices`), and an
agent restarted or redeployed is told so itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hyperhive.core import safefs
from hyperhive.core.agent_config import (
    AgentConfig,
    config_env,
    git_env,
    parse_agent_toml,
    write_etc,
)
from hyperhive.core.agents import AgentRegistry
from hyperhive.core.audit import record_done
from hyperhive.core.broker import Broker
from hyperhive.core.builds import Builds, short
from hyperhive.core.errors import HyperhiveError, InvalidInput, NotFound, Refused
from hyperhive.core.events import EventBus
from hyperhive.core.models import UP_STATES, Agent, AgentState, Role
from hyperhive.core.names import MANAGER, SYSTEM, validate_agent_name
from hyperhive.core.notices import Notices, notice, who
from hyperhive.core.repos import Repos
from hyperhive.core.runner import Completed
from hyperhive.core.runtimes.base import AgentSpec, ContainerState, Runtime
from hyperhive.core.runtimes.routed import HostRouter
from hyperhive.core.settings import Settings

if TYPE_CHECKING:
    from hyperhive.core.hosts.service import Hosts

logger = logging.getLogger(__name__)

Audit = Callable[..., Awaitable[Any]]
AGENT_TOML_MAX = 1024 * 1024


@dataclass
class _Crashes:
    count: int = 0
    last: float = 0.0
    restart: asyncio.Task[None] | None = None


@dataclass
class Lifecycle:
    """Drives the runtime for every agent; the only code that starts or stops containers."""

    settings: Settings
    agents: AgentRegistry
    repos: Repos
    runtime: Runtime
    broker: Broker
    events: EventBus
    listen: Callable[[Agent], Awaitable[None]]
    unlisten: Callable[[str], Awaitable[None]]
    audit: Audit | None = None
    clock: Callable[[], float] = time.time
    # None: the runtime runs the harness; tests may run something smaller
    command: tuple[str, ...] | None = None
    notices: Notices | None = None  # None: a Notices of its own on the broker
    hosts: Hosts | None = None  # None: every agent runs on this machine
    _locks: dict[str, asyncio.Lock] = field(default_factory=dict)
    _crashes: dict[str, _Crashes] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._notices = self.notices or Notices(self.broker)
        self._builds = Builds(self.agents, self.repos, self.events, self._notices, self._record)

    # --- paths and specs -----------------------------------------------------------
    def tree_dir(self, name: str) -> Path:
        """The applied tree the agent runs (exported from applied ``main``)."""
        return self.settings.tree_dir(name)

    def etc_dir(self, name: str) -> Path:
        return self.settings.etc_dir(name)

    def config(self, name: str) -> AgentConfig:
        try:
            data = safefs.read_regular(self.tree_dir(name), "agent.toml", AGENT_TOML_MAX)
        except (FileNotFoundError, Refused):
            return AgentConfig()
        return parse_agent_toml(data)

    def spec(self, agent: Agent) -> AgentSpec:
        """Everything the runtime needs for ``agent``, from the settings and its applied tree."""
        s, name = self.settings, agent.name
        config = self.config(name)
        manager = agent.role is Role.MANAGER
        return AgentSpec(
            name=name,
            role=agent.role,
            socket_dir=s.socket_dir(name),
            state_dir=s.agent_state_dir(name),
            creds_dir=s.creds_dir(name),
            etc_dir=self.etc_dir(name),
            applied_dir=self.tree_dir(name),
            env=config_env(config) | git_env(config, name),
            agents_root=s.proposed_root if manager else None,
            applied_root=s.applied_root if manager else None,
            meta_dir=s.meta_dir if manager else None,
            memory_max=config.limits.memory_max or s.container.memory_max,
            cpu_quota=config.limits.cpu_quota or s.container.cpu_quota,
            private_network=s.container.private_network,
            command=self.command,
        )

    def _make_dirs(self, name: str) -> None:
        agents = self.settings.agents_root
        agents.mkdir(mode=0o700, parents=True, exist_ok=True)
        agents.chmod(0o700)  # no container reaches it; an older install had 0755
        safefs.ensure_dir(agents, name, mode=0o700)
        safefs.ensure_dir(agents, f"{name}/state", mode=0o755)
        safefs.ensure_dir(agents, f"{name}/creds", mode=0o700)

    async def _export(self, name: str, sha: str) -> AgentConfig:
        """Write the tree at ``sha`` as the agent's applied tree and render its policy files."""
        agent_dir = self.settings.agent_dir(name)
        safefs.ensure_dir(self.settings.agents_root, name, mode=0o700)
        tree = self.tree_dir(name)
        fresh = tree.with_name("tree.new")
        safefs.remove(agent_dir, "tree.new")
        await self.repos.export_tree(name, sha, fresh)
        try:
            config = parse_agent_toml(safefs.read_regular(fresh, "agent.toml", AGENT_TOML_MAX))
        except (FileNotFoundError, Refused):
            config = AgentConfig()
        except InvalidInput as exc:
            safefs.remove(agent_dir, "tree.new")
            raise InvalidInput(f"agent.toml at {sha[:12]}: {exc}") from exc
        safefs.remove(agent_dir, "tree.old")
        if safefs.is_dir(agent_dir, "tree"):
            tree.rename(old := tree.with_name("tree.old"))
            fresh.rename(tree)
            safefs.remove(agent_dir, old.name)
        else:
            safefs.remove(agent_dir, "tree")
            fresh.rename(tree)
        if not safefs.is_dir(agent_dir, "etc"):
            safefs.remove(agent_dir, "etc")  # anything but a real directory goes
        write_etc(config, self.etc_dir(name))
        return config

    # --- the operation frame -------------------------------------------------------
    def _lock(self, name: str) -> asyncio.Lock:
        return self._locks.setdefault(name, asyncio.Lock())

    def busy(self, name: str) -> bool:
        return self._lock(name).locked()

    @contextlib.asynccontextmanager
    async def _operation(
        self, name: str, transient: AgentState, action: str, by: str
    ) -> AsyncIterator[Agent]:
        """Hold the lock, show ``transient``, and restore a stable state whatever happens."""
        async with self._lock(name):
            agent = self.agents.get(name)
            before = agent.state
            await self.agents.set_state(name, transient)
            result, detail = "ok", ""
            try:
                yield agent
            except BaseException as exc:
                result, detail = "failed", str(exc) or type(exc).__name__
                await asyncio.shield(self._settle(name, before, detail))
                raise
            finally:
                await asyncio.shield(self._record(by, action, name, {"error": detail}, result))

    async def _settle(self, name: str, before: AgentState, reason: str) -> None:
        """After a failed or cancelled operation: the state the container is really in."""
        agent = self.agents.find(name)
        if agent is None or agent.state is AgentState.DESTROYED:
            return
        if not agent.state.transient:
            return
        try:
            status = await self.runtime.status(name)
        except HyperhiveError:
            status = None
        if status is not None and status.state is ContainerState.RUNNING:
            state = before if before in UP_STATES else AgentState.RUNNING
        else:
            state = AgentState.STOPPED if before is not AgentState.DRAFT else AgentState.DRAFT
        await self.agents.set_state(name, state, reason)

    # --- builds (called by approvals) ----------------------------------------------
    async def deploy(self, name: str, sha: str, *, spawn: bool, host: str | None = None) -> None:
        """Build ``name`` from the applied tree at ``sha`` and (re)start it.

        A spawn runs on its ``agent.toml`` host, else on ``host`` (the one its approval
        showed) while that host still takes agents, else on the daemon's pick now
        (`Hosts.pick`). An agent that existed before is told it was redeployed (the
        manager hears of the deploy through the approval's notice).
        """
        if spawn:
            found = self.agents.find(name)
            if found is None or found.state is AgentState.DESTROYED:
                await self.agents.create(name, runtime=self.settings.runtime)
            elif found.state is not AgentState.DRAFT and found.applied_sha not in (None, sha):
                # (the same sha again is a spawn build resumed after a crash)
                raise Refused(f"agent {name!r} already exists")
        transient = AgentState.SPAWNING if spawn else AgentState.REBUILDING
        async with self._operation(
            name, transient, "spawn" if spawn else "update", SYSTEM
        ) as agent:
            self._make_dirs(name)
            config = await self._export(name, sha)
            if spawn and self.hosts is not None:
                await self.hosts.place(
                    name, await self.hosts.pick(config.host, prefer=host, agent=name)
                )
            await self._rebuild(agent, restart=spawn or agent.state in UP_STATES)
        if not spawn:
            text = f"You were redeployed at config {short(sha)}: your new config is live."
            await self._notices.tell(name, notice("redeployed", text))

    async def create_draft(self, name: str) -> None:
        """Two-step spawn, step 1: a proposed repo and a state dir, no container."""
        from hyperhive.core.agent_config import default_files

        if not await self.repos.exists(name):
            files = default_files(name, Role.AGENT, driver=self.settings.driver)
            await self.repos.create(name, files)
        found = self.agents.find(name)
        if found is not None and found.state is not AgentState.DESTROYED:
            raise Refused(f"agent {name!r} already exists")
        agent = await self.agents.create(
            name, state=AgentState.DRAFT, runtime=self.settings.runtime
        )
        self._make_dirs(agent.name)

    async def _rebuild(self, agent: Agent, *, restart: bool) -> None:
        spec = self.spec(agent)
        await self.listen(agent)
        status = await self.runtime.status(agent.name)
        if status.state is ContainerState.RUNNING:
            await self.runtime.stop(agent.name)
        await self._builds.create(self.runtime, spec)
        if restart:
            await self.runtime.start(spec)
            await self.agents.set_state(agent.name, AgentState.RUNNING)
        else:
            await self.agents.set_state(agent.name, AgentState.STOPPED)

    # --- operator and manager actions ----------------------------------------------
    def _target(self, name: object, by: str) -> str:
        name = validate_agent_name(name, allow_manager=True)
        if by == MANAGER and name == MANAGER:
            raise Refused("the manager cannot act on itself")
        agent = self.agents.get(name)
        if agent.state is AgentState.DRAFT:
            raise Refused(f"{name!r} is a draft without a container yet")
        return name

    async def start(self, name: object, *, by: str) -> Agent:
        """Start a stopped or crashed agent."""
        name = self._target(name, by)
        if self.agents.get(name).state in UP_STATES:
            raise Refused(f"agent {name!r} is already running")
        async with self._operation(name, AgentState.STARTING, "start", by) as agent:
            spec = self.spec(agent)
            await self.listen(agent)
            await self._builds.create(self.runtime, spec)
            await self.runtime.start(spec)
            started = await self.agents.set_state(name, AgentState.RUNNING)
        await self._builds.check(self.runtime, started, after_build=True)
        await self._tell_manager(name, by, f"started {name}", f"by {who(by)}")
        return self.agents.get(name)

    async def kill(self, name: object, *, by: str) -> Agent:
        """Stop an agent gracefully (its messages wait for it)."""
        name = self._target(name, by)
        if self.agents.get(name).state not in UP_STATES | {AgentState.CRASHED}:
            raise Refused(f"agent {name!r} is not running")
        async with self._operation(name, AgentState.STOPPING, "kill", by):
            self._cancel_restart(name)
            await self.runtime.stop(name)
            self.broker.requeue(name)
            stopped = await self.agents.set_state(name, AgentState.STOPPED)
        await self._tell_manager(name, by, f"killed {name}", f"by {who(by)}; its messages wait")
        return stopped

    async def restart(self, name: object, *, by: str) -> Agent:
        """Stop (if running) and start again; the agent is told it was restarted."""
        name = self._target(name, by)
        async with self._operation(name, AgentState.RESTARTING, "restart", by) as agent:
            self._cancel_restart(name)
            await self.runtime.stop(name)
            self.broker.requeue(name)
            spec = self.spec(agent)
            await self.listen(agent)
            await self._builds.create(self.runtime, spec)
            await self.runtime.start(spec)
            started = await self.agents.set_state(name, AgentState.RUNNING)
        await self._builds.check(self.runtime, started, after_build=True)
        at = f"at config {short(started.applied_sha)}"
        await self._tell_manager(name, by, f"restarted {name}", f"by {who(by)} {at}")
        await self._notices.tell(
            name, notice("restarted", f"You were restarted by {who(by)} {at}.")
        )
        return self.agents.get(name)

    async def update(self, name: object, *, by: str) -> Agent:
        """Rebuild from applied ``main`` (e.g. after `needs_update`) and restart if it ran."""
        name = self._target(name, by)
        sha = await self.repos.running_sha(name)
        if sha is None:
            raise Refused(f"agent {name!r} has no deployed config to update from")
        async with self._operation(name, AgentState.REBUILDING, "update", by) as agent:
            was_up = agent.state in UP_STATES or agent.state is AgentState.CRASHED
            await self._export(name, sha)
            await self._rebuild(agent, restart=was_up)
            updated = await self.agents.update(name, applied_sha=sha, stale=0)
        await self._builds.check(self.runtime, updated, after_build=True)
        at = f"at config {short(sha)}"
        await self._tell_manager(name, by, f"updated {name}", f"rebuilt by {who(by)} {at}")
        await self._notices.tell(name, notice("redeployed", f"You were rebuilt by {who(by)} {at}."))
        return self.agents.get(name)

    async def destroy(self, name: object, *, by: str, purge: bool = False) -> None:
        """Stop and remove the container; keep its state as a tombstone (or purge it)."""
        name = validate_agent_name(name, allow_manager=True)
        if name == MANAGER:
            raise Refused("the manager cannot be destroyed")
        self.agents.get(name)
        async with self._operation(name, AgentState.DESTROYING, "destroy", by):
            self._cancel_restart(name)
            await self.runtime.stop(name)
            await self.runtime.destroy(name)
            await self.unlisten(name)
            self.broker.forget(name)
            await self.agents.set_state(name, AgentState.DESTROYED)
        kept = "its state is kept"
        try:
            if purge:
                await self.purge(name, by=by)
                kept = "its state is purged"
        finally:
            await self._tell_manager(name, by, f"destroyed {name}", f"by {who(by)}; {kept}")

    async def purge(self, name: object, *, by: str) -> None:
        """Wipe a tombstone: config, state, creds, applied repo."""
        name = validate_agent_name(name)
        agent = self.agents.find(name)
        if agent is None and not await self.repos.exists(name):
            raise NotFound(f"no kept state for {name!r}")
        if agent is not None and agent.state is not AgentState.DESTROYED:
            raise Refused(f"agent {name!r} is not destroyed: destroy it first")
        async with self._lock(name):
            remote = self.runtime.remote(name) if isinstance(self.runtime, HostRouter) else None
            if remote is not None:
                # the host's copy first: unreachable, nothing here is forgotten either
                await remote.purge(name)
            await self.repos.remove(name)
            safefs.remove(self.settings.agents_root, name)
            if agent is not None:
                await self.agents.delete(name)
            if self.hosts is not None:
                await self.hosts.unplace(name)
        await self._record(by, "purge", name, {})

    async def exec(self, name: object, argv: Sequence[str], *, by: str) -> Completed:
        """Run a command inside the agent's container."""
        name = self._target(name, by)
        if not argv or not all(isinstance(a, str) for a in argv):
            raise InvalidInput("exec needs a non-empty list of strings")
        await self._record(by, "exec", name, {"argv": list(argv)[:20]})
        return await self.runtime.exec(name, list(argv), timeout=300)

    # --- start-up and the crash watcher ----------------------------------------------
    async def reconcile(self) -> None:
        """Turn what a crash left behind into the truth; adopt or start the agents."""
        for agent in self.agents.live():
            if agent.state is AgentState.DRAFT:
                continue
            try:
                status = await self.runtime.status(agent.name)
            except HyperhiveError as exc:
                logger.error("status of %s failed: %s", agent.name, exc)
                continue
            running = status.state is ContainerState.RUNNING
            if agent.state.transient:
                state = AgentState.RUNNING if running else AgentState.STOPPED
                await self.agents.set_state(agent.name, state, "recovered after a restart")
                agent = self.agents.get(agent.name)
            self.broker.requeue(agent.name)
            if agent.state in UP_STATES | {AgentState.CRASHED} and not running:
                if self.tree_dir(agent.name).exists():
                    with contextlib.suppress(HyperhiveError):
                        await self.start(agent.name, by=SYSTEM)
            await self._builds.check(self.runtime, self.agents.get(agent.name))

    async def check_once(self) -> None:
        """One pass of the crash watcher."""
        now = self.clock()
        for agent in self.agents.live():
            if agent.state not in UP_STATES or self.busy(agent.name):
                continue
            try:
                status = await self.runtime.status(agent.name)
            except HyperhiveError:
                continue
            if status.state is ContainerState.RUNNING:
                crashes = self._crashes.get(agent.name)
                if crashes and now - crashes.last > 60:
                    crashes.count = 0
                continue
            await self._crashed(agent, status.detail)

    async def _crashed(self, agent: Agent, detail: str) -> None:
        crashes = self._crashes.setdefault(agent.name, _Crashes())
        crashes.count += 1
        crashes.last = self.clock()
        delay = min(self.settings.restart_backoff_max_seconds, 2.0 ** (crashes.count - 1))
        reason = f"container exited{': ' + detail if detail else ''}; restart in {delay:g}s"
        await self.agents.set_state(agent.name, AgentState.CRASHED, reason)
        self.broker.requeue(agent.name)
        self.events.publish(
            "agent.crashed", {"name": agent.name, "reason": reason, "crashes": crashes.count}
        )
        await self._record(SYSTEM, "crashed", agent.name, {"reason": reason}, "failed")
        await self._tell_manager(agent.name, SYSTEM, f"crashed {agent.name}", reason)
        self._cancel_restart(agent.name)
        crashes.restart = asyncio.create_task(self._restart_later(agent.name, delay))

    async def _restart_later(self, name: str, delay: float) -> None:
        await asyncio.sleep(delay)
        agent = self.agents.find(name)
        if agent is None or agent.state is not AgentState.CRASHED:
            return
        try:
            await self.start(name, by=SYSTEM)
        except HyperhiveError as exc:
            logger.error("restart of %s failed: %s", name, exc)

    def _cancel_restart(self, name: str) -> None:
        crashes = self._crashes.get(name)
        if crashes and crashes.restart and not crashes.restart.done():
            if crashes.restart is not asyncio.current_task():
                crashes.restart.cancel()

    # --- helpers -------------------------------------------------------------------
    async def _tell_manager(
        self, about: str, by: str, head: str, remark: str, detail: str = ""
    ) -> None:
        """Tell the manager what happened to ``about``, unless the manager did it itself."""
        if by != MANAGER:
            await self._notices.tell_manager(about, notice(head, remark, detail=detail))

    async def _record(
        self, actor: str, action: str, target: str, detail: dict[str, Any], result: str = "ok"
    ) -> None:
        await record_done(self.audit, actor, f"lifecycle.{action}", target, detail, result)
