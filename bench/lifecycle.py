"""Lifecycle benchmark: spawn→ready and restart→ready per runtime, and idle memory.

Runs a real daemon (``hyperhive daemon`` in a subprocess, the swarm on) whose agents run
the real harness (``python -m hyperhive agent serve``) with the scripted driver. Each
agent's config is seeded with an empty script (``{"turns": []}``): an idle agent whose
driver is usable, so its harness reaches ``messages.recv``; without a script the
harness reports ``driver_missing`` and never receives.

"Ready" is the moment the harness first takes a message from its socket: right after
the spawn (or restart) returns, the operator sends the agent a probe, and the daemon
publishes ``message.delivered`` when the harness's ``recv`` pops it (at once, if the
probe was already waiting). Memory: VmRSS (and the anonymous part, and PSS) of the
daemon and of every harness with ``--agents`` idle process-runtime agents.

    python bench/lifecycle.py [--runs 5] [--agents 20] [--runtimes process,nspawn] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import Figure, median, report  # noqa: E402
from hyperhive.core.agent_config import default_files  # noqa: E402
from hyperhive.core.client import HiveClient  # noqa: E402
from hyperhive.core.errors import HyperhiveError  # noqa: E402
from hyperhive.core.models import Role  # noqa: E402
from hyperhive.core.names import MANAGER  # noqa: E402
from hyperhive.core.runner import which  # noqa: E402
from hyperhive.core.runtimes import get_runtime  # noqa: E402
from hyperhive.core.runtimes.base import container_name  # noqa: E402
from hyperhive.core.settings import Settings  # noqa: E402
from tests.support.daemon import DaemonProcess  # noqa: E402

IDLE_SCRIPT = b'{"turns": []}\n'  # every message gets a turn that does nothing
READY_TIMEOUT = 60.0
TARGETS = {"process": 1.0, "nspawn": 3.0}  # spawn→ready, seconds
RSS_TARGET_MB = 60.0
GIT_ENV = {
    "GIT_AUTHOR_NAME": "bench",
    "GIT_AUTHOR_EMAIL": "bench@hyperhive.invalid",
    "GIT_COMMITTER_NAME": "bench",
    "GIT_COMMITTER_EMAIL": "bench@hyperhive.invalid",
}


# --- memory ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Memory:
    """Resident memory of one process, in MiB."""

    rss: float  # VmRSS: every resident page, shared libraries included
    anon: float  # RssAnon: the process's own heap (what a second copy really costs)
    pss: float  # PSS: resident pages, each shared one divided among its sharers


def memory_of(pid: int) -> Memory:
    """VmRSS, RssAnon and PSS of ``pid`` from /proc."""
    status: dict[str, float] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "RssAnon"):
            status[key] = int(value.split()[0]) / 1024
    pss = 0.0
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Pss:"):
            pss = int(line.split()[1]) / 1024
    return Memory(status["VmRSS"], status["RssAnon"], pss)


def harness_pid(settings: Settings, name: str) -> int:
    """The harness pid the process runtime recorded for ``name``."""
    record = settings.state_dir / "containers" / container_name(name) / "runtime.json"
    pid = json.loads(record.read_text()).get("pid")
    if not isinstance(pid, int):
        raise RuntimeError(f"no harness pid recorded for {name}")
    return pid


# --- a swarm under test ------------------------------------------------------------------


def seed_idle_agent(settings: Settings, name: str) -> None:
    """Create ``name``'s proposed repo (as the manager would) with the empty script.

    `lifecycle.spawn` pins the head of an existing proposed repo instead of writing
    the default config, so the agent is built from this commit.
    """
    repo = settings.proposed_dir(name)
    repo.mkdir(parents=True)
    files = default_files(name, Role.AGENT, driver="scripted", script=IDLE_SCRIPT)
    for rel, data in files.items():
        (repo / rel).write_bytes(data)
    env = {**os.environ, **GIT_ENV}
    for argv in (
        ["git", "init", "-q", "-b", "main"],
        ["git", "add", "-A"],
        ["git", "commit", "-q", "-m", "idle agent"],
    ):
        subprocess.run(argv, cwd=repo, env=env, check=True, capture_output=True)


@dataclass
class Swarm:
    """A real daemon in a temp dir, a host client, and an event subscription."""

    runtime: str
    base: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="hh-", dir="/tmp")))
    spawned: list[str] = field(default_factory=list)
    daemon: DaemonProcess | None = None
    host: HiveClient | None = None
    tap: HiveClient | None = None

    @property
    def settings(self) -> Settings:
        # unix socket paths are capped at 108 bytes: the run dir stays short
        return Settings(
            state_dir=self.base / "state", run_dir=self.base / "run", runtime=self.runtime
        )

    async def start(self) -> None:
        state = self.settings.state_dir
        state.mkdir(parents=True)
        (state / "hyperhive.toml").write_text(f'runtime = "{self.runtime}"\ndriver = "scripted"\n')
        self.daemon = DaemonProcess(self.settings, swarm=True)
        await self.daemon.start(timeout=60)
        self.host = await HiveClient.connect(self.settings.host_socket)
        self.tap = await HiveClient.connect(self.settings.host_socket)
        await self.tap.subscribe(["message.delivered", "turn.ended"])

    async def _wait_event(self, name: str, match: Callable[[dict[str, Any]], bool]) -> float:
        """Read pushed events until ``name`` matches; the local time it arrived."""
        assert self.tap is not None
        async with asyncio.timeout(READY_TIMEOUT):
            while True:
                event = await self.tap.next_event()
                if event.get("event") == name and match(event.get("data") or {}):
                    return time.perf_counter()

    async def probe(self, name: str) -> float:
        """Send ``name`` a message; the time its harness took it, once its turn is over."""
        assert self.host is not None
        sent = await self.host.call("messages.send", to=name, body="probe")
        probe_id = sent["ids"][0]
        ready = await self._wait_event(
            "message.delivered", lambda d: d.get("agent") == name and probe_id in d.get("ids", [])
        )
        # the (empty) turn the probe started: let it end so the agent is idle again
        await self._wait_event("turn.ended", lambda d: d.get("agent") == name)
        return ready

    async def spawn(self, name: str) -> tuple[float, float]:
        """Spawn ``name``; ``(seconds until the spawn returned, seconds until ready)``."""
        assert self.host is not None
        seed_idle_agent(self.settings, name)
        t0 = time.perf_counter()
        self.spawned.append(name)
        await self.host.call("lifecycle.spawn", name=name)
        built = time.perf_counter()
        ready = await self.probe(name)
        return built - t0, ready - t0

    async def restart(self, name: str) -> float:
        """Restart ``name``; seconds until its new harness is ready."""
        assert self.host is not None
        t0 = time.perf_counter()
        await self.host.call("lifecycle.restart", name=name)
        return await self.probe(name) - t0

    async def close(self) -> None:
        """Stop every agent (the manager too), the daemon, and anything left; remove the dir."""
        try:
            if self.host is not None:
                for name in [*self.spawned, MANAGER]:
                    try:
                        await self.host.call("lifecycle.kill", name=name)
                    except HyperhiveError as exc:
                        print(f"kill {name}: {exc}", file=sys.stderr)
                await self.host.close()
            if self.tap is not None:
                await self.tap.close()
        finally:
            if self.daemon is not None:
                self.daemon.stop()
            # a harness outlives its daemon (it is adopted on restart): sweep what is left
            runtime = get_runtime(self.settings)
            for status in await runtime.list():
                await runtime.destroy(status.name)
            shutil.rmtree(self.base, ignore_errors=True)


# --- the measurements --------------------------------------------------------------------


@dataclass
class Result:
    runtime: str
    spawn: list[float] = field(default_factory=list)  # spawn call → ready
    build: list[float] = field(default_factory=list)  # spawn call → spawn returned
    restart: list[float] = field(default_factory=list)
    daemon: Memory | None = None
    harnesses: list[Memory] = field(default_factory=list)


async def measure_runtime(runtime: str, runs: int, agents: int) -> Result:
    """Spawn ``agents`` (at least ``runs``), restart one ``runs`` times; memory when idle."""
    result = Result(runtime)
    swarm = Swarm(runtime)
    try:
        await swarm.start()
        names = [f"b{i:02d}" for i in range(max(runs, agents))]
        for name in names:
            built, ready = await swarm.spawn(name)
            result.build.append(built)
            result.spawn.append(ready)
        for _ in range(runs):
            result.restart.append(await swarm.restart(names[0]))
        if runtime == "process":
            assert swarm.daemon is not None and swarm.daemon.proc is not None
            result.daemon = memory_of(swarm.daemon.proc.pid)
            result.harnesses = [memory_of(harness_pid(swarm.settings, n)) for n in names]
    finally:
        await swarm.close()
    return result


def startup_floor(argv: list[str], runs: int) -> float:
    """Median wall time of running ``argv`` to completion."""
    samples = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(argv, check=True, capture_output=True)
        samples.append(time.perf_counter() - t0)
    return median(samples)


def nspawn_available() -> bool:
    return os.geteuid() == 0 and which("systemd-nspawn") is not None


def figures_of(result: Result, floor: float) -> list[Figure]:
    rt = result.runtime
    target = TARGETS[rt]
    spawn, restart = median(result.spawn), median(result.restart)
    boot = median([s - b for s, b in zip(result.spawn, result.build, strict=True)])
    figures = [
        Figure(f"{rt}: spawn→ready", spawn, "s", f"≤ {target:g} s", floor, spawn <= target),
        Figure(f"{rt}: spawn→ready max", max(result.spawn), "s"),
        Figure(f"{rt}:   spawn call (build+launch)", median(result.build), "s"),
        Figure(f"{rt}:   launch→ready (harness boot)", boot, "s"),
        Figure(f"{rt}: restart→ready", restart, "s", f"≤ {target:g} s", floor, restart <= target),
    ]
    if result.daemon is not None and result.harnesses:
        n = len(result.harnesses)
        mems = result.harnesses
        rss = [m.rss for m in mems]
        figures += [
            Figure(f"{rt}: daemon RSS, {n} idle agents", result.daemon.rss, "MB"),
            Figure(f"{rt}: daemon anon RSS", result.daemon.anon, "MB"),
            Figure(
                f"{rt}: harness RSS median",
                median(rss),
                "MB",
                f"≤ {RSS_TARGET_MB:g} MB",
                None,
                median(rss) <= RSS_TARGET_MB,
            ),
            Figure(f"{rt}: harness RSS max", max(rss), "MB", "", None, max(rss) <= RSS_TARGET_MB),
            Figure(
                f"{rt}: harness anon RSS median", median([m.anon for m in result.harnesses]), "MB"
            ),
            Figure(f"{rt}: harness PSS median", median([m.pss for m in mems]), "MB"),
            Figure(f"{rt}: harnesses PSS total", sum(m.pss for m in mems), "MB"),
        ]
    return figures


async def measure(runs: int, agents: int, runtimes: list[str]) -> list[Figure]:
    py = sys.executable
    serve = subprocess.run([py, "-m", "hyperhive", "agent", "serve", "--help"], capture_output=True)
    if serve.returncode != 0:
        raise SystemExit(f"`hyperhive agent serve` is not usable: {serve.stderr.decode()[-500:]}")
    floor = startup_floor([py, "-c", "pass"], runs)
    imports = startup_floor(
        [py, "-c", "import hyperhive.agent.harness, hyperhive.agent.mcp_server"], runs
    )
    figures: list[Figure] = []
    for runtime in runtimes:
        if runtime == "nspawn" and not nspawn_available():
            print("nspawn: skipped (needs root and systemd-nspawn)", file=sys.stderr)
            continue
        result = await measure_runtime(runtime, runs, agents if runtime == "process" else runs)
        figures += figures_of(result, floor)
    figures += [
        Figure("floor: python -c pass", floor, "s"),
        Figure("harness + mcp imports (mcp is paid at the first turn)", imports, "s"),
    ]
    return figures


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="spawns/restarts per runtime")
    parser.add_argument("--agents", type=int, default=20, help="idle process agents for RSS")
    parser.add_argument("--runtimes", default="process,nspawn", help="comma-separated")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    runtimes = [r.strip() for r in args.runtimes.split(",") if r.strip()]
    unknown = set(runtimes) - set(TARGETS)
    if unknown:
        parser.error(f"unknown runtime(s): {', '.join(sorted(unknown))}")
    figures = asyncio.run(measure(args.runs, args.agents, runtimes))
    title = f"lifecycle (pid {os.getpid()}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f})"
    return report(title, figures, args.json)


if __name__ == "__main__":
    main()
