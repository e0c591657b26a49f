"""RPC methods about agents and the daemon itself."""

from __future__ import annotations

import asyncio
import os
import time
from typing import TYPE_CHECKING

from hyperhive import __version__
from hyperhive.core import safefs
from hyperhive.core.errors import NotFound
from hyperhive.core.names import validate_agent_name
from hyperhive.core.protocol import Caller, Registry, Scope, p
from hyperhive.core.replies import (
    AgentsReply,
    DaemonStatus,
    ModelReply,
    NotesReply,
    WhoamiReply,
    agent_row,
    database_use,
)
from hyperhive.core.runtimes import isolated

if TYPE_CHECKING:
    from hyperhive.core.hive import Hive


NOTES_MAX = 1024 * 1024


def register(reg: Registry, hive: Hive) -> None:
    started = time.time()

    @reg.method("agents.list", Scope.HOST, Scope.MANAGER)
    async def list_agents(caller: Caller) -> AgentsReply:
        """Every live agent with its state and inbox depth."""
        return {"agents": [agent_row(hive.agents.describe(a)) for a in hive.agents.live()]}

    @reg.method("agents.notes", Scope.HOST, name=p(str))
    async def notes(caller: Caller, name: str) -> NotesReply:
        """An agent's durable notes (``/state/notes.md``), at most 1 MiB."""
        agent = hive.agents.find(validate_agent_name(name, allow_manager=True))
        if agent is None:
            raise NotFound(f"no agent named {name!r}")
        state = hive.settings.agent_state_dir(agent.name)

        def read() -> tuple[str, int]:
            # the agent's to write: never a link, a FIFO or more than NOTES_MAX bytes
            try:
                data = safefs.read_regular(state, "notes.md", NOTES_MAX + 1)
            except FileNotFoundError:
                return "", 0
            return data[:NOTES_MAX].decode(errors="replace"), len(data)

        text, size = await asyncio.to_thread(read)
        return {"name": agent.name, "text": text, "truncated": size > NOTES_MAX}

    @reg.method("agent.whoami", Scope.AGENT)
    async def whoami(caller: Caller) -> WhoamiReply:
        """The calling agent's own record, the hyperhive version and who the operator is."""
        me = agent_row(hive.agents.describe(hive.agents.get(caller.name)))
        settings = hive.settings
        return {
            **me,
            "version": __version__,
            "operator_name": settings.operator_name,
            "operator_pronouns": settings.operator_pronouns,
        }

    @reg.method(
        "agents.set_model", Scope.HOST, decides=True, name=p(str), model=p(str, None, default=None)
    )
    async def set_model(caller: Caller, name: str, model: str | None) -> ModelReply:
        """Override an agent's model from its next turn; ``model`` null clears the override.

        A newly deployed config clears it too."""
        name = validate_agent_name(name, allow_manager=True)
        if model is None:
            cleared = await hive.overrides.clear_model(name, by=caller.actor)
            return {"agent": name, "model": None, "cleared": cleared}
        done = await hive.overrides.set_model(name, model, by=caller.actor)
        return {"agent": done["agent"], "model": done["model"]}

    @reg.method("daemon.status", Scope.HOST)
    async def status(caller: Caller) -> DaemonStatus:
        """Version, pid, uptime, runtime (and whether it isolates agents), directories,
        and the database against its watermark."""
        hive.watermark.refresh()
        return {
            "version": __version__,
            "pid": os.getpid(),
            "uptime": time.time() - started,
            "runtime": hive.settings.runtime,
            "isolated": isolated(hive.settings.runtime),
            "database": database_use(hive.watermark.to_json()),
            "state_dir": str(hive.settings.state_dir),
            "run_dir": str(hive.settings.run_dir),
            "agents": len(hive.agents.live()),
            "subscribers": hive.events.subscriber_count,
        }
