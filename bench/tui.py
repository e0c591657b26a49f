"""TUI benchmark: first full paint, event→screen latency and memory on a big swarm.

Seeds a state dir (200 agents, 100,000 messages, 500 pending approvals, 10,000 tags
over 20 agents' applied repos), serves it from a daemon in a child process (the hive
without running any agent), then starts the real TUI headless in this process:

* first paint: from building the app to the dashboard showing every agent and the
  message flow, after a full refresh;
* event → screen: from the daemon's reply to a call that publishes an event to the
  row or cell being in the pane's table (a message in the flow, an agent's state);
* memory: this process's resident set size with the TUI up (the daemon is elsewhere).

    python bench/tui.py [--agents 200] [--messages 100000] [--runs 3] [--events 50] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import Figure, median, percentile, report  # noqa: E402
from hyperhive.core.agent_config import default_files  # noqa: E402
from hyperhive.core.client import HiveClient  # noqa: E402
from hyperhive.core.errors import DaemonUnavailable  # noqa: E402
from hyperhive.core.hive import Hive, prepare_dirs  # noqa: E402
from hyperhive.core.models import AgentState, ApprovalKind, Message, Role  # noqa: E402
from hyperhive.core.repos import Repos, Tag  # noqa: E402
from hyperhive.core.settings import Settings  # noqa: E402
from hyperhive.core.store import Store  # noqa: E402
from hyperhive.core.store import agents as agents_q  # noqa: E402
from hyperhive.core.store import approvals as approvals_q  # noqa: E402
from hyperhive.core.store import messages as messages_q  # noqa: E402

TAG_AGENTS = 20
TAG_KINDS = ("proposal", "approved", "building", "deployed", "failed", "denied")


def names(n: int) -> list[str]:
    return [f"a{i:03d}" for i in range(n)]


async def seed(settings: Settings, agents: int, messages: int, approvals: int, tags: int) -> None:
    """Fill the store and the repos directly, the way a long-lived swarm would have."""
    prepare_dirs(settings)
    store = await Store.open(settings.db_path)
    now = time.time()
    who = names(agents)

    def add_agents(db: Any) -> None:
        for name in who:
            agents_q.insert(db, name, Role.AGENT, AgentState.RUNNING, "process", now)

    await store.write(add_agents)
    batch = 10_000
    for start in range(0, messages, batch):
        rows = []
        for i in range(start, min(messages, start + batch)):
            ts = now - (messages - i)
            sender, recipient = who[i % agents], who[(i * 7 + 1) % agents]
            body = f"message {i}: status update about task {i % 97}"
            rows.append(Message(i + 1, ts, sender, recipient, body, None, ts, ts, 1))
        await store.write(messages_q.insert, rows)

    def add_approvals(db: Any) -> None:
        for i in range(approvals):
            approvals_q.insert(db, ApprovalKind.APPLY_COMMIT, who[i % agents], "manager", now)

    await store.write(add_approvals)
    await store.close()
    repos = Repos(settings)
    per_agent = max(1, tags // TAG_AGENTS)
    for name in who[:TAG_AGENTS]:
        await repos.create(name, default_files(name, Role.AGENT))
        head = await repos.proposed_head(name)
        assert head is not None
        sha = await repos.pin(name, head, 1)
        bulk = [
            Tag.make(TAG_KINDS[i % len(TAG_KINDS)], i, sha, f"bench tag {i}", now)
            for i in range(2, per_agent + 1)
        ]
        await repos.create_tags_bulk(name, bulk)


async def serve(settings: Settings) -> None:
    """The daemon side: the hive serving host.sock, no agent running, until SIGTERM."""
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    async with Hive.open(settings):
        print("ready", flush=True)
        await stop.wait()


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


async def wait_ready(settings: Settings, timeout: float = 60.0) -> None:
    async with asyncio.timeout(timeout):
        while True:
            try:
                client = await HiveClient.connect(settings.host_socket, timeout=1)
            except DaemonUnavailable:
                await asyncio.sleep(0.05)
                continue
            await client.close()
            return


async def until(predicate: Callable[[], bool], timeout: float = 30.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.0005)


async def one_run(
    settings: Settings, agents: int, events: int
) -> tuple[float, list[float], list[float], float]:
    """Start the TUI once: its first paint; with ``events``, event latencies and memory."""
    from hyperhive.tui.app import make_app
    from hyperhive.tui.panes.messages import FlowList
    from hyperhive.tui.panes.swarm import SwarmPane

    flow_ms: list[float] = []
    cell_ms: list[float] = []
    rss = 0.0
    t0 = time.perf_counter()
    app = make_app(lambda: HiveClient.connect(settings.host_socket), desktop_notify=False)
    async with app.run_test(size=(160, 48)) as pilot:
        await until(lambda: app.model.connected and app.screen.is_mounted)
        swarm = app.screen.query_one(SwarmPane)
        flow = app.screen.query_one(FlowList)
        await until(lambda: len(swarm.row_keys) >= agents and len(flow.row_keys) > 0)
        await pilot.pause()
        paint = (time.perf_counter() - t0) * 1000
        if not events:
            return paint, flow_ms, cell_ms, rss
        sender = await HiveClient.connect(settings.agent_socket("a000"))
        mover = await HiveClient.connect(settings.agent_socket("a001"))
        for i in range(events):
            sent = await sender.call("messages.send", to="a002", body=f"bench {i}")
            t1 = time.perf_counter()
            key = str(sent["ids"][0])
            await until(lambda: key in flow.row_keys)  # noqa: B023 - awaited at once
            flow_ms.append((time.perf_counter() - t1) * 1000)
            state = "rate_limited" if i % 2 == 0 else "running"
            await mover.call("harness.state", state=state, reason="")
            t2 = time.perf_counter()
            await until(lambda: _state_of(swarm, "a001") == state)  # noqa: B023 - awaited at once
            cell_ms.append((time.perf_counter() - t2) * 1000)
        await pilot.pause()
        rss = rss_mb()
        await sender.close()
        await mover.close()
    return paint, flow_ms, cell_ms, rss


async def measure(settings: Settings, agents: int, runs: int, events: int) -> list[Figure]:
    paints: list[float] = []
    for _ in range(runs - 1):
        paints.append((await one_run(settings, agents, 0))[0])
    paint, flow_ms, cell_ms, rss = await one_run(settings, agents, events)
    paints.append(paint)
    paint = median(paints)
    flow_p50, flow_p95 = median(flow_ms), percentile(flow_ms, 95)
    cell_p50, cell_p95 = median(cell_ms), percentile(cell_ms, 95)
    return [
        Figure("first full paint (median)", paint, "ms", "≤ 1500 ms", None, paint <= 1500),
        Figure("first full paint (max)", max(paints), "ms"),
        Figure("message event → flow row p50", flow_p50, "ms", "≤ 100 ms", None, flow_p50 <= 100),
        Figure("message event → flow row p95", flow_p95, "ms", "≤ 100 ms", None, flow_p95 <= 100),
        Figure("agent event → swarm cell p50", cell_p50, "ms", "≤ 100 ms", None, cell_p50 <= 100),
        Figure("agent event → swarm cell p95", cell_p95, "ms", "≤ 100 ms", None, cell_p95 <= 100),
        Figure("TUI resident memory", rss, "MB", "≤ 250 MB", None, rss <= 250),
    ]


def _state_of(swarm: Any, name: str) -> str:
    from textual.widgets import DataTable

    table = swarm.query_one(DataTable)
    try:
        cell = table.get_cell(name, "state")
    except Exception:
        return ""
    return str(getattr(cell, "plain", cell)).split()[-1]


async def run(args: argparse.Namespace) -> list[Figure]:
    root = Path(tempfile.mkdtemp(prefix="hh-tui-"))
    run_dir = Path(tempfile.mkdtemp(prefix="hh-", dir="/tmp"))
    settings = Settings(state_dir=root / "state", run_dir=run_dir, runtime="process")
    daemon: subprocess.Popen[bytes] | None = None
    try:
        t = time.perf_counter()
        await seed(settings, args.agents, args.messages, args.approvals, args.tags)
        seeded = time.perf_counter() - t
        daemon = subprocess.Popen(
            [sys.executable, __file__, "--serve", str(settings.state_dir), str(run_dir)],
            stdout=subprocess.DEVNULL,
        )
        await wait_ready(settings)
        figures = await measure(settings, args.agents, args.runs, args.events)
        sizes = (
            f"{args.agents} agents, {args.messages:,} messages, {args.approvals} approvals, "
            f"{args.tags:,} tags (seeded in {seeded:.1f} s)"
        )
        print(sizes, file=sys.stderr)
        return figures
    finally:
        if daemon is not None:
            daemon.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                daemon.wait(20)
            if daemon.poll() is None:
                daemon.kill()
        shutil.rmtree(root, ignore_errors=True)
        shutil.rmtree(run_dir, ignore_errors=True)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, default=200)
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--approvals", type=int, default=500)
    parser.add_argument("--tags", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3, help="startups to time")
    parser.add_argument("--events", type=int, default=50, help="events to time")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--serve", nargs=2, metavar=("STATE", "RUN"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        asyncio.run(
            serve(
                Settings(
                    state_dir=Path(args.serve[0]), run_dir=Path(args.serve[1]), runtime="process"
                )
            )
        )
        return {}
    figures = asyncio.run(run(args))
    return report(f"tui (pid {os.getpid()}, {os.cpu_count()} cores)", figures, args.json)


if __name__ == "__main__":
    main()
