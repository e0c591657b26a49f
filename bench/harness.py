"""Harness benchmark: per-turn overhead, MCP tool round trip, and the relay's spawn→ready time.

Runs a real daemon (``--no-swarm``) and a real harness (``hyperhive agent serve``) with
the Claude driver pointed at a fake ``claude`` (a bash script that stamps the time it
starts and exits, and prints one stream-json result). Per turn it measures:

* inbox message → driver process started (operator send → the fake CLI's first line)
* driver exit → stats stored (the CLI's last line → ``stats.recorded`` reaches the host)

then, through the MCP relay the CLI would start, the tool call round trip (``whoami``:
tool call → relay → harness → daemon → back) and how long the relay takes from spawn to
an initialized MCP session, next to the standalone server (the SDK import).

    python bench/harness.py [--turns 30] [--calls 500] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import Figure, median, percentile, report  # noqa: E402
from hyperhive.core.client import HiveClient  # noqa: E402
from hyperhive.core.hive import Hive  # noqa: E402
from hyperhive.core.models import AgentState  # noqa: E402
from hyperhive.core.settings import Settings  # noqa: E402
from tests.support.daemon import DaemonProcess  # noqa: E402

FAKE_CLAUDE = """#!/bin/bash
if [ "$1" = "--version" ]; then echo "2.0.0 (fake)"; exit 0; fi
echo "start $EPOCHREALTIME" >> "$BENCH_LOG"
echo '{"type":"system","subtype":"init","session_id":"s","model":"fake","tools":[]}'
echo '{"type":"result","subtype":"success","is_error":false,"result":"ok","duration_ms":1,'\
'"total_cost_usd":0.001,"num_turns":1,"usage":{"input_tokens":3,"output_tokens":2}}'
echo "end $EPOCHREALTIME" >> "$BENCH_LOG"
"""


def harness_env(settings: Settings, root: Path, log: Path) -> dict[str, str]:
    for sub in ("state", "etc", "creds", "bin"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    claude = root / "bin" / "claude"
    claude.write_text(FAKE_CLAUDE)
    claude.chmod(0o755)
    return {
        **os.environ,
        "PATH": f"{root / 'bin'}:{os.environ.get('PATH', '')}",
        "HOME": str(root / "creds"),
        "ANTHROPIC_API_KEY": "bench",  # the fake CLI needs no login; the driver checks for one
        "BENCH_LOG": str(log),
        "HYPERHIVE_AGENT": "alice",
        "HYPERHIVE_ROLE": "agent",
        "HYPERHIVE_DRIVER": "claude",
        "HYPERHIVE_SOCKET": str(settings.agent_socket("alice")),
        "HYPERHIVE_STATE": str(root / "state"),
        "HYPERHIVE_ETC": str(root / "etc"),
        "HYPERHIVE_CREDS": str(root / "creds"),
        "HYPERHIVE_MCP_SOCKET": str(settings.run_dir / "alice-mcp.sock"),
    }


def stamps(log: Path) -> list[tuple[str, float]]:
    if not log.exists():
        return []
    out = []
    for line in log.read_text().splitlines():
        kind, _, value = line.partition(" ")
        out.append((kind, float(value)))
    return out


async def turns(settings: Settings, log: Path, n: int) -> tuple[list[float], list[float]]:
    host = await HiveClient.connect(settings.host_socket)
    await host.subscribe(["stats.recorded", "turn.ended"])
    to_start: list[float] = []
    to_stats: list[float] = []
    try:
        for i in range(n + 3):
            before = len(stamps(log))
            t0 = time.time()
            await host.call("messages.send", to="alice", body=f"turn {i}")
            while True:
                event = await host.next_event(30)
                if event["event"] == "stats.recorded" and event["data"].get("agent") == "alice":
                    break
            t_stats = time.time()
            got = stamps(log)[before:]
            start = next(t for k, t in got if k == "start")
            end = next(t for k, t in got if k == "end")
            if i >= 3:  # warm-up
                to_start.append((start - t0) * 1000)
                to_stats.append((t_stats - end) * 1000)
            # let turn.ended and the next recv settle before the next message
            await asyncio.sleep(0.05)
    finally:
        await host.close()
    return to_start, to_stats


async def spawn_floor(log: Path, env: dict[str, str], n: int) -> list[float]:
    """The bare cost of starting the fake CLI: spawn → its first line."""
    samples = []
    claude = shutil.which("claude", path=env["PATH"])
    assert claude is not None
    for _ in range(n):
        before = len(stamps(log))
        t0 = time.time()
        proc = await asyncio.create_subprocess_exec(
            claude, env=env, stdout=asyncio.subprocess.DEVNULL, stdin=asyncio.subprocess.DEVNULL
        )
        await proc.wait()
        start = next(t for k, t in stamps(log)[before:] if k == "start")
        samples.append((start - t0) * 1000)
    return samples


async def mcp_session(command: list[str], env: dict[str, str]) -> tuple[float, Any, Any]:
    from mcp.client.session import ClientSession
    from mcp.client.stdio import StdioServerParameters, stdio_client

    params = StdioServerParameters(command=command[0], args=command[1:], env=env)
    t0 = time.perf_counter()
    transport = stdio_client(params)
    read, write = await transport.__aenter__()
    session = ClientSession(read, write)
    await session.__aenter__()
    await session.initialize()
    return (time.perf_counter() - t0) * 1000, transport, session


async def close_session(transport: Any, session: Any) -> None:
    await session.__aexit__(None, None, None)
    await transport.__aexit__(None, None, None)


async def mcp_figures(
    env: dict[str, str], calls: int, spawns: int
) -> tuple[list[float], list[float], list[float]]:
    relay = [sys.executable, "-m", "hyperhive.agent.mcp_relay", "--socket"]
    relay.append(env["HYPERHIVE_MCP_SOCKET"])
    ready = []
    for _ in range(spawns):
        ms, transport, session = await mcp_session(relay, env)
        ready.append(ms)
        await close_session(transport, session)
    ms, transport, session = await mcp_session(relay, env)
    rtt = []
    try:
        for i in range(calls + 20):
            t0 = time.perf_counter()
            result = await session.call_tool("whoami", {})
            if i >= 20:
                rtt.append((time.perf_counter() - t0) * 1000)
            assert not result.is_error
    finally:
        await close_session(transport, session)
    direct = []
    standalone = [sys.executable, "-m", "hyperhive.agent.mcp_server"]
    for _ in range(3):
        ms, transport, session = await mcp_session(standalone, env)
        direct.append(ms)
        await close_session(transport, session)
    return ready, rtt, direct


async def measure(n_turns: int, calls: int, spawns: int) -> list[Figure]:
    tmp = Path(tempfile.mkdtemp(prefix="hh-bh-", dir="/tmp"))
    harness: asyncio.subprocess.Process | None = None
    try:
        settings = Settings(state_dir=tmp / "state", run_dir=tmp / "run", runtime="process")
        async with Hive.open(settings, serve=False) as hive:
            await hive.create_agent("alice")
            await hive.agents.set_state("alice", AgentState.RUNNING)
        daemon = DaemonProcess(settings, "--no-swarm")
        await daemon.start()
        log = tmp / "claude.log"
        env = harness_env(settings, tmp / "alice", log)
        try:
            with open(tmp / "harness.log", "wb") as out:
                harness = await asyncio.create_subprocess_exec(
                    sys.executable, "-m", "hyperhive", "agent", "serve",
                    env=env, stdout=out, stderr=out,
                )  # fmt: skip
            to_start, to_stats = await turns(settings, log, n_turns)
            ready, rtt, direct = await mcp_figures(env, calls, spawns)
            floor = await spawn_floor(log, env, 20)
        finally:
            if harness is not None and harness.returncode is None:
                harness.send_signal(signal.SIGTERM)
                await harness.wait()
            daemon.stop()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    p_start, p_stats, p_rtt = median(to_start), median(to_stats), median(rtt)
    p_ready = median(ready)
    return [
        Figure("message → driver started p50", p_start, "ms", "≤ 100 ms", median(floor),
               p_start <= 100),
        Figure("message → driver started p95", percentile(to_start, 95), "ms"),
        Figure("driver exit → stats stored p50", p_stats, "ms", "≤ 100 ms", None, p_stats <= 100),
        Figure("driver exit → stats stored p95", percentile(to_stats, 95), "ms"),
        Figure("MCP tool round trip p50", p_rtt, "ms", "≤ 5 ms", None, p_rtt <= 5),
        Figure("MCP tool round trip p99", percentile(rtt, 99), "ms"),
        Figure("relay spawn → MCP ready p50", p_ready, "ms", "≤ 300 ms", None, p_ready <= 300),
        Figure("standalone server spawn → ready", median(direct), "ms"),
        Figure("floor: spawn the fake CLI", median(floor), "ms"),
    ]  # fmt: skip


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=30, help="turns to time")
    parser.add_argument("--calls", type=int, default=500, help="MCP tool calls to time")
    parser.add_argument("--spawns", type=int, default=10, help="relay spawns to time")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    figures = asyncio.run(measure(args.turns, args.calls, args.spawns))
    return report(f"harness (pid {os.getpid()}, {os.cpu_count()} cores)", figures, args.json)


if __name__ == "__main__":
    main()
