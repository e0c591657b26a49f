"""An agent's harness in tests: in process on a hive, or as `hyperhive agent serve`."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import sys
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from hyperhive.agent.config import AgentEnv
from hyperhive.agent.harness import Harness
from hyperhive.core.hive import Hive
from hyperhive.core.models import AgentState, Role
from hyperhive.core.protocol import Method, Scope, p


def agent_env(hive: Hive, tmp_path: Path, name: str = "alice") -> AgentEnv:
    return AgentEnv(
        name=name,
        role=Role.MANAGER if name == "manager" else Role.AGENT,
        socket=hive.settings.agent_socket(name),
        state_dir=tmp_path / name / "state",
        etc_dir=tmp_path / name / "etc",
        failure_backoff_seconds=0,
        check_interval_seconds=0.01,
        rate_limit_backoff_seconds=0.01,
    )


@contextlib.asynccontextmanager
async def running(hive: Hive, harness: Harness) -> AsyncIterator[None]:
    task = asyncio.create_task(harness.run())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def capture_stats(hive: Hive) -> list[dict[str, float]]:
    """Record what harnesses send to ``stats.record`` (calling the real one if it exists)."""
    seen: list[dict[str, float]] = []
    real = hive.registry.methods.get("stats.record")

    async def record(caller: Any, samples: dict[str, float], **rest: Any) -> Any:
        seen.append(samples)
        if real is None:
            return {"recorded": len(samples)}
        return await real.handler(caller, samples=samples, **rest)

    params = real.params if real else {"samples": p(dict)}
    hive.registry.methods["stats.record"] = Method(
        "stats.record", record, params, frozenset({Scope.AGENT})
    )
    assert hive.server is not None
    hive.server.methods = {scope: hive.registry.for_scope(scope) for scope in Scope}
    return seen


async def prepare(hive: Hive, name: str = "alice") -> None:
    if hive.agents.find(name) is None:
        await hive.create_agent(name)
    await hive.agents.set_state(name, AgentState.RUNNING)


def claude_config(
    binary: str,
    api: Any,
    env: AgentEnv,
    links: list[Any],
    home: Path,
    tmp: Path,
    **extra: Any,
) -> Any:
    """A ClaudeConfig for the real CLI against the scripted API, offline and quiet."""
    from hyperhive.agent.drivers.claude import ClaudeConfig
    from hyperhive.agent.sdk_tools import hive_server

    server, link = hive_server(env.socket, manager=env.is_manager, etc_dir=env.etc_dir)
    links.append(link)
    return ClaudeConfig(
        cwd=env.state_dir,
        hyperhive_server=server,
        binary=binary,
        model="claude-test-1",
        inherit_env=False,
        env={
            "PATH": os.environ["PATH"],
            "HOME": str(home),
            "CLAUDE_CODE_TMPDIR": str(tmp),
            "DISABLE_TELEMETRY": "1",
            "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
            "ANTHROPIC_BASE_URL": api.base_url,
            "ANTHROPIC_API_KEY": "test",
            "CLAUDE_CODE_MAX_RETRIES": "0",
        },
        **extra,
    )


@contextlib.asynccontextmanager
async def claude_harness(
    hive: Hive, tmp_path: Path, script: list[Any], **extra: Any
) -> AsyncIterator[Any]:
    """alice's harness on the real Claude CLI against the scripted API, running; yields it."""
    from hyperhive.agent.drivers.claude import ClaudeDriver
    from tests.support.claude_cli import require_claude
    from tests.support.fake_anthropic import FakeAnthropic

    binary = require_claude()
    await prepare(hive)
    env = agent_env(hive, tmp_path)
    env.state_dir.mkdir(parents=True, exist_ok=True)
    short_tmp = Path(tempfile.mkdtemp(prefix="cc-", dir="/tmp"))
    try:
        async with FakeAnthropic(script) as api:
            links: list[Any] = []
            config = claude_config(binary, api, env, links, tmp_path / "home", short_tmp, **extra)
            driver = ClaudeDriver(config, closing=links)
            tools = [config.hyperhive_server.hive_tools]
            async with running(hive, Harness(env, driver, tools=tools)):
                yield api
    finally:
        shutil.rmtree(short_tmp, ignore_errors=True)


def harness_env(hive: Hive, tmp_path: Path, name: str, script: list[Any]) -> dict[str, str]:
    """The environment the process runtime gives a harness, with a scripted agent.toml."""
    root = tmp_path / name
    applied = root / "applied"
    applied.mkdir(parents=True)
    (applied / "agent.toml").write_text('driver = "scripted"\nscript = "script.json"\n')
    (applied / "script.json").write_text(json.dumps(script))
    for sub in ("state", "etc", "creds"):
        (root / sub).mkdir()
    return {
        **os.environ,
        "HOME": str(root / "creds"),
        "HYPERHIVE_AGENT": name,
        "HYPERHIVE_ROLE": "agent",
        "HYPERHIVE_SOCKET": str(hive.settings.agent_socket(name)),
        "HYPERHIVE_STATE": str(root / "state"),
        "HYPERHIVE_ETC": str(root / "etc"),
        "HYPERHIVE_CREDS": str(root / "creds"),
        "HYPERHIVE_APPLIED": str(applied),
        "HYPERHIVE_FAILURE_BACKOFF": "0",
    }


@contextlib.asynccontextmanager
async def harness_process(env: dict[str, str], log: Path) -> AsyncIterator[None]:
    with open(log, "wb") as out:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-I",
            "-m",
            "hyperhive",
            "agent",
            "serve",
            env=env,
            stdout=out,
            stderr=out,  # fmt: skip
        )
    try:
        yield
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
            try:
                async with asyncio.timeout(10):
                    await proc.wait()
            except TimeoutError:
                proc.kill()
                await proc.wait()
