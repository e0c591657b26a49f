"""Scale: 1,000 simulated agents on one real daemon — memory at rest, mixed load, TUI paint.

The agents are recorded the way bench/broker.py records its agents (``Hive.create_agent``
on the state dir, before the daemon starts); the real daemon (``hyperhive daemon
--no-swarm``: no container is started) then serves each one's own socket. Each simulated
agent is a light client in a worker process speaking the real JSON-lines protocol on its
own socket, holding the two long polls a real harness holds (``messages.recv`` and
``harness.control``) and acking what it receives, as the harness does at a turn's end.

Measured, in order:

1. at rest, all agents long-polling: the daemon's RSS (/proc/<pid>/status VmRSS) and
   CPU (/proc/<pid>/stat) over ``--rest-seconds``;
2. mixed load for ``--seconds``: ``--rate`` messages/s (open loop, Poisson) between random
   sender/recipient pairs, a share of them asks the recipient answers with ``in_reply_to``,
   and a broadcast to every agent every ``--broadcast-every`` seconds. Latency is send
   call → the recipient's client holding it (CLOCK_MONOTONIC, shared by the processes);
   every id a send returned must be received exactly once;
3. the real TUI (headless ``run_test``) against that daemon: start → the swarm pane
   holding every agent's row;
4. the remote hop and a remote agent's message, from bench/remote_hop.py (two netns hosts).

    python bench/scale.py [--agents 1000] [--rate 1000] [--seconds 20] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing as mp
import os
import random
import shutil
import sys
import tempfile
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import Figure, median, percentile, report  # noqa: E402

RECV_WAIT = 180.0  # the harness's long poll (agent/harness.py RECV_WAIT_SECONDS)
CONTROL_WAIT = 60.0  # its control poll (CONTROL_WAIT_SECONDS)
ASK, NOTE, ANSWER, SHOUT = "ask", "note", "answer", "shout"


def names(n: int) -> list[str]:
    return [f"s{i:04d}" for i in range(n)]


# --- the simulated agents (one worker process holds a slice of them) ----------------------


class Worker:
    """Light clients for ``mine``: each long-polls its own socket and acks what it gets."""

    def __init__(
        self, run_dir: Path, mine: list[str], everyone: list[str], seed: int, also: list[str]
    ) -> None:
        from hyperhive.core.settings import Settings

        self.settings = Settings(state_dir=run_dir / "unused", run_dir=run_dir)
        self.mine = mine
        self.also = also  # listened on, never a sender: the manager gets the broadcasts too
        self.everyone = everyone
        self.rng = random.Random(seed)
        self.clients: dict[str, Any] = {}
        self.tasks: list[asyncio.Task[None]] = []
        self.sent: dict[int, tuple[float, str]] = {}  # id → (send called at, kind)
        self.got: list[tuple[int, float]] = []  # (id, held at)
        self.asked: dict[int, float] = {}  # ask id → send called at
        self.ask_rtt: list[float] = []
        self.refused = 0
        self.errors: list[str] = []
        self.pending: set[asyncio.Task[None]] = set()

    async def connect(self) -> None:
        from hyperhive.core.client import HiveClient

        for name in [*self.mine, *self.also]:
            self.clients[name] = await HiveClient.connect(self.settings.agent_socket(name))
        for name, client in self.clients.items():
            self.tasks.append(asyncio.create_task(self._recv_loop(name, client)))
            self.tasks.append(asyncio.create_task(self._control_loop(client)))

    async def _recv_loop(self, name: str, client: Any) -> None:
        from hyperhive.core.errors import DaemonUnavailable

        while True:
            try:
                got = await client.call("messages.recv", wait_seconds=RECV_WAIT, max=32)
            except DaemonUnavailable:
                return
            batch = got["messages"]
            now = time.monotonic()
            for m in batch:
                self.got.append((m["id"], now))
                if m["body"].startswith(ASK):
                    self._spawn(self._send(name, m["sender"], ANSWER, in_reply_to=m["id"]))
                elif m["body"].startswith(ANSWER) and m.get("in_reply_to") in self.asked:
                    self.ask_rtt.append(now - self.asked.pop(m["in_reply_to"]))
            if batch:
                await client.call("messages.ack", ids=[m["id"] for m in batch])

    async def _control_loop(self, client: Any) -> None:
        from hyperhive.core.errors import DaemonUnavailable

        with contextlib.suppress(DaemonUnavailable):
            while True:
                await client.call("harness.control", wait_seconds=CONTROL_WAIT)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self.pending.add(task)
        task.add_done_callback(self.pending.discard)

    async def _send(self, sender: str, to: str, kind: str, in_reply_to: int | None = None) -> None:
        from hyperhive.core.errors import HyperhiveError

        t0 = time.monotonic()
        params: dict[str, Any] = {"to": to, "body": f"{kind} from {sender}"}
        if in_reply_to is not None:
            params["in_reply_to"] = in_reply_to
        try:
            reply = await self.clients[sender].call("messages.send", **params)
        except HyperhiveError as exc:
            if exc.code == "refused":
                self.refused += 1
            else:
                self.errors.append(f"{exc.code}: {exc.message[:200]}")
            return
        for mid in reply["ids"]:
            self.sent[mid] = (t0, kind)
        if kind == ASK:
            self.asked[reply["ids"][0]] = t0

    async def load(
        self, rate: float, seconds: float, ask_share: float, broadcasts: list[float]
    ) -> None:
        """Open loop: sends at Poisson times at ``rate``/s, whatever the replies take."""
        start = time.monotonic()
        due = start
        shouts = sorted(broadcasts)
        while True:
            due += self.rng.expovariate(rate)
            if due - start >= seconds:
                break
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            while shouts and shouts[0] <= due - start:
                shouts.pop(0)
                self._spawn(self._send(self.rng.choice(self.mine), "*", SHOUT))
            sender = self.rng.choice(self.mine)
            to = self.rng.choice(self.everyone)
            while to == sender:
                to = self.rng.choice(self.everyone)
            kind = ASK if self.rng.random() < ask_share else NOTE
            self._spawn(self._send(sender, to, kind))
        while self.pending:
            await asyncio.gather(*list(self.pending))

    async def close(self) -> None:
        for task in self.tasks:
            task.cancel()
        for client in self.clients.values():
            await client.close()


def worker_main(
    conn: Connection, run_dir: str, mine: list[str], everyone: list[str], also: list[str]
) -> None:
    """A worker process: obey the parent's commands on ``conn`` until ``quit``."""

    async def serve() -> None:
        loop = asyncio.get_running_loop()
        w = Worker(Path(run_dir), mine, everyone, seed=hash(mine[0]) & 0xFFFF, also=also)
        while True:
            cmd, args = await loop.run_in_executor(None, conn.recv)
            if cmd == "connect":
                t0 = time.monotonic()
                await w.connect()
                conn.send(time.monotonic() - t0)
            elif cmd == "load":
                cpu0 = time.process_time()
                await w.load(*args)
                conn.send(time.process_time() - cpu0)
            elif cmd == "count":
                conn.send((len(w.sent), len(w.got)))
            elif cmd == "results":
                conn.send(
                    {
                        "sent": w.sent,
                        "got": w.got,
                        "ask_rtt": w.ask_rtt,
                        "refused": w.refused,
                        "errors": w.errors[:5],
                        "error_count": len(w.errors),
                    }
                )
            elif cmd == "quit":
                await w.close()
                conn.send(None)
                return

    try:
        import uvloop

        uvloop.run(serve())
    except ImportError:
        asyncio.run(serve())


# --- the daemon, its process, the TUI ---------------------------------------------------


def proc_cpu_seconds(pid: int) -> float:
    raw = Path(f"/proc/{pid}/stat").read_bytes()
    fields = raw[raw.rindex(b")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def proc_kib(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


async def record_agents(settings: Any, who: list[str]) -> None:
    """Record the agents in the state dir (stopped, never deployed), as bench/broker.py does."""
    from hyperhive.core.hive import Hive

    async with Hive.open(settings, serve=False) as hive:
        for name in who:
            await hive.create_agent(name)


async def tui_first_paint(settings: Any, who: list[str]) -> float:
    """Milliseconds from building the real app to its swarm pane holding every agent."""
    from hyperhive.core.client import HiveClient
    from hyperhive.tui.app import make_app
    from hyperhive.tui.panes.swarm import SwarmPane

    wanted = set(who)
    t0 = time.perf_counter()
    app = make_app(lambda: HiveClient.connect(settings.host_socket), desktop_notify=False)
    async with app.run_test(size=(160, 48)) as pilot:
        async with asyncio.timeout(120):
            while not (app.model.connected and app.screen.is_mounted):
                await asyncio.sleep(0.001)
            swarm = app.screen.query_one(SwarmPane)
            while not wanted <= {str(k) for k in swarm.row_keys}:
                await asyncio.sleep(0.001)
        await pilot.pause()
        return (time.perf_counter() - t0) * 1000


def remote_hop() -> list[Figure]:
    """The remote hop's figures (bench/remote_hop.py: two netns hosts), as rows of this table.

    Its failure (no root, no systemd-nspawn) is a row saying why, not the end of the table.
    """
    from bench.remote_hop import remote_hop as measure_hop

    try:
        figures = asyncio.run(measure_hop())
    except Exception as exc:
        return [Figure(f"remote hop: failed: {type(exc).__name__}: {exc}"[:120], float("nan"), "")]
    return [
        Figure(f"remote hop: {f.name}", f.value, f.unit, f.target, f.floor, f.met) for f in figures
    ]


async def measure(args: argparse.Namespace, say: Any) -> list[Figure]:
    from hyperhive.core.names import MANAGER
    from hyperhive.core.settings import Settings
    from tests.support.daemon import DaemonProcess

    tmp = Path(tempfile.mkdtemp(prefix="hhs-", dir="/tmp"))
    settings = Settings(state_dir=tmp / "state", run_dir=tmp / "run", runtime="process")
    who = names(args.agents)
    ctx = mp.get_context("spawn")
    workers: list[tuple[Any, Connection]] = []
    daemon = DaemonProcess(settings)
    try:
        settings.state_dir.mkdir(parents=True)
        # a broadcast to 999 agents spends 999 of a sender's burst of 1,000 tokens: with the
        # default limit, one that sent a note a moment before is refused (as it should be)
        (settings.state_dir / "hyperhive.toml").write_text(
            "[limits]\nsends_per_second = 1000000.0\nsend_burst = 1000000\n"
        )
        t = time.perf_counter()
        await record_agents(settings, who)
        say(f"recorded {len(who)} agents in {time.perf_counter() - t:.1f} s")
        t = time.perf_counter()
        await daemon.start(timeout=120)
        assert daemon.proc is not None
        pid = daemon.proc.pid
        start_s = time.perf_counter() - t
        say(f"daemon up with {len(who)} agent sockets in {start_s:.1f} s")

        slices = [who[k :: args.workers] for k in range(args.workers)]
        for k, mine in enumerate(slices):
            here, there = ctx.Pipe()
            also = [MANAGER] if k == 0 else []
            proc = ctx.Process(
                target=worker_main, args=(there, str(settings.run_dir), mine, who, also)
            )
            proc.start()
            workers.append((proc, here))

        def ask_all(cmd: str, *a: Any) -> list[Any]:
            for _, c in workers:
                c.send((cmd, a))
            return [c.recv() for _, c in workers]

        t = time.perf_counter()
        await asyncio.to_thread(ask_all, "connect")
        connect_s = time.perf_counter() - t
        say(f"{len(who)} agents connected and long-polling in {connect_s:.1f} s")

        await asyncio.sleep(2.0)  # every long poll parked
        fds = open_fds(pid)
        cpu0, t0 = proc_cpu_seconds(pid), time.monotonic()
        await asyncio.sleep(args.rest_seconds)
        rest_cpu = 100 * (proc_cpu_seconds(pid) - cpu0) / (time.monotonic() - t0)
        rest_rss = proc_kib(pid, "VmRSS") / 1024
        say(f"at rest: {rest_rss:.0f} MiB, {rest_cpu:.1f}% CPU, {fds} fds")

        shouts = [
            s for s in (args.broadcast_every * (i + 0.5) for i in range(1000)) if s < args.seconds
        ]
        per_worker = [shouts[k :: args.workers] for k in range(args.workers)]
        say(f"mixed load: {args.rate:g} msg/s for {args.seconds:g} s, {len(shouts)} broadcasts")
        cpu0, t0, load0 = proc_cpu_seconds(pid), time.monotonic(), os.getloadavg()[0]
        for (_, c), mine_shouts in zip(workers, per_worker, strict=True):
            c.send(("load", (args.rate / args.workers, args.seconds, args.ask_share, mine_shouts)))
        client_cpu = await asyncio.to_thread(lambda: [c.recv() for _, c in workers])
        window = time.monotonic() - t0
        load_cpu_s = proc_cpu_seconds(pid) - cpu0
        load_cpu = 100 * load_cpu_s / window
        host_load = max(load0, os.getloadavg()[0])
        load_rss = proc_kib(pid, "VmRSS") / 1024

        # drain: every sent id received (answers to late asks included), or time is up
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            counts = await asyncio.to_thread(ask_all, "count")
            if sum(s for s, _ in counts) <= sum(g for _, g in counts):
                await asyncio.sleep(0.5)
                counts = await asyncio.to_thread(ask_all, "count")
                if sum(s for s, _ in counts) <= sum(g for _, g in counts):
                    break
            await asyncio.sleep(0.2)
        results = await asyncio.to_thread(ask_all, "results")

        say("TUI first paint")
        paints = [await tui_first_paint(settings, who) for _ in range(args.tui_runs)]
        peak = proc_kib(pid, "VmHWM") / 1024
        await asyncio.to_thread(ask_all, "quit")
    finally:
        for proc, _ in workers:
            proc.join(10)
            if proc.is_alive():
                proc.kill()
        daemon.stop()
        shutil.rmtree(tmp, ignore_errors=True)

    sent: dict[int, tuple[float, str]] = {}
    got: dict[int, float] = {}
    dupes = 0
    ask_rtt: list[float] = []
    for r in results:
        sent.update(r["sent"])
        ask_rtt += r["ask_rtt"]
        for mid, at in r["got"]:
            dupes += mid in got
            got[mid] = at
    lost = len(set(sent) - set(got))
    unasked = len(set(got) - set(sent))  # received, but no send returned its id
    lat = [1000 * (got[i] - t) for i, (t, k) in sent.items() if i in got and k != SHOUT]
    fan = [1000 * (got[i] - t) for i, (t, k) in sent.items() if i in got and k == SHOUT]
    ask_ms = [1000 * x for x in ask_rtt]
    delivered = len([1 for i, (_, k) in sent.items() if i in got and k != SHOUT])
    refused = sum(r["refused"] for r in results)
    errors = sum(r["error_count"] for r in results)
    for r in results:
        for e in r["errors"]:
            say(f"send error: {e}")
    p50, p99 = median(lat), percentile(lat, 99)
    paint = median(paints)
    achieved = delivered / window
    figures = [
        Figure("agents connected, long-polling", len(who), "agents"),
        Figure("daemon start with every agent socket", start_s, "s"),
        Figure("all agents connected", connect_s, "s"),
        Figure("daemon open fds at rest", fds, "fds"),
        Figure("daemon RSS at rest", rest_rss, "MiB", "≤ 300 MiB", None, rest_rss <= 300),
        Figure("daemon CPU at rest", rest_cpu, "% of a core"),
        Figure("point-to-point msgs/s achieved", achieved, "msg/s", f"≈ {args.rate:g}/s",
               None, achieved >= 0.95 * args.rate),
        Figure("send → recv p50", p50, "ms"),
        Figure("send → recv p99", p99, "ms", "≤ 50 ms", None, p99 <= 50),
        Figure("ask → answer round trip p50", median(ask_ms), "ms"),
        Figure("ask → answer round trip p99", percentile(ask_ms, 99), "ms"),
        Figure(f"broadcast fan-out to {len(who) - 1}, p50", median(fan), "ms"),
        Figure(f"broadcast fan-out to {len(who) - 1}, p99", percentile(fan, 99), "ms"),
        Figure("messages sent (ids acknowledged)", len(sent), "msgs"),
        Figure("lost (sent, never received)", lost, "msgs", "0", None, lost == 0),
        Figure("duplicates received", dupes, "msgs", "0", None, dupes == 0),
        Figure("received without a send", unasked, "msgs", "0", None, unasked == 0),
        Figure("sends refused or failed", refused + errors, "msgs", "0", None,
               refused + errors == 0),
        Figure("daemon CPU under load", load_cpu, "% of a core"),
        Figure("daemon CPU per message sent", 1e6 * load_cpu_s / max(1, len(sent)), "µs"),
        Figure("host load average (1 min) during the load", host_load, "runnable"),
        Figure("bench clients' CPU under load", 100 * sum(client_cpu) / window, "% of a core"),
        Figure("daemon RSS under load", load_rss, "MiB", "≤ 300 MiB", None, load_rss <= 300),
        Figure("daemon peak RSS", peak, "MiB"),
        Figure(f"TUI first paint, {len(who)} agents (median)", paint, "ms", "≤ 1500 ms",
               None, paint <= 1500),
    ]  # fmt: skip
    # remote_hop runs its own event loop: in a thread of its own, not inside this one
    return figures + await asyncio.to_thread(remote_hop)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--agents", type=int, default=1000, help="simulated agents")
    parser.add_argument("--workers", type=int, default=2, help="client processes")
    parser.add_argument("--rest-seconds", type=float, default=10.0)
    parser.add_argument("--rate", type=float, default=1000.0, help="point-to-point msgs/s")
    parser.add_argument("--seconds", type=float, default=20.0, help="the mixed-load window")
    parser.add_argument("--ask-share", type=float, default=0.1, help="sends that are asks")
    parser.add_argument("--broadcast-every", type=float, default=5.0, help="seconds")
    parser.add_argument("--tui-runs", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if args.agents < 2 or args.workers < 1 or args.workers > args.agents:
        parser.error("need at least 2 agents and between 1 and --agents workers")

    def say(text: str) -> None:
        if not args.json:
            print(text, file=sys.stderr, flush=True)

    figures = asyncio.run(measure(args, say))
    title = (
        f"scale ({args.agents} agents, {args.rate:g} msg/s for {args.seconds:g} s, "
        f"{os.cpu_count()} cores)"
    )
    return report(title, figures, args.json)


if __name__ == "__main__":
    main()
