"""The nspawn runtime: each agent is a systemd-nspawn process the daemon supervises."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import shutil
import signal
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path

import hyperhive
from hyperhive.core.errors import CommandError, ContainerError, InvalidInput, Refused
from hyperhive.core.pty import PtySession
from hyperhive.core.runner import Completed, Runner, which
from hyperhive.core.runtimes.base import AgentSpec

# The cgroup code lived here before it moved to cgroups.py; the redundant aliases keep
# `from hyperhive.core.runtimes.nspawn import ...` working.
from hyperhive.core.runtimes.cgroups import CPU_PERIOD_US as CPU_PERIOD_US
from hyperhive.core.runtimes.cgroups import JOIN_SCRIPT as JOIN_SCRIPT
from hyperhive.core.runtimes.cgroups import CgroupMount as CgroupMount
from hyperhive.core.runtimes.cgroups import cgroup_dirs_of as cgroup_dirs_of
from hyperhive.core.runtimes.cgroups import cgroup_mounts as cgroup_mounts
from hyperhive.core.runtimes.cgroups import cgroup_pids as cgroup_pids
from hyperhive.core.runtimes.cgroups import join_argv as join_argv
from hyperhive.core.runtimes.cgroups import limit_mode as limit_mode
from hyperhive.core.runtimes.cgroups import parse_cpu_quota as parse_cpu_quota
from hyperhive.core.runtimes.cgroups import parse_memory as parse_memory
from hyperhive.core.runtimes.cgroups import prepare_cgroups as prepare_cgroups
from hyperhive.core.runtimes.cgroups import remove_cgroups as remove_cgroups
from hyperhive.core.runtimes.cgroups import scope_argv as scope_argv
from hyperhive.core.runtimes.process import DEFAULT_PATH, AgentPaths, harness_command, harness_env
from hyperhive.core.runtimes.rootfs import UID_RANGE, allocate_uid_base, build_root, chown_tree
from hyperhive.core.runtimes.supervisor import (
    RuntimeRecord,
    SupervisedRuntime,
    children,
    prepare_dirs,
    signal_pid,
    wait_gone,
)
from hyperhive.core.settings import Settings

logger = logging.getLogger(__name__)

# Where an agent finds its files inside the container.
CONTAINER_PATHS = AgentPaths(
    socket=Path("/run/hive/hive.sock"),
    state=Path("/state"),
    creds=Path("/creds"),
    etc=Path("/etc/hyperhive"),
    applied=Path("/config"),
    agents=Path("/agents"),
    applied_root=Path("/applied"),
    meta=Path("/meta"),
)
CONTAINER_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin"
HOST_RO = ("/etc/ssl", "/etc/ca-certificates", "/etc/alternatives", "/etc/pki")
_STOP_GRACE_SECONDS = 5.0
_LEADER_WAIT_SECONDS = 10.0


# --- the command line --------------------------------------------------------------------


def install_paths() -> tuple[Path, ...]:
    """Host paths to bind read-only so that ``python -m hyperhive`` works inside.

    The interpreter's prefixes (a venv and its base) and the hyperhive package itself
    (an editable install lives outside site-packages); paths under ``/usr`` are already
    bound, and a Nix-built Python needs the whole store.
    """
    package = Path(hyperhive.__file__).resolve().parent
    candidates = [Path(sys.base_prefix), Path(sys.prefix), package]
    if any(str(p).startswith("/nix/store/") for p in candidates):
        candidates.insert(0, Path("/nix/store"))
    chosen: list[Path] = []
    for path in candidates:
        if path.is_relative_to("/usr") or any(path.is_relative_to(c) for c in chosen):
            continue
        chosen = [c for c in chosen if not c.is_relative_to(path)] + [path]
    return tuple(chosen)


def host_ro_paths() -> tuple[Path, ...]:
    """Host config the agent CLI needs (TLS roots, Debian alternatives), where present."""
    return tuple(Path(p) for p in HOST_RO if Path(p).exists())


def _bind(source: Path, target: str | Path | None = None, *, ro: bool, opts: str = "") -> str:
    if ":" in str(source):
        raise InvalidInput(f"cannot bind {source} into a container: the path holds a ':'")
    spec = str(source) if target is None and not opts else f"{source}:{target or source}"
    if opts:
        spec = f"{spec}:{opts}"
    return f"--bind-ro={spec}" if ro else f"--bind={spec}"


def nspawn_argv(
    spec: AgentSpec,
    settings: Settings,
    root: Path,
    *,
    uid_base: int | None,
    install: Sequence[Path] | None = None,
    host_ro: Sequence[Path] | None = None,
) -> list[str]:
    """The systemd-nspawn command line of one agent (a pure function of its inputs).

    Args:
        spec: the agent.
        settings: ``settings.container`` decides private users and network.
        root: the container's minimal root directory.
        uid_base: first host uid of the agent's private range (needed with private users).
        install: read-only binds for Python and hyperhive (default: `install_paths()`).
        host_ro: read-only binds of host config (default: `host_ro_paths()`).

    Raises:
        InvalidInput: private users without a uid base, or a path nspawn cannot bind.
    """
    private_users = settings.container.private_users
    if private_users and uid_base is None:
        raise InvalidInput("private users need a uid base")
    argv = [
        "systemd-nspawn",
        "--register=no",
        "--keep-unit",
        "-q",
        "-D",
        str(root),
        f"--machine={spec.container}",
        "--settings=no",
        "--as-pid2",
        "--console=pipe",
        "--link-journal=no",
        "--resolv-conf=off",
        "--timezone=off",
        # the harness starts where the agent cannot write (it runs `python -I` too)
        f"--chdir={CONTAINER_PATHS.applied}",
    ]
    if private_users:
        argv += [f"--private-users={uid_base}:{UID_RANGE}", "--private-users-ownership=off"]
    else:
        argv.append("--private-users=no")
    if spec.private_network or settings.container.private_network:
        argv.append("--private-network")
    argv.append("--bind-ro=/usr")
    for path in host_ro_paths() if host_ro is None else host_ro:
        argv.append(_bind(path, ro=True))
    for path in install_paths() if install is None else install:
        argv.append(_bind(path, ro=True))
    argv += [
        _bind(spec.socket_dir, "/run/hive", ro=False),
        _bind(spec.state_dir, CONTAINER_PATHS.state, ro=False),
        _bind(spec.creds_dir, CONTAINER_PATHS.creds, ro=False),
        _bind(spec.etc_dir, CONTAINER_PATHS.etc, ro=True),
        _bind(spec.applied_dir, CONTAINER_PATHS.applied, ro=True),
    ]
    if spec.agents_root is not None:
        # every agent's proposed repo, written by the daemon as root too: an idmapped
        # bind shows host root as root inside, so no ownership dance between the two
        idmap = "idmap" if private_users else ""
        argv.append(_bind(spec.agents_root, CONTAINER_PATHS.agents, ro=False, opts=idmap))
    if spec.applied_root is not None:
        argv.append(_bind(spec.applied_root, CONTAINER_PATHS.applied_root, ro=True))
    if spec.meta_dir is not None:
        argv.append(_bind(spec.meta_dir, CONTAINER_PATHS.meta, ro=True))
    for key, value in container_env(spec).items():
        argv.append(f"--setenv={key}={value}")
    argv += ["--", *harness_command(spec)]
    return argv


def container_env(spec: AgentSpec) -> dict[str, str]:
    """The harness environment inside the container."""
    # only read-only binds: /usr (merged, so /bin and /sbin, which the container's root
    # owns, add nothing) and the interpreter's dir; nothing the agent writes is on PATH
    base = {"PATH": f"{Path(sys.executable).parent}:{CONTAINER_PATH}", "LANG": "C.UTF-8"}
    return harness_env(spec, CONTAINER_PATHS, base)


def nsenter_argv(leader: int, argv: Sequence[str], env: Mapping[str, str]) -> list[str]:
    """Run ``argv`` inside the container of ``leader`` (its namespaces, root, cwd /state)."""
    assignments = [f"{k}={v}" for k, v in env.items()]
    return [
        "nsenter",
        f"--target={leader}",
        "--all",
        "--",
        "/usr/bin/env",
        "-i",
        f"--chdir={CONTAINER_PATHS.state}",
        *assignments,
        *argv,
    ]


# --- mounts ------------------------------------------------------------------------------


def mounts_under(path: Path) -> list[str]:
    """Mount points at or below ``path`` in the daemon's mount namespace."""
    prefix = str(path.resolve())
    found = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = line.split()[4].replace("\\040", " ")
        if point == prefix or point.startswith(prefix + "/"):
            found.append(point)
    return found


# --- the runtime -------------------------------------------------------------------------


class NspawnRuntime(SupervisedRuntime):
    """Agents as systemd-nspawn containers: unprivileged by default, with resource limits."""

    name = "nspawn"

    def __init__(self, settings: Settings, runner: Runner) -> None:
        super().__init__(settings, runner)
        digest = hashlib.sha256(str(settings.state_dir.resolve()).encode()).hexdigest()
        self._instance = digest[:8]

    def root_dir(self, name: str) -> Path:
        """The container's minimal root: ``<state>/containers/<container>/root``."""
        return self.runtime_dir(name) / "root"

    def cgroup_leaf(self, name: str) -> str:
        """The container's cgroup (and scope) name, unique per install of hyperhive."""
        rec = self.record(name)
        container = rec.spec.container if rec else f"h-{name}"
        return f"{container}-{self._instance}"

    def uid_base(self, name: str) -> int | None:
        """First host uid of the agent's range (uid 0 inside), None without private users."""
        rec = self.record(name)
        return rec.uid_base if rec else None

    def _host_env(self) -> dict[str, str]:
        return {"PATH": os.environ.get("PATH") or DEFAULT_PATH, "LANG": "C.UTF-8"}

    def _check_host(self) -> None:
        if os.geteuid() != 0:
            raise ContainerError("the nspawn runtime needs root")
        if which("systemd-nspawn") is None:
            raise ContainerError("systemd-nspawn is not installed (Debian: systemd-container)")

    async def create(self, spec: AgentSpec) -> None:
        """Build the container's root, allocate its uid range, own its writable dirs."""
        self._check_host()
        rec = self.record(spec.name)
        if rec is not None and self._running(rec):
            return
        uid_base = None
        if self.settings.container.private_users:
            registry = self.settings.state_dir / "containers" / "uid-ranges.json"
            uid_base = await asyncio.to_thread(allocate_uid_base, registry, spec.container)
        await asyncio.to_thread(self._prepare_files, spec, uid_base)
        base = rec or RuntimeRecord(runtime=self.name, spec=spec)
        self._save(replace(base, spec=spec, uid_base=uid_base))

    def _prepare_files(self, spec: AgentSpec, uid_base: int | None) -> None:
        prepare_dirs(spec)
        for view in (spec.agents_root, spec.applied_root, spec.meta_dir):
            # the manager's views of the swarm: nspawn cannot bind a missing path, and the
            # meta repo only appears with the first deploy, which may be the manager's own
            if view is not None:
                view.mkdir(parents=True, exist_ok=True)
        build_root(self.root_dir(spec.name), hostname=spec.container, owner=uid_base)
        if uid_base is not None:
            # root inside is uid_base outside: it must own what it writes
            for path in (spec.state_dir, spec.creds_dir, spec.socket_dir):
                chown_tree(path, uid_base, uid_base)

    async def start(self, spec: AgentSpec) -> None:
        """Launch the container (idempotent: a running one is left alone)."""
        rec = self.record(spec.name)
        if rec is not None and self._running(rec):
            return
        await self.create(spec)
        rec = self._require(spec.name)
        if rec.cgroups or rec.scope:
            await self._sweep(rec)  # leftovers of a container that died on its own
        for path in (spec.applied_dir, spec.agents_root, spec.applied_root, spec.meta_dir):
            if path is not None and not path.is_dir():
                raise ContainerError(f"cannot start agent {spec.name}: {path} does not exist")
        argv = nspawn_argv(spec, self.settings, self.root_dir(spec.name), uid_base=rec.uid_base)
        memory = spec.memory_max or self.settings.container.memory_max
        cpu = spec.cpu_quota or self.settings.container.cpu_quota
        leaf = self.cgroup_leaf(spec.name)
        scope: str | None = None
        cgroups: list[Path] = []
        if limit_mode() == "scope":
            scope = f"hyperhive-{leaf}.scope"
            argv = scope_argv(scope, memory, cpu, argv)
        else:
            mem_bytes, cpu_percent = parse_memory(memory), parse_cpu_quota(cpu)
            cgroups = await asyncio.to_thread(prepare_cgroups, leaf, mem_bytes, cpu_percent)
            argv = join_argv(cgroups, argv)
        started = time.time()
        pid, start_time = self._spawn(
            spec.name,
            argv,
            env=self._host_env(),
            cwd=Path("/"),
            log=spec.state_dir.parent / "harness.log",
        )
        self._save(
            replace(
                rec,
                spec=spec,
                pid=pid,
                start_time=start_time,
                started_at=started,
                cgroups=tuple(str(c) for c in cgroups),
                scope=scope,
            )
        )
        logger.info("started container %s as pid %d", spec.container, pid)

    def _status_pid(self, rec: RuntimeRecord) -> int | None:
        return self._leader(rec) or rec.pid

    def _leader(self, rec: RuntimeRecord) -> int | None:
        """The container's PID 1 on the host: the child of nspawn in another pid namespace."""
        if rec.pid is None:
            return None
        own = os.readlink("/proc/self/ns/pid")
        for child in children(rec.pid):
            with contextlib.suppress(OSError):
                if os.readlink(f"/proc/{child}/ns/pid") != own:
                    return child
        return None

    async def leader(self, name: str) -> int:
        """The container's PID 1 on the host, waiting briefly for a starting container.

        Raises:
            NotFound: no such container.
            Refused: the container is not running.
        """
        rec = self._require(name)
        deadline = time.monotonic() + _LEADER_WAIT_SECONDS
        while self._running(rec):
            leader = self._leader(rec)
            if leader is not None:
                return leader
            if time.monotonic() > deadline:
                raise ContainerError(f"container of {name} did not come up")
            await asyncio.sleep(0.02)  # nspawn forks the container within milliseconds
        raise Refused(f"agent {name} is not running")

    async def stop(self, name: str, *, timeout: float = 10.0) -> None:
        """SIGTERM the harness, SIGKILL the container after ``timeout``; leave nothing behind.

        The harness gets the SIGTERM directly: the stub init nspawn runs as PID 1
        (``--as-pid2``) drops signals sent from outside the container.
        """
        rec = self.record(name)
        if rec is None or rec.pid is None:
            return
        if self._running(rec):
            leader = self._leader(rec)
            payload = children(leader) if leader else []
            for pid in payload:
                signal_pid(pid, signal.SIGTERM)
            if not payload:
                signal_pid(rec.pid, signal.SIGTERM, rec.start_time)
            if not await wait_gone(rec.pid, rec.start_time, timeout):
                # nspawn answers SIGTERM by SIGKILLing the container and cleaning up
                signal_pid(rec.pid, signal.SIGTERM, rec.start_time)
                if not await wait_gone(rec.pid, rec.start_time, _STOP_GRACE_SECONDS):
                    if leader is not None:
                        signal_pid(leader, signal.SIGKILL)
                    signal_pid(rec.pid, signal.SIGKILL, rec.start_time)
                    await wait_gone(rec.pid, rec.start_time, _STOP_GRACE_SECONDS)
        await self._sweep(rec)
        self._reap(name)
        self._save(replace(rec, cgroups=(), scope=None))
        logger.info("stopped container %s", rec.spec.container)

    async def _sweep(self, rec: RuntimeRecord) -> None:
        """Kill whatever is left in the container's cgroups and remove them."""
        if rec.scope:
            for argv in (
                ["systemctl", "kill", "--signal=SIGKILL", rec.scope],
                ["systemctl", "stop", rec.scope],
            ):
                with contextlib.suppress(CommandError):
                    await self.runner.run(argv, check=False)
            return
        dirs = [Path(d) for d in rec.cgroups]
        for _ in range(3):
            pids = await asyncio.to_thread(cgroup_pids, dirs)
            if not pids:
                break
            for pid in pids:
                signal_pid(pid, signal.SIGKILL)
            for pid in pids:
                await wait_gone(pid, None, _STOP_GRACE_SECONDS)
        busy = await asyncio.to_thread(remove_cgroups, dirs)
        if busy:
            logger.warning("cgroups of %s still busy: %s", rec.spec.container, busy)

    async def destroy(self, name: str) -> None:
        """Stop the container and remove its root and record (never the agent's state)."""
        rec = self.record(name)
        if rec is None:
            return
        await self.stop(name)
        runtime_dir = self.runtime_dir(name)
        left = mounts_under(runtime_dir)
        if left:
            # rmtree would walk into a bind mount of the agent's state and delete it
            raise ContainerError(f"cannot remove {runtime_dir}: still mounted: {left}")
        await asyncio.to_thread(shutil.rmtree, runtime_dir, True)
        self._forget(name)

    async def _inside(
        self, name: str, argv: Sequence[str], extra_env: Mapping[str, str]
    ) -> list[str]:
        rec = self._require(name)
        leader = await self.leader(name)
        env = container_env(rec.spec) | dict(extra_env)
        inner = nsenter_argv(leader, argv, env)
        # exec'd processes share the container's limits and die with it
        return join_argv(cgroup_dirs_of(leader), inner)

    async def exec(
        self,
        name: str,
        argv: Sequence[str],
        *,
        input: str | None = None,
        timeout: float | None = None,
    ) -> Completed:
        """Run ``argv`` inside the running container as its root, in ``/state``."""
        if timeout is not None:
            # the runner only kills nsenter on the host; timeout(1) ends the command inside
            argv = ["/usr/bin/timeout", "--kill-after=2", str(timeout), *argv]
        full = await self._inside(name, argv, {})
        return await self.runner.run(
            full,
            check=False,
            input=input,
            env=self._host_env(),
            timeout=timeout + _STOP_GRACE_SECONDS if timeout is not None else None,
        )

    async def open_pty(
        self, name: str, argv: Sequence[str], *, rows: int = 24, cols: int = 80
    ) -> PtySession:
        """Start ``argv`` inside the running container on a fresh PTY."""
        full = await self._inside(name, argv, {"TERM": "xterm-256color"})
        return await PtySession.start(full, env=self._host_env(), rows=rows, cols=cols)
