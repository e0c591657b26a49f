"""Which driver an agent runs, built from its `AgentEnv`, and the prompt it runs with.

`make_driver` builds the turn driver and the one notes compaction uses, both with
hyperhive's tools served in this process (`hyperhive.agent.sdk_tools`): the Claude driver
hands them to the CLI through the Agent SDK, the scripted one calls them as an MCP client.
"""

from __future__ import annotations

from dataclasses import replace
from importlib import resources
from typing import Any

from hyperhive.agent.config import AgentEnv
from hyperhive.agent.drivers.base import Driver, ExitClass, TurnResult
from hyperhive.core.errors import InvalidInput


def system_prompt(env: AgentEnv) -> str:
    """The appended system prompt: the role's prompt, then the agent's own prompt.md."""
    name = "manager.md" if env.is_manager else "agent.md"
    text = resources.files("hyperhive.agent").joinpath("prompts", name).read_text()
    text = text.replace("{name}", env.name)
    if env.prompt_extra.strip():
        text += "\n\n# Your own instructions (prompt.md)\n\n" + env.prompt_extra.strip() + "\n"
    return text


class UnusableDriver:
    """Stands in for a driver whose config is broken: its state says why, it never runs."""

    def __init__(self, reason: str) -> None:
        self.reason = reason

    async def check(self) -> tuple[ExitClass | None, str]:
        return ExitClass.DRIVER_MISSING, self.reason

    async def run_turn(
        self, prompt: str, *, on_event: Any, new_session: bool = False
    ) -> TurnResult:
        return TurnResult(ExitClass.DRIVER_MISSING, error=self.reason)

    def cancel(self) -> None:
        return None


class IdleDriver:
    """The scripted driver without a script: every turn ends at once, doing nothing."""

    async def check(self) -> tuple[ExitClass | None, str]:
        return None, "scripted driver without a script: idle"

    async def run_turn(
        self, prompt: str, *, on_event: Any, new_session: bool = False
    ) -> TurnResult:
        return TurnResult(ExitClass.OK)

    def cancel(self) -> None:
        return None


def make_driver(env: AgentEnv, tools_out: list[Any] | None = None) -> tuple[Driver, Driver | None]:
    """The turn driver of ``env.driver`` and the one notes compaction uses (None: no compaction).

    ``tools_out`` receives the `HiveTools` the driver's tool server uses, so the harness can
    acknowledge exactly the messages the model took with ``recv``.
    """
    from hyperhive.agent.sdk_tools import hive_server

    try:
        if env.driver == "scripted":
            from hyperhive.agent.drivers.scripted import ScriptedDriver

            if env.script is None:
                return IdleDriver(), None
            server, link = hive_server(env.socket, manager=env.is_manager, etc_dir=env.etc_dir)
            if tools_out is not None:
                tools_out.append(server.hive_tools)
            scripted = ScriptedDriver(
                env.script,
                mcp=server,
                name=env.name,
                state_dir=env.state_dir,
                agents_root=env.agents_root,
                closing=[link],
            )
            return scripted, None
        from hyperhive.agent.drivers.claude import ClaudeConfig, ClaudeDriver
        from hyperhive.agent.drivers.claude_session import POOL

        server, link = hive_server(env.socket, manager=env.is_manager, etc_dir=env.etc_dir)
        if tools_out is not None:
            tools_out.append(server.hive_tools)
        write_dirs = (env.state_dir, env.agents_root) if env.is_manager else (env.state_dir,)
        config = ClaudeConfig(
            cwd=env.state_dir,
            hyperhive_server=server,
            binary=env.claude_bin,
            model=env.model,
            system_prompt=system_prompt(env),
            extra_mcp_servers=env.extra_mcp_servers,
            allowed_bash=env.allowed_bash,
            write_dirs=write_dirs,
            auto_compact=env.auto_compact,
            rate_limit_backoff_seconds=env.rate_limit_backoff_seconds,
            turn_timeout_seconds=env.turn_timeout_seconds or None,
            idle_seconds=env.claude_idle_seconds,
        )
        POOL.cap = env.claude_max_warm
        notes = ClaudeDriver(replace(config, persist_session=False, compact_retries=0))
        return ClaudeDriver(config, closing=[link]), notes
    except InvalidInput as exc:
        return UnusableDriver(f"bad driver config: {exc.message}"), None
