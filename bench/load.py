"""Swarm load: N process-runtime agents trade messages through a real daemon for S seconds.

Each agent runs a small load harness (this file, ``--harness``): on the operator's
``GO`` it seeds a few messages, then loops recv → one send to a random peer per message
received → ack. After S seconds the operator broadcasts ``STOP``: agents stop sending and
drain their inboxes; then every acknowledged send must have been received exactly once.

Printed: throughput (messages delivered per second), delivery latency (daemon timestamp
at send → the recipient's harness holding it) p50/p99, the daemon's CPU (from
/proc/<pid>/stat) and RSS, and the loss/duplicate check.

    python bench/load.py [--agents 100] [--seconds 60] [--seed-messages 4] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

GO, STOP, FLUSH = "GO", "STOP", "FLUSH"
STOPPED, FLUSHED = "STOPPED", "FLUSHED"


# --- the load harness (runs in each agent) -----------------------------------------------


async def harness(peers_file: str, seed: int) -> None:
    """One agent: wait for GO, seed messages, then recv → send to a random peer → ack."""
    from hyperhive.core.client import HiveClient
    from hyperhive.core.errors import DaemonUnavailable, HyperhiveError

    me = os.environ["HYPERHIVE_AGENT"]
    out = Path(os.environ["HYPERHIVE_STATE"]) / "load.json"
    peers = [p for p in json.loads(Path(peers_file).read_text()) if p != me]
    rng = random.Random(me)
    client = await HiveClient.connect(os.environ["HYPERHIVE_SOCKET"])
    stopping = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stopping.set)
    sent: list[int] = []
    got: list[int] = []
    latencies: list[tuple[float, float]] = []  # (received at, latency s)
    refused = 0
    sending = False

    async def send_one() -> None:
        nonlocal refused
        while True:
            try:
                reply = await client.call("messages.send", to=rng.choice(peers), body="load")
            except HyperhiveError as exc:
                if exc.code != "refused":
                    raise
                refused += 1
                await asyncio.sleep(0.05)  # rate limited: back off and retry
                continue
            sent.extend(reply["ids"])
            return

    def write_results() -> None:
        tmp = out.with_suffix(".tmp")
        data = {"sent": sent, "got": got, "latencies": latencies, "refused": refused}
        tmp.write_text(json.dumps(data))
        tmp.replace(out)

    async def loop() -> None:
        nonlocal sending
        while True:
            batch = (await client.call("messages.recv", wait_seconds=5, max=32))["messages"]
            now = time.time()
            control = [m["body"] for m in batch if m["sender"] == "operator"]
            if GO in control:
                sending = True
            if STOP in control:
                sending = False  # the whole batch: nothing more goes out after STOP
            replies = seed if GO in control else 0
            for m in batch:
                if m["sender"] == "operator":
                    continue
                got.append(m["id"])
                latencies.append((now, now - m["ts"]))
                replies += 1 if sending else 0
            for _ in range(replies):
                await send_one()
            if batch:
                await client.call("messages.ack", ids=[m["id"] for m in batch])
            if STOP in control:
                await client.call("messages.send", to="operator", body=STOPPED)
            if FLUSH in control:
                # every send has ceased and FLUSH queued behind them: all of ours is here
                write_results()
                await client.call("messages.send", to="operator", body=FLUSHED)
                return

    task = asyncio.create_task(loop())
    stop_wait = asyncio.create_task(stopping.wait())
    await asyncio.wait({task, stop_wait}, return_when=asyncio.FIRST_COMPLETED)
    if task.done():
        task.result()
        await stopping.wait()  # results written: idle until the daemon stops us
        return
    task.cancel()
    try:
        await task
    except (asyncio.CancelledError, DaemonUnavailable):
        pass
    write_results()


# --- the daemon, with agents running the load harness -------------------------------------


def daemon_main(argv: list[str]) -> int:
    """``hyperhive <argv>`` whose agents run ``load.py --harness``."""
    from hyperhive.cli import main as cli_main
    from hyperhive.core import hive as hive_module

    peers_file, seed, rest = argv[0], argv[1], argv[2:]
    original = hive_module.Hive.__init__

    def init(self: Any, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        self.lifecycle.command = (sys.executable, __file__, "--harness", peers_file, seed)

    hive_module.Hive.__init__ = init  # type: ignore[method-assign]
    return cli_main(rest)


# --- the benchmark ------------------------------------------------------------------------


def proc_cpu_seconds(pid: int) -> float:
    """utime + stime of ``pid`` in seconds."""
    raw = Path(f"/proc/{pid}/stat").read_bytes()
    fields = raw[raw.rindex(b")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def proc_kib(pid: int, key: str) -> int:
    """A ``VmRSS``-style figure of ``pid`` from /proc/<pid>/status, in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


async def wait_for_notes(op: Any, body: str, count: int, timeout: float = 180.0) -> None:
    """Wait until ``count`` agents have told the operator ``body``."""
    async with asyncio.timeout(timeout):
        while True:
            inbox = (await op.call("messages.inbox", limit=10_000))["messages"]
            if len({m["sender"] for m in inbox if m["body"] == body}) >= count:
                return
            await asyncio.sleep(0.2)


async def measure(agents: int, seconds: float, seed: int, quiet: bool) -> list[Any]:
    from bench.common import Figure, median, percentile
    from hyperhive.core.client import HiveClient
    from hyperhive.core.runner import ProcessRunner
    from hyperhive.core.runtimes.process import ProcessRuntime
    from hyperhive.core.settings import Settings
    from tests.support.daemon import DaemonProcess

    def say(text: str) -> None:
        if not quiet:
            print(text, file=sys.stderr, flush=True)

    tmp = Path(tempfile.mkdtemp(prefix="hhl-", dir="/tmp"))
    state = tmp / "state"
    state.mkdir()
    # the agents are meant to push: lift the per-agent rate limit
    (state / "hyperhive.toml").write_text(
        "[limits]\nsends_per_second = 1000000.0\nsend_burst = 1000000\n"
    )
    settings = Settings(state_dir=state, run_dir=tmp / "run", runtime="process")
    names = [f"a{i:03d}" for i in range(agents)]
    peers_file = tmp / "peers.json"
    peers_file.write_text(json.dumps(names))

    class LoadDaemon(DaemonProcess):
        def argv(self) -> list[str]:
            return [sys.executable, __file__, "--daemon", str(peers_file), str(seed),
                    "--state-dir", str(state), "--run-dir", str(settings.run_dir),
                    "daemon", "--no-swarm"]  # fmt: skip

    daemon = LoadDaemon(settings)
    await daemon.start()
    assert daemon.proc is not None
    pid = daemon.proc.pid
    op = await HiveClient.connect(settings.host_socket)
    try:
        t_spawn = time.perf_counter()
        gate = asyncio.Semaphore(8)

        async def spawn(name: str) -> None:
            async with gate:
                await op.call("lifecycle.spawn", name=name)

        await asyncio.gather(*(spawn(n) for n in names))
        spawn_s = time.perf_counter() - t_spawn
        say(f"spawned {agents} agents in {spawn_s:.1f}s; loading for {seconds:g}s")

        cpu0, t0 = proc_cpu_seconds(pid), time.time()
        await op.call("messages.send", to="*", body=GO)
        await asyncio.sleep(seconds)  # the measured window
        t1, cpu1 = time.time(), proc_cpu_seconds(pid)
        rss, hwm = proc_kib(pid, "VmRSS"), proc_kib(pid, "VmHWM")
        await op.call("messages.send", to="*", body=STOP)

        # drain: every agent has stopped sending; FLUSH then queues behind all that is left
        await wait_for_notes(op, STOPPED, agents)
        await op.call("messages.send", to="*", body=FLUSH)
        await wait_for_notes(op, FLUSHED, agents)
        for name in names:
            await op.call("lifecycle.kill", name=name)
    finally:
        await op.close()
        daemon.stop()
        runtime = ProcessRuntime(settings, ProcessRunner())
        for status in await runtime.list():
            await runtime.stop(status.name, timeout=5)

    sent: list[int] = []
    got: list[int] = []
    lat: list[float] = []
    refused = 0
    missing = []
    for name in names:
        path = settings.agent_state_dir(name) / "load.json"
        if not path.exists():
            missing.append(name)
            continue
        data = json.loads(path.read_text())
        sent += data["sent"]
        got += data["got"]
        refused += data["refused"]
        lat += [1000 * d for at, d in data["latencies"] if t0 <= at <= t1]
    shutil.rmtree(tmp, ignore_errors=True)

    lost = len(set(sent) - set(got))
    dupes = len(got) - len(set(got))
    window = t1 - t0
    delivered = len(lat)
    cpu_pct = 100 * (cpu1 - cpu0) / window
    return [
        Figure("spawn, all agents", spawn_s, "s"),
        Figure("throughput (delivered)", delivered / window, "msg/s"),
        Figure("delivery latency p50", median(lat), "ms"),
        Figure("delivery latency p99", percentile(lat, 99), "ms"),
        Figure("daemon CPU", cpu_pct, "% of a core"),
        Figure("daemon RSS", rss / 1024, "MiB"),
        Figure("daemon peak RSS", hwm / 1024, "MiB"),
        Figure("acknowledged sends", len(sent), "msgs"),
        Figure("lost (acked, never received)", lost, "msgs", "0", None, lost == 0),
        Figure("duplicates received", dupes, "msgs", "0", None, dupes == 0),
        Figure("harnesses without results", len(missing), "", "0", None, not missing),
        Figure("sends refused (rate limit)", refused, "msgs"),
    ]  # fmt: skip


def main(argv: list[str] | None = None) -> dict[str, Any]:
    from bench.common import report

    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--agents", type=int, default=100, help="process-runtime agents")
    parser.add_argument("--seconds", type=float, default=60.0, help="the measured window")
    parser.add_argument("--seed-messages", type=int, default=4, help="in flight per agent")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if args.agents < 2:
        parser.error("--agents must be at least 2")
    figures = asyncio.run(measure(args.agents, args.seconds, args.seed_messages, args.json))
    title = f"load ({args.agents} agents, {args.seconds:g} s, {os.cpu_count()} cores)"
    return report(title, figures, args.json)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--harness"]:
        asyncio.run(harness(sys.argv[2], int(sys.argv[3])))
    elif sys.argv[1:2] == ["--daemon"]:
        sys.exit(daemon_main(sys.argv[2:]))
    else:
        main()
