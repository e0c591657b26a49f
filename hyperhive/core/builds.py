"""What an agent's container was built with, and whether that makes it stale.

Every build (`Lifecycle` calls ``runtime.create``) records the hyperhive version that
made it and the runtime's inputs (`runtimes.build_inputs`: the runtime's name, and for
nixos the hyperhive flake). At start-up, after an upgrade, the daemon compares each
agent's record with itself: an agent built by another version, or with other inputs,
or running an older config than applied ``main``, needs an update (the agent's
``stale`` flag). Each reason has a key, so the manager is told once per reason, not at
every start.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import hyperhive
from hyperhive.core.agents import AgentRegistry
from hyperhive.core.errors import HyperhiveError
from hyperhive.core.events import EventBus
from hyperhive.core.models import Agent
from hyperhive.core.names import SYSTEM
from hyperhive.core.notices import Notices, notice
from hyperhive.core.repos import Repos
from hyperhive.core.runtimes import build_inputs
from hyperhive.core.runtimes.base import AgentSpec, Runtime
from hyperhive.core.store.agents import Build

logger = logging.getLogger(__name__)


def build_stamp(runtime: Runtime) -> tuple[str, str]:
    """``(version, inputs)`` a build made now records: this hyperhive and its runtime."""
    return hyperhive.__version__, build_inputs(runtime)


def short(sha: str | None) -> str:
    """A commit as a notice names it: its first 12 hex digits (``-`` for none)."""
    return sha[:12] if sha else "-"


def stale_reason(
    applied_sha: str | None, main: str | None, built: Build, stamp: tuple[str, str]
) -> tuple[str, str] | None:
    """``(key, why)`` an agent needs an update, or None.

    Args:
        applied_sha: the config the agent was built from.
        main: where applied ``main`` points now.
        built: what its container was built with.
        stamp: what a build made now would record (`build_stamp`).
    """
    if main is not None and main != applied_sha:
        return f"config {main}", f"runs an older config than applied main ({short(main)})"
    if applied_sha is None:
        return None  # never built from a config: nothing to rebuild
    version, inputs = stamp
    if (built.version, built.inputs) == (version, inputs):
        return None
    was = f"hyperhive {built.version} ({built.inputs})" if built.version else "an older hyperhive"
    return f"build {version} {inputs}", f"was built by {was}; this is {version} ({inputs})"


@dataclass
class Builds:
    """Builds containers, recording what with, and flags the agents that need an update."""

    agents: AgentRegistry
    repos: Repos
    events: EventBus
    notices: Notices
    record: Callable[[str, str, str, dict[str, Any]], Awaitable[None]]  # the audit

    async def create(self, runtime: Runtime, spec: AgentSpec) -> None:
        """Build the container on ``runtime`` and record what it was built with."""
        await runtime.create(spec)
        await self.agents.record_build(spec.name, *build_stamp(runtime))

    async def check(self, runtime: Runtime, agent: Agent, *, after_build: bool = False) -> None:
        """Flag ``agent`` (built on ``runtime``) stale or not; once per reason, say so.

        ``after_build``: the action that built it is done; a failure here is only logged.
        """
        try:
            main = await self.repos.running_sha(agent.name)
        except HyperhiveError as exc:
            if not after_build:
                raise
            logger.error("cannot tell whether %s is stale: %s", agent.name, exc)
            return
        built = self.agents.build(agent.name)
        reason = stale_reason(agent.applied_sha, main, built, build_stamp(runtime))
        if (reason is not None) != agent.stale:
            agent = await self.agents.update(agent.name, stale=int(reason is not None))
        if reason is None:
            await self.agents.set_told(agent.name, "")
            return
        key, why = reason
        if self.agents.build(agent.name).told == key:
            return  # told before (at an earlier start): once is enough
        await self.agents.set_told(agent.name, key)
        self.events.publish("agent.needs_update", {"name": agent.name, "reason": why})
        await self.record(SYSTEM, "needs_update", agent.name, {"reason": why})
        text = notice(f"needs_update {agent.name}", f"{why}; `update` rebuilds it")
        await self.notices.tell_manager(agent.name, text)
