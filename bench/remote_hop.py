"""Remote hop benchmark: the extra latency of an agent's socket forwarded over SSH.

A real daemon core (`Hive`, in this process) and one test host: an sshd in a network
namespace (tests/support/netns.py), reached over a veth link, the agent's host socket
forwarded to its socket here by the remote runtime. The same request (``agent.whoami``)
is timed ``round_trips`` times on the agent's local socket and on its socket on the
host; the p50 difference is the remote hop (target ≤ 2 ms). Needs root and systemd-nspawn.

    python bench/remote_hop.py [--round-trips 1000] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import Figure, median, percentile, report  # noqa: E402
from hyperhive.core.client import HiveClient  # noqa: E402
from hyperhive.core.hive import Hive  # noqa: E402
from hyperhive.core.runtimes.remote import RemoteRuntime  # noqa: E402
from hyperhive.core.settings import Settings  # noqa: E402
from tests.hosts.remote_support import agent_spec, host_link, new_state_dir  # noqa: E402
from tests.support.netns import netns_hosts  # noqa: E402

TARGET_MS = 2.0


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


async def remote_hop(round_trips: int = 1000) -> list[Figure]:
    """Median and p95 of a round trip on a local and a forwarded socket, and the hop."""
    work = Path(tempfile.mkdtemp(prefix="hh-hop-", dir="/tmp"))
    run = Path(tempfile.mkdtemp(prefix="hh-", dir="/tmp"))
    host_dir = new_state_dir()
    try:
        settings = Settings(state_dir=work / "state", run_dir=run, runtime="process")
        with netns_hosts(1, work / "ns") as hosts:
            async with Hive.open(settings) as hive, host_link(hosts[0], "one") as link:
                rt = RemoteRuntime(link, host_state_dir=str(host_dir), python=link.options.python)
                await hive.create_agent("alpha")
                await rt.create(agent_spec(hive, "alpha"))
                try:
                    local = await _timed(settings.agent_socket("alpha"), round_trips)
                    remote_path = host_dir / "agents" / "alpha" / "run" / "hive.sock"
                    remote = await _timed(remote_path, round_trips)
                finally:
                    await rt.destroy("alpha")
    finally:
        for d in (work, run, host_dir):
            shutil.rmtree(d, ignore_errors=True)
    hop = median(remote) - median(local)
    return [
        Figure("local round trip p50", median(local), "ms"),
        Figure("remote round trip p50", median(remote), "ms", floor=median(local)),
        Figure("remote round trip p95", percentile(remote, 95), "ms"),
        Figure("remote hop p50", hop, "ms", target=f"<= {TARGET_MS:g} ms", met=hop <= TARGET_MS),
    ]


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--round-trips", type=int, default=1000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    figures = asyncio.run(remote_hop(args.round_trips))
    title = f"remote hop (pid {os.getpid()}, {os.cpu_count()} cores, {args.round_trips} trips)"
    return report(title, figures, args.json)


if __name__ == "__main__":
    main()
