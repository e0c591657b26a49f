"""RPC methods about agents and the daemon itself."""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING, Any

from hyperhive import __version__
from hyperhive.core.protocol import Caller, Registry, Scope

if TYPE_CHECKING:
    from hyperhive.core.hive import Hive


def register(reg: Registry, hive: Hive) -> None:
    started = time.time()

    @reg.method("agents.list", Scope.HOST, Scope.MANAGER)
    async def list_agents(caller: Caller) -> Any:
        """Every live agent with its state and inbox depth."""
        return {"agents": [hive.agents.describe(a) for a in hive.agents.live()]}

    @reg.method("agent.whoami", Scope.AGENT)
    async def whoami(caller: Caller) -> Any:
        """The calling agent's own record."""
        return hive.agents.describe(hive.agents.get(caller.name))

    @reg.method("daemon.status", Scope.HOST)
    async def status(caller: Caller) -> Any:
        """Version, pid, uptime, runtime and directories of the daemon."""
        return {
            "version": __version__,
            "pid": os.getpid(),
            "uptime": time.time() - started,
            "runtime": hive.settings.runtime,
            "state_dir": str(hive.settings.state_dir),
            "run_dir": str(hive.settings.run_dir),
            "agents": len(hive.agents.live()),
            "subscribers": hive.events.subscriber_count,
        }
