"""RPC methods of the agent lifecycle and the kept state (tombstones)."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from hyperhive.core.errors import HyperhiveError, Refused
from hyperhive.core.protocol import Caller, Registry, Scope, p
from hyperhive.core.replies import (
    AgentRow,
    KeptReply,
    KeptRow,
    SpawnReply,
    agent_record,
    agent_row,
    approval_row,
)
from hyperhive.core.runtimes.routed import HostRouter
from hyperhive.core.safefs import dir_size, has_entries

if TYPE_CHECKING:
    from hyperhive.core.hive import Hive


def register(reg: Registry, hive: Hive) -> None:
    life = hive.lifecycle

    def described(name: str) -> AgentRow:
        return agent_row(hive.agents.describe(hive.agents.get(name)))

    @reg.method("lifecycle.spawn", Scope.HOST, decides=True, name=p(str))
    async def spawn(caller: Caller, name: str) -> SpawnReply:
        """Operator spawn: request and approve in one step; returns after the build."""
        approval = await hive.approvals.request_spawn(name, by=caller.actor)
        done = await hive.approvals.approve(approval.id, by=caller.actor, wait=True)
        if done.status.value != "deployed":
            raise Refused(f"spawn of {name!r} failed: {done.error or done.status.value}")
        return {"approval": approval_row(done.to_json()), "agent": described(name)}

    @reg.method("lifecycle.start", Scope.HOST, Scope.MANAGER, decides=True, name=p(str))
    async def start(caller: Caller, name: str) -> AgentRow:
        """Start a stopped or crashed agent."""
        return agent_row(hive.agents.describe(await life.start(name, by=caller.actor)))

    @reg.method("lifecycle.kill", Scope.HOST, Scope.MANAGER, decides=True, name=p(str))
    async def kill(caller: Caller, name: str) -> AgentRow:
        """Stop an agent gracefully; its messages wait for it."""
        return agent_row(hive.agents.describe(await life.kill(name, by=caller.actor)))

    @reg.method("lifecycle.restart", Scope.HOST, Scope.MANAGER, decides=True, name=p(str))
    async def restart(caller: Caller, name: str) -> AgentRow:
        """Restart an agent's container."""
        return agent_row(hive.agents.describe(await life.restart(name, by=caller.actor)))

    @reg.method("lifecycle.update", Scope.HOST, Scope.MANAGER, decides=True, name=p(str))
    async def update(caller: Caller, name: str) -> AgentRow:
        """Rebuild an agent from its applied config (after needs_update)."""
        return agent_row(hive.agents.describe(await life.update(name, by=caller.actor)))

    @reg.method(
        "lifecycle.destroy", Scope.HOST, decides=True, name=p(str), purge=p(bool, default=False)
    )
    async def destroy(caller: Caller, name: str, purge: bool) -> Any:
        """Destroy an agent's container; keep its state unless ``purge``."""
        await life.destroy(name, by=caller.actor, purge=purge)
        return {"destroyed": name, "purged": purge}

    @reg.method("lifecycle.purge", Scope.HOST, decides=True, name=p(str))
    async def purge(caller: Caller, name: str) -> Any:
        """Wipe a tombstone's kept state."""
        await life.purge(name, by=caller.actor)
        return {"purged": name}

    @reg.method("lifecycle.exec", Scope.HOST, decides=True, name=p(str), argv=p(list))
    async def exec_(caller: Caller, name: str, argv: list[Any]) -> Any:
        """Run a command in an agent's container to completion."""
        done = await life.exec(name, argv, by=caller.actor)
        return {"returncode": done.returncode, "stdout": done.stdout, "stderr": done.stderr}

    @reg.method("kept.list", Scope.HOST)
    async def kept(caller: Caller) -> KeptReply:
        """Tombstones: destroyed agents whose config, state and creds are kept."""
        out: list[KeptRow] = []
        for agent in hive.agents.tombstones():
            size, creds = await kept_usage(hive, agent.name)
            out.append(
                {
                    **agent_record(agent.to_json()),
                    "sha": await hive.repos.running_sha(agent.name),
                    "destroyed_at": agent.updated_at,
                    "size": size,
                    "has_creds": creds,
                }
            )
        return {"kept": out}


async def kept_usage(hive: Hive, name: str) -> tuple[int, bool]:
    """Bytes kept for a tombstone (its agent dir, links not followed) and whether creds exist.

    An agent that ran on another host keeps its state there: that host measures it (-1 and
    no creds while it is unreachable: unknown, not empty).
    """
    runtime = hive.runtime
    remote = runtime.remote(name) if isinstance(runtime, HostRouter) else None
    if remote is not None:
        try:
            return await remote.usage(name)
        except HyperhiveError:
            return -1, False

    def here() -> tuple[int, bool]:
        size = dir_size(hive.settings.agent_dir(name))
        return size, has_entries(hive.settings.creds_dir(name))

    return await asyncio.to_thread(here)
