"""Remote hop benchmark: the extra latency of an agent's socket forwarded over SSH.

A real daemon core (`Hive`, in this process) and two test hosts: sshds in network
namespaces (tests/support/netns.py), each reached over its own veth link, each remote
agent's host socket forwarded to its socket here by the remote runtime (real nspawn
containers on the hosts). Timed:

1. the same request (``agent.whoami``) ``round_trips`` times on an agent's local socket
   and on its socket on the host: the p50 difference is the remote hop (target ≤ 2 ms);
2. a message from an agent on host one to an agent on host two (send on one's socket,
   the recipient's long poll on two's socket, acked like a harness does), one at a time,
   against the same between two agents of this machine: the p50 difference is what a
   remote agent's message pays.

Needs root and systemd-nspawn.

    python bench/remote_hop.py [--round-trips 1000] [--messages 300] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import Figure, median, percentile, report  # noqa: E402
from hyperhive.core.client import HiveClient  # noqa: E402
from hyperhive.core.hive import Hive  # noqa: E402
from hyperhive.core.runtimes.remote import RemoteRuntime  # noqa: E402
from hyperhive.core.settings import Settings  # noqa: E402
from tests.hosts.remote_support import PY, agent_spec, host_link, new_state_dir  # noqa: E402
from tests.support.netns import netns_hosts  # noqa: E402

TARGET_MS = 2.0
IDLE = "import time; time.sleep(86400)"  # the containers' command: the bench does the talking


async def _timed(path: Path, n: int) -> list[float]:
    async with await HiveClient.connect(path) as client:
        for _ in range(20):  # warm up
            await client.call("agent.whoami")
        out = []
        for _ in range(n):
            t = time.perf_counter()
            await client.call("agent.whoami")
            out.append((time.perf_counter() - t) * 1000)
    return out


async def _messages(sender: Path, recipient: Path, to: str, n: int) -> list[float]:
    """Send → the recipient's long poll returning it, ``n`` times one at a time (ms)."""
    async with (
        await HiveClient.connect(sender) as tx,
        await HiveClient.connect(recipient) as rx,
    ):
        out = []
        for i in range(n + 20):  # the first 20 warm up
            poll = asyncio.create_task(rx.call("messages.recv", wait_seconds=10.0, max=1))
            await asyncio.sleep(0.002)  # parked, as a harness's poll is
            t = time.perf_counter()
            sent = await tx.call("messages.send", to=to, body=f"m{i}")
            got = (await poll)["messages"]
            if i >= 20:
                out.append((time.perf_counter() - t) * 1000)
            if [m["id"] for m in got] != sent["ids"]:
                raise AssertionError(f"sent {sent['ids']}, received {got}")
            await rx.call("messages.ack", ids=sent["ids"])
    return out


def _run_path(host_dir: Path, name: str) -> Path:
    return host_dir / "agents" / name / "run" / "hive.sock"


async def remote_hop(round_trips: int = 1000, messages: int = 300) -> list[Figure]:
    """Round trips on a local and a forwarded socket, and messages within this machine
    and between two hosts; the hops are the p50 differences."""
    work = Path(tempfile.mkdtemp(prefix="hh-hop-", dir="/tmp"))
    run = Path(tempfile.mkdtemp(prefix="hh-", dir="/tmp"))
    dirs = [new_state_dir(), new_state_dir()]
    try:
        settings = Settings(state_dir=work / "state", run_dir=run, runtime="process")
        with netns_hosts(2, work / "ns") as hosts:
            async with (
                Hive.open(settings) as hive,
                host_link(hosts[0], "one") as one,
                host_link(hosts[1], "two") as two,
            ):
                placed = [("alpha", one, dirs[0]), ("beta", two, dirs[1])]
                runtimes = []
                for name, link, host_dir in placed:
                    rt = RemoteRuntime(link, host_state_dir=str(host_dir), python=PY)
                    await hive.create_agent(name)
                    await rt.create(replace(agent_spec(hive, name), command=(PY, "-c", IDLE)))
                    runtimes.append((rt, name))
                for name in ("gamma", "delta"):
                    await hive.create_agent(name)
                try:
                    local = await _timed(settings.agent_socket("alpha"), round_trips)
                    remote = await _timed(_run_path(dirs[0], "alpha"), round_trips)
                    sock = settings.agent_socket
                    here = await _messages(sock("gamma"), sock("delta"), "delta", messages)
                    across = await _messages(
                        _run_path(dirs[0], "alpha"), _run_path(dirs[1], "beta"), "beta", messages
                    )
                finally:
                    for rt, name in runtimes:
                        await rt.destroy(name)
    finally:
        for d in (work, run, *dirs):
            shutil.rmtree(d, ignore_errors=True)
    hop = median(remote) - median(local)
    extra = median(across) - median(here)
    return [
        Figure("local round trip p50", median(local), "ms"),
        Figure("remote round trip p50", median(remote), "ms", floor=median(local)),
        Figure("remote round trip p95", percentile(remote, 95), "ms"),
        Figure("remote hop p50", hop, "ms", target=f"<= {TARGET_MS:g} ms", met=hop <= TARGET_MS),
        Figure("message between two local agents p50", median(here), "ms"),
        Figure("message host one → host two p50", median(across), "ms", floor=median(here)),
        Figure("message host one → host two p95", percentile(across, 95), "ms"),
        Figure("a remote message's extra latency p50", extra, "ms"),
    ]


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--round-trips", type=int, default=1000)
    parser.add_argument("--messages", type=int, default=300)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    figures = asyncio.run(remote_hop(args.round_trips, args.messages))
    title = f"remote hop (pid {os.getpid()}, {os.cpu_count()} cores, {args.round_trips} trips)"
    return report(title, figures, args.json)


if __name__ == "__main__":
    main()
