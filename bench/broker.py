"""Broker benchmark: send→recv latency, durable throughput, and the floor beneath them.

Runs a real daemon in a subprocess and talks to it over agent sockets, then measures,
in the same run, a bare unix-socket echo round trip and a bare sqlite insert+commit,
so the figures are printed next to what the machine itself can do.

    python bench/broker.py [--messages 2000] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import Figure, median, percentile, report  # noqa: E402
from hyperhive.core.client import HiveClient  # noqa: E402
from hyperhive.core.hive import Hive  # noqa: E402
from hyperhive.core.settings import Settings  # noqa: E402
from tests.support.daemon import DaemonProcess  # noqa: E402

ECHO_SERVER = """
import asyncio, sys
async def handle(r, w):
    while line := await r.readline():
        w.write(line)
        await w.drain()
async def main():
    s = await asyncio.start_unix_server(handle, path=sys.argv[1])
    print("ready", flush=True)
    await s.serve_forever()
asyncio.run(main())
"""


async def latency(settings: Settings, n: int) -> list[float]:
    sender = await HiveClient.connect(settings.agent_socket("b0"))
    receiver = await HiveClient.connect(settings.agent_socket("rx"))
    samples = []
    ids: list[int] = []
    for i in range(n + 100):
        parked = asyncio.create_task(receiver.call("messages.recv", wait_seconds=10, max=1))
        await asyncio.sleep(0.0005)  # let the recv reach the daemon and park
        t0 = time.perf_counter()
        await sender.call("messages.send", to="rx", body=f"m{i}")
        got = await parked
        t1 = time.perf_counter()
        assert got["messages"], "recv timed out"
        ids.extend(m["id"] for m in got["messages"])
        if i >= 100:  # warm-up
            samples.append((t1 - t0) * 1000)
    await receiver.call("messages.ack", ids=ids)
    await sender.close()
    await receiver.close()
    return samples


async def throughput(settings: Settings, senders: int, seconds: float) -> float:
    clients = [await HiveClient.connect(settings.agent_socket(f"b{k}")) for k in range(senders)]
    count = 0
    deadline = time.perf_counter() + seconds

    async def run(c: HiveClient) -> None:
        nonlocal count
        while time.perf_counter() < deadline:
            await c.call("messages.send", to="sink", body="x" * 100)
            count += 1

    t0 = time.perf_counter()
    await asyncio.gather(*(run(c) for c in clients))
    elapsed = time.perf_counter() - t0
    for c in clients:
        await c.close()
    return count / elapsed


async def echo_floor(tmp: Path, n: int) -> list[float]:
    path = tmp / "echo.sock"
    proc = subprocess.Popen(
        [sys.executable, "-c", ECHO_SERVER, str(path)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    reader, writer = await asyncio.open_unix_connection(str(path))
    samples = []
    line = b'{"id": 1, "method": "messages.send", "params": {"to": "rx", "body": "m"}}\n'
    for i in range(n + 100):
        t0 = time.perf_counter()
        writer.write(line)
        await writer.drain()
        await reader.readline()
        if i >= 100:
            samples.append((time.perf_counter() - t0) * 1000)
    writer.close()
    proc.kill()
    proc.wait()
    return samples


def sqlite_floor(tmp: Path, n: int) -> list[float]:
    db = sqlite3.connect(tmp / "floor.sqlite", isolation_level=None)
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("PRAGMA synchronous = NORMAL")
    db.execute("CREATE TABLE m (id INTEGER PRIMARY KEY, ts REAL, sender TEXT, body TEXT)")
    samples = []
    for i in range(n):
        t0 = time.perf_counter()
        db.execute("BEGIN IMMEDIATE")
        db.execute("INSERT INTO m VALUES (?, ?, ?, ?)", (i, time.time(), "a", "m"))
        db.execute("COMMIT")
        samples.append((time.perf_counter() - t0) * 1000)
    db.close()
    return samples


async def measure(n: int, seconds: float) -> list[Figure]:
    tmp = Path(tempfile.mkdtemp(prefix="hhb-", dir="/tmp"))
    try:
        state = tmp / "state"
        state.mkdir()
        # the benchmark floods on purpose: lift the per-agent rate limit
        (state / "hyperhive.toml").write_text(
            "[limits]\nsends_per_second = 1000000.0\nsend_burst = 1000000\n"
        )
        settings = Settings(state_dir=state, run_dir=tmp / "run", runtime="process")
        async with Hive.open(settings, serve=False) as hive:
            for name in ["rx", "sink", *(f"b{k}" for k in range(8))]:
                await hive.create_agent(name)
        daemon = DaemonProcess(settings)
        await daemon.start()
        try:
            lat = await latency(settings, n)
            tput1 = await throughput(settings, 1, seconds)
            tput8 = await throughput(settings, 8, seconds)
        finally:
            daemon.stop()
        echo = await echo_floor(tmp, n)
        sql = sqlite_floor(tmp, n)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    floor = median(echo) + median(sql)
    p50, p99 = median(lat), percentile(lat, 99)
    return [
        Figure("send→recv p50", p50, "ms", "≤ 1 ms", floor, p50 <= 1.0),
        Figure("send→recv p99", p99, "ms", "≤ 5 ms", None, p99 <= 5.0),
        Figure("latency / floor (p50)", p50 / floor, "x", "≤ 4x", None, p50 / floor <= 4.0),
        Figure("throughput, 1 sender", tput1, "msg/s"),
        Figure("throughput, 8 senders", tput8, "msg/s", "≥ 5,000/s", None, tput8 >= 5000),
        Figure("floor: unix echo RTT p50", median(echo), "ms"),
        Figure("floor: sqlite insert+commit p50", median(sql), "ms"),
    ]


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=2000, help="latency samples (≥ 2,000)")
    parser.add_argument("--seconds", type=float, default=3.0, help="per throughput run")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    # the client side runs on the same event loop as the daemon (uvloop where installed);
    # the floor's echo client runs on it too, so the ratio compares like with like
    try:
        import uvloop

        figures = uvloop.run(measure(args.messages, args.seconds))
    except ImportError:
        figures = asyncio.run(measure(args.messages, args.seconds))
    return report(f"broker (pid {os.getpid()}, {os.cpu_count()} cores)", figures, args.json)


if __name__ == "__main__":
    main()
