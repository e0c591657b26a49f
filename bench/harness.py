"""Harness benchmark: operator message → model request, warm and cold, on the real bundled CLI.

Runs a real daemon (``--no-swarm``), a real harness (``python -I -m hyperhive agent
serve``) with the Claude driver on the Claude Code CLI bundled with claude-agent-sdk,
and the scripted Messages API (`tests.support.fake_anthropic`) in this process. Per
turn it measures the time from the operator's ``messages.send`` to the model request
reaching the API:

* **warm**: the agent's session stays connected between turns (the default);
* **cold**: ``HYPERHIVE_CLAUDE_IDLE_SECONDS=0`` closes it after every turn, so each turn
  starts the CLI and resumes the conversation by session id;

then a hyperhive tool round trip through the model (tool_use → CLI → in-process MCP
tool → daemon → tool result in the next request), and the resident memory of one warm,
idle session (the CLI's process tree).

    python bench/harness.py [--turns 12] [--cold-turns 6] [--json]
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
from hyperhive.agent.drivers.claude_options import bundled_cli  # noqa: E402
from hyperhive.core.client import HiveClient  # noqa: E402
from hyperhive.core.hive import Hive  # noqa: E402
from hyperhive.core.models import AgentState  # noqa: E402
from hyperhive.core.settings import Settings  # noqa: E402
from tests.support.daemon import DaemonProcess  # noqa: E402
from tests.support.fake_anthropic import FakeAnthropic, text, tool_use  # noqa: E402

WARMUP = 2


def harness_env(settings: Settings, root: Path, api: FakeAnthropic, idle: float) -> dict[str, str]:
    for sub in ("state", "etc", "creds"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    short = Path(tempfile.mkdtemp(prefix="hh-cc-", dir="/tmp"))
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": "C.UTF-8",
        "HOME": str(root / "creds"),
        "CLAUDE_CODE_TMPDIR": str(short),
        "DISABLE_TELEMETRY": "1",
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        "CLAUDE_CODE_MAX_RETRIES": "0",
        "ANTHROPIC_BASE_URL": api.base_url,
        "ANTHROPIC_API_KEY": "bench",
        "HYPERHIVE_AGENT": "alice",
        "HYPERHIVE_ROLE": "agent",
        "HYPERHIVE_DRIVER": "claude",
        "HYPERHIVE_MODEL": "claude-test-1",
        "HYPERHIVE_SOCKET": str(settings.agent_socket("alice")),
        "HYPERHIVE_STATE": str(root / "state"),
        "HYPERHIVE_ETC": str(root / "etc"),
        "HYPERHIVE_CREDS": str(root / "creds"),
        "HYPERHIVE_CLAUDE_IDLE_SECONDS": str(idle),
    }


async def one_turn(host: HiveClient, api: FakeAnthropic, body: str) -> float:
    """Send ``body`` to alice; ms until its first model request; wait for the turn's end."""
    seen = len(api.main_requests)
    t0 = time.time()
    await host.call("messages.send", to="alice", body=body)
    async with asyncio.timeout(120):
        await api.wait_for_requests(seen + 1)
        while True:
            event = await host.next_event(120)
            if event["event"] == "turn.ended" and event["data"].get("agent") == "alice":
                if event["data"].get("exit_class") not in ("ok", "compact_retry"):
                    raise RuntimeError(f"turn failed: {event['data']}")
                break
    return (api.main_requests[seen].ts - t0) * 1000


def tree_rss_kib(pid: int) -> int:
    """Resident memory of ``pid``'s descendants (not ``pid`` itself), in KiB."""
    total = 0
    for child in _children(pid):
        total += _rss(child) + tree_rss_kib(child)
    return total


def _children(pid: int) -> list[int]:
    out: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            out += [int(x) for x in (task / "children").read_text().split()]
        except OSError:
            continue
    return out


def _rss(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


async def run_phase(
    settings: Settings, tmp: Path, idle: float, turns: int, tool_turns: int
) -> dict[str, Any]:
    """One harness life: ``turns`` plain turns, then ``tool_turns`` with a tool call."""
    async with FakeAnthropic([]) as api:
        env = harness_env(settings, tmp / f"alice-{idle:g}", api, idle)
        log = open(tmp / f"harness-{idle:g}.log", "wb")  # noqa: SIM115
        harness = await asyncio.create_subprocess_exec(
            sys.executable, "-I", "-m", "hyperhive", "agent", "serve",
            env=env, stdout=log, stderr=log, cwd=env["HYPERHIVE_STATE"],
        )  # fmt: skip
        host = await HiveClient.connect(settings.host_socket)
        await host.subscribe(["turn.ended"])
        try:
            latencies = [await one_turn(host, api, f"turn {i}") for i in range(turns + WARMUP)]
            rss = tree_rss_kib(harness.pid) if idle else 0
            harness_rss = _rss(harness.pid)
            round_trips = []
            for i in range(tool_turns):
                api.script += [tool_use("mcp__hyperhive__whoami", {}), text("done")]
                seen = len(api.main_requests)
                await one_turn(host, api, f"tool turn {i}")
                first, second = api.main_requests[seen : seen + 2]
                round_trips.append((second.ts - first.ts) * 1000)
        finally:
            await host.close()
            harness.send_signal(signal.SIGTERM)
            await harness.wait()
            log.close()
            shutil.rmtree(env["CLAUDE_CODE_TMPDIR"], ignore_errors=True)
    return {
        "latency": latencies[WARMUP:],
        "rss_kib": rss,
        "harness_rss_kib": harness_rss,
        "round_trips": round_trips,
    }


async def measure(turns: int, cold_turns: int, tool_turns: int) -> list[Figure]:
    if bundled_cli() is None:
        raise SystemExit("claude-agent-sdk with its bundled CLI is not installed")
    tmp = Path(tempfile.mkdtemp(prefix="hh-bh-", dir="/tmp"))
    try:
        settings = Settings(state_dir=tmp / "state", run_dir=tmp / "run", runtime="process")
        async with Hive.open(settings, serve=False) as hive:
            await hive.create_agent("alice")
            await hive.agents.set_state("alice", AgentState.RUNNING)
        daemon = DaemonProcess(settings, "--no-swarm")
        await daemon.start()
        try:
            warm = await run_phase(settings, tmp, 600.0, turns, tool_turns)
            cold = await run_phase(settings, tmp, 0.0, cold_turns, 0)
        finally:
            daemon.stop()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    p_warm, p_cold = median(warm["latency"]), median(cold["latency"])
    return [
        Figure("message → model request, warm p50", p_warm, "ms", "≤ 50 ms", None, p_warm <= 50),
        Figure("message → model request, warm p95", percentile(warm["latency"], 95), "ms"),
        Figure("message → model request, cold p50", p_cold, "ms", "", p_warm),
        Figure("hyperhive tool round trip via the model p50", median(warm["round_trips"]), "ms"),
        Figure("RSS of one warm idle session (CLI tree)", warm["rss_kib"] / 1024, "MiB"),
        Figure("RSS of the harness itself", warm["harness_rss_kib"] / 1024, "MiB"),
    ]  # fmt: skip


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--turns", type=int, default=12, help="warm turns to time")
    parser.add_argument("--cold-turns", type=int, default=6, help="cold turns to time")
    parser.add_argument("--tool-turns", type=int, default=6, help="tool round trips to time")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    figures = asyncio.run(measure(args.turns, args.cold_turns, args.tool_turns))
    return report(f"harness (pid {os.getpid()}, {os.cpu_count()} cores)", figures, args.json)


if __name__ == "__main__":
    main()
