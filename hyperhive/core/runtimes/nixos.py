"""The nixos runtime: one nixos-container per agent, built from a generated meta flake."""

from __future__ import annotations

import asyncio
import os
import platform
import re
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path

from hyperhive.core import safefs
from hyperhive.core.agent_config import CONFIG_ENV_KEYS
from hyperhive.core.errors import CommandError, ContainerError, InvalidInput
from hyperhive.core.pty import PtySession
from hyperhive.core.runner import Completed, Runner
from hyperhive.core.runtimes import process
from hyperhive.core.runtimes.base import (
    AgentSpec,
    ContainerState,
    ContainerStatus,
    PtyProcess,
    container_name,
)
from hyperhive.core.runtimes.nixos_meta import NIX_FLAGS, lock_meta, write_atomic

# The meta flake code lived here before it moved to nixos_meta.py; the redundant aliases
# keep `from hyperhive.core.runtimes.nixos import ...` working.
from hyperhive.core.runtimes.nixos_meta import MetaAgent as MetaAgent
from hyperhive.core.runtimes.nixos_meta import agent_of as agent_of
from hyperhive.core.runtimes.nixos_meta import container_flake as container_flake
from hyperhive.core.runtimes.nixos_meta import lock_argv as lock_argv
from hyperhive.core.runtimes.nixos_meta import meta_flake as meta_flake
from hyperhive.core.runtimes.nixos_meta import nix_string as nix_string
from hyperhive.core.runtimes.nixos_meta import render_meta_flake as render_meta_flake
from hyperhive.core.runtimes.nixos_meta import render_meta_inputs as render_meta_inputs
from hyperhive.core.runtimes.nixos_meta import scan_meta_agents as scan_meta_agents
from hyperhive.core.runtimes.nixos_meta import write_agent_files as write_agent_files
from hyperhive.core.runtimes.rootfs import UID_RANGE, allocate_uid_base, chown_tree
from hyperhive.core.settings import Settings

CONTAINERS_DIR = Path("/etc/nixos-containers")
FLAKE_ENV = "HYPERHIVE_FLAKE"  # set by services.hyperhive (module.nix)
MIN_NIX_VERSION = (2, 4)  # `nix flake lock` on a path: flake
HARNESS_ENV_FILE = "harness.env"  # in the socket dir: /run/hive/harness.env inside

# Where the host paths of an AgentSpec appear inside the container: as in the nspawn
# runtime, and as nix/harness-env.nix assumes. /etc/hyperhive is NixOS's own (the
# store), so spec.etc_dir is not bound.
HIVE_MOUNT = "/run/hive"
CONTAINER_PATHS = process.AgentPaths(
    socket=Path(HIVE_MOUNT) / "hive.sock",
    state=Path("/state"),
    creds=Path("/creds"),
    etc=Path("/etc/hyperhive"),
    applied=Path("/config"),
    agents=Path("/agents"),
    applied_root=Path("/applied"),
    meta=Path("/meta"),
)

# EXTRA_NSPAWN_FLAGS is word-split (and globbed) by the container@ start script, and ':'
# separates a bind's fields: only paths made of these characters survive the trip.
_BINDABLE = re.compile(r"^/[A-Za-z0-9._/@+=,-]*$")
_ENV_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_NIX_VERSION = re.compile(r"(\d+)\.(\d+)(?:\.(\d+))?")
_NETWORK_KEYS = (
    "HOST_ADDRESS",
    "LOCAL_ADDRESS",
    "HOST_ADDRESS6",
    "LOCAL_ADDRESS6",
    "HOST_BRIDGE",
    "HOST_PORT",
)


# --- the host ------------------------------------------------------------------------


def nix_system() -> str:
    """The nix system double of this host, e.g. ``x86_64-linux``."""
    machine = platform.machine()
    return {"amd64": "x86_64", "arm64": "aarch64"}.get(machine, machine) + "-linux"


# --- argv, as data -------------------------------------------------------------------


CONTAINER_ACTIONS = ("create", "update", "start", "stop", "terminate", "destroy", "status")


def container_argv(action: str, agent: str, meta_dir: Path | None = None) -> list[str]:
    """``nixos-container <action> <container>``; create and update build from meta."""
    if action not in CONTAINER_ACTIONS:
        raise ValueError(f"unknown nixos-container action {action!r}")
    argv = ["nixos-container", action, container_name(agent)]
    if action in ("create", "update"):
        if meta_dir is None:
            raise ValueError(f"nixos-container {action} needs the meta dir")
        argv += ["--flake", container_flake(meta_dir, agent)]
    return argv


def list_argv() -> list[str]:
    return ["nixos-container", "list"]


def leader_argv(agent: str) -> list[str]:
    return ["machinectl", "show", "--property=Leader", "--value", container_name(agent)]


def exec_argv(agent: str, argv: Sequence[str]) -> list[str]:
    """Run ``argv`` in a login shell of the container, stdio piped, exit code kept.

    Not ``nixos-container run``: it allocates a PTY, which merges stderr into stdout and
    echoes the input back.
    """
    run = ["systemd-run", f"--machine={container_name(agent)}", "--quiet", "--pipe", "--wait"]
    return [*run, "--collect", "--", "/bin/sh", "-lc", 'exec "$@"', "sh", *argv]


def pty_argv(agent: str, argv: Sequence[str]) -> list[str]:
    return ["nixos-container", "run", container_name(agent), "--", *argv]


def limits_argv(agent: str, memory_max: str | None, cpu_quota: str | None) -> list[str] | None:
    """``systemctl set-property`` for the container's unit, or None without limits.

    The container@ unit runs nspawn with --keep-unit, where nspawn's own --property is
    ignored; the limits belong on the unit. --runtime: start() sets them every time.
    """
    props = [f"MemoryMax={memory_max}"] if memory_max else []
    props += [f"CPUQuota={cpu_quota}"] if cpu_quota else []
    if not props:
        return None
    unit = f"container@{container_name(agent)}.service"
    return ["systemctl", "set-property", "--runtime", unit, *props]


def nix_version_argv() -> list[str]:
    return ["nix", "--version"]


def lock_probe_argv() -> list[str]:
    return ["nix", *NIX_FLAGS, "flake", "lock", "--help"]


# --- container config ----------------------------------------------------------------


def bind_flags(spec: AgentSpec, *, private_users: bool) -> list[str]:
    """The nspawn bind flags of one container (the manager's extras when its spec has them).

    With private users the agent's own dirs are chowned to its uid range before start;
    /agents, which the daemon keeps writing as host root, is idmapped instead.

    Raises:
        ContainerError: a host path cannot travel through EXTRA_NSPAWN_FLAGS.
    """
    paths = CONTAINER_PATHS
    binds: list[tuple[Path, Path, str]] = [
        (spec.socket_dir, Path(HIVE_MOUNT), "rw"),
        (spec.state_dir, paths.state, "rw"),
        (spec.creds_dir, paths.creds, "rw"),
        (spec.applied_dir, paths.applied, "ro"),
    ]
    if spec.agents_root is not None and paths.agents is not None:
        binds.append((spec.agents_root, paths.agents, "idmap" if private_users else "rw"))
    if spec.applied_root is not None and paths.applied_root is not None:
        binds.append((spec.applied_root, paths.applied_root, "ro"))
    if spec.meta_dir is not None and paths.meta is not None:
        binds.append((spec.meta_dir, paths.meta, "ro"))
    flags = []
    for source, target, mode in binds:
        if not _BINDABLE.fullmatch(str(source)):
            raise ContainerError(
                f"cannot bind {source} into {spec.container}: nixos-container passes binds "
                "through a word-split variable; use a path of letters, digits and ._/@+=,-"
            )
        flag = "--bind-ro" if mode == "ro" else "--bind"
        flags.append(f"{flag}={source}:{target}" + (":idmap" if mode == "idmap" else ""))
    return flags


def nspawn_flags(spec: AgentSpec, *, uid_base: int | None) -> list[str]:
    """EXTRA_NSPAWN_FLAGS: the user namespace and the binds.

    ``uid_base`` None: no user namespace. Otherwise the range is fixed per container (as
    in the nspawn runtime, not ``pick``) so the bound dirs can be chowned to it before
    the first start; nspawn chowns the container's own root the first time.
    """
    userns = []
    if uid_base is not None:
        userns = [f"--private-users={uid_base}:{UID_RANGE}", "--private-users-ownership=chown"]
    return userns + bind_flags(spec, private_users=uid_base is not None)


def render_container_conf(
    existing: str, *, flake: str, flags: Sequence[str], private_network: bool
) -> str:
    """``/etc/nixos-containers/<c>.conf``: nixos-container's own keys kept, ours set.

    Without a private network the container shares the host's, and the addresses
    nixos-container picked at create would only make its start script set up a veth.
    """
    values: dict[str, str] = {}
    for line in existing.splitlines():
        key, sep, value = line.partition("=")
        if sep and not key.startswith("#"):
            values[key.strip()] = value
    values["PRIVATE_NETWORK"] = "1" if private_network else "0"
    if not private_network:
        values.update(dict.fromkeys(_NETWORK_KEYS, ""))
    values["AUTO_START"] = "0"  # the daemon starts the agents it wants running
    values["FLAKE"] = flake
    values["EXTRA_NSPAWN_FLAGS"] = '"' + " ".join(flags) + '"'
    lines = ["# Written by hyperhive on every create and start; edits are overwritten."]
    lines += [f"{key}={value}" for key, value in values.items()]
    return "\n".join(lines) + "\n"


def render_env_file(env: Mapping[str, str]) -> str:
    """A systemd EnvironmentFile holding ``env`` (double-quoted, no expansion).

    Raises:
        InvalidInput: a name is not a variable name, or a value holds a control character.
    """
    lines = []
    for key, value in sorted(env.items()):
        if not _ENV_KEY.fullmatch(key):
            raise InvalidInput(f"harness environment: {key!r} is not a variable name")
        if any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
            raise InvalidInput(f"harness environment: {key} holds a control character")
        quoted = value.replace("\\", "\\\\").replace('"', '\\"')
        lines.append(f'{key}="{quoted}"')
    return "".join(line + "\n" for line in lines)


def write_harness_env(spec: AgentSpec) -> None:
    """Write /run/hive/harness.env into the socket dir, which the agent can write.

    The daemon is root and the directory is the agent's: a link planted at the file's
    name (or at a temporary name beside it) is replaced, never followed.
    """
    data = render_env_file(container_env(spec)).encode()
    safefs.write_atomic(spec.socket_dir, HARNESS_ENV_FILE, data, 0o644, parents=False)


def container_env(spec: AgentSpec) -> dict[str, str]:
    """/run/hive/harness.env: the paths inside and ``spec.env``, as the other runtimes give.

    The portable settings (driver, model, ...) are left out: on NixOS they come from the
    system, where agent.nix may override agent.toml, and the file would override both.
    """
    env = process.harness_env(spec, CONTAINER_PATHS)
    return {key: value for key, value in env.items() if key not in CONFIG_ENV_KEYS}


# --- nix -----------------------------------------------------------------------------


def parse_nix_version(text: str) -> tuple[int, ...] | None:
    """``(2, 18, 1)`` from ``nix (Nix) 2.18.1`` (or a Lix banner), else None."""
    match = _NIX_VERSION.search(text.partition(")")[2] or text)
    if match is None:
        return None
    return tuple(int(part) for part in match.groups() if part is not None)


async def check_nix(runner: Runner) -> str:
    """Check that the installed nix can lock the meta flake; return its version.

    The daemon calls this at start-up with the nixos runtime, so a host whose nix is too
    old (or renamed the command) fails at once with a clear message, not at first deploy.

    Raises:
        ContainerError: nix is missing, too old, or rejects ``nix flake lock``.
    """
    try:
        banner = (await runner.run(nix_version_argv(), timeout=60)).stdout.strip()
    except CommandError as exc:
        raise ContainerError(
            f"the nixos runtime needs nix on PATH: `nix --version`: {exc}"
        ) from exc
    version = parse_nix_version(banner)
    if version is None:
        raise ContainerError(f"cannot tell the nix version from `nix --version`: {banner!r}")
    shown = ".".join(map(str, version))
    if version < MIN_NIX_VERSION:
        raise ContainerError(
            f"nix {shown} is too old for the nixos runtime: it runs `nix flake lock`, "
            f"which needs nix >= {'.'.join(map(str, MIN_NIX_VERSION))}"
        )
    probe = await runner.run(lock_probe_argv(), check=False, timeout=60)
    if probe.returncode != 0:
        detail = " / ".join(probe.stderr.strip().splitlines()[-3:]) or f"exit {probe.returncode}"
        raise ContainerError(
            f"nix {shown} does not understand `{' '.join(lock_probe_argv()[:-1])}`, which "
            f"the nixos runtime uses to lock the meta flake: {detail}"
        )
    return shown


# --- the runtime ---------------------------------------------------------------------


class NixosRuntime:
    """Agents as imperative nixos-containers built from ``<state>/meta#<container>``."""

    name = "nixos"

    def __init__(
        self,
        settings: Settings,
        runner: Runner,
        *,
        containers_dir: Path = CONTAINERS_DIR,
        flake: str | None = None,
        system: str | None = None,
    ) -> None:
        self._settings = settings
        self._runner = runner
        self._containers_dir = containers_dir
        self._flake = flake or os.environ.get(FLAKE_ENV) or None
        self._system = system or nix_system()
        self._meta_lock = asyncio.Lock()

    @property
    def meta_dir(self) -> Path:
        return self._settings.meta_dir

    def conf_path(self, agent: str) -> Path:
        return self._containers_dir / f"{container_name(agent)}.conf"

    def build_inputs(self) -> str:
        """The hyperhive flake the containers build from (a new one after an upgrade)."""
        return self._flake or ""

    async def create(self, spec: AgentSpec) -> None:
        """Render the agent into the meta flake and build its container (or rebuild it)."""
        if self.conf_path(spec.name).exists():
            await self.update(spec)
            return
        await self.sync_meta(spec)
        await self._run(
            container_argv("create", spec.name, self.meta_dir), f"create {spec.container}"
        )
        await self._write_conf(spec)

    async def update(self, spec: AgentSpec) -> None:
        """Rebuild an existing container from the applied repo; a running one is switched."""
        await self.sync_meta(spec)
        await self._run(
            container_argv("update", spec.name, self.meta_dir), f"update {spec.container}"
        )
        await self._write_conf(spec)

    async def start(self, spec: AgentSpec) -> None:
        """Refresh the binds, the harness environment and the limits; start the container."""
        if not self.conf_path(spec.name).exists():
            raise ContainerError(f"container {spec.container} does not exist; create it first")
        for directory in (spec.socket_dir, spec.state_dir, spec.creds_dir):
            directory.mkdir(parents=True, exist_ok=True)
        spec.creds_dir.chmod(0o700)
        write_harness_env(spec)
        uid_base = await self._write_conf(spec)
        if uid_base is not None:
            for directory in (spec.state_dir, spec.creds_dir, spec.socket_dir):
                await asyncio.to_thread(chown_tree, directory, uid_base, uid_base)
        limits = limits_argv(spec.name, spec.memory_max, spec.cpu_quota)
        if limits is not None:
            await self._run(limits, f"set the limits of {spec.container}")
        await self._run(container_argv("start", spec.name), f"start {spec.container}")

    async def stop(self, name: str, *, timeout: float = 10.0) -> None:
        """``nixos-container stop``; ``terminate`` once ``timeout`` has passed."""
        if not self.conf_path(name).exists():
            return
        try:
            await self._run(
                container_argv("stop", name), f"stop {container_name(name)}", timeout=timeout
            )
        except TimeoutError:
            await self._run(container_argv("terminate", name), f"terminate {container_name(name)}")

    async def destroy(self, name: str) -> None:
        """Remove the container and its meta flake entry; the kept state stays."""
        await self._run(container_argv("destroy", name), f"destroy {container_name(name)}")
        async with self._meta_lock:
            shutil.rmtree(self.meta_dir / "agents" / name, ignore_errors=True)
            # without the flake reference the stale entry stays; nix evaluates it lazily
            if self._flake is not None and (self.meta_dir / "flake.nix").exists():
                self._write_meta_flake(self._flake)

    async def status(self, name: str) -> ContainerStatus:
        """``up`` is running (with the leader's pid), ``down`` stopped, else absent."""
        result = await self._runner.run(container_argv("status", name), check=False, timeout=30)
        word = result.stdout.strip()
        if result.returncode != 0 or word not in ("up", "down"):
            return ContainerStatus(
                name, ContainerState.ABSENT, detail=word or result.stderr.strip()
            )
        if word == "down":
            return ContainerStatus(name, ContainerState.STOPPED)
        leader = await self._runner.run(leader_argv(name), check=False, timeout=30)
        pid = int(leader.stdout.strip()) if leader.stdout.strip().isdigit() else None
        return ContainerStatus(name, ContainerState.RUNNING, pid=pid)

    async def list(self) -> list[ContainerStatus]:
        """Every hyperhive container nixos-container knows (others are left alone)."""
        result = await self._run(list_argv(), "list containers", timeout=30)
        agents = [agent_of(line.strip()) for line in result.stdout.splitlines()]
        return [await self.status(agent) for agent in agents if agent is not None]

    async def exec(
        self,
        name: str,
        argv: Sequence[str],
        *,
        input: str | None = None,
        timeout: float | None = None,
    ) -> Completed:
        """Run ``argv`` in the container's login shell; the exit status is the caller's to judge."""
        if not self.conf_path(name).exists():
            raise ContainerError(f"container {container_name(name)} does not exist")
        return await self._runner.run(
            exec_argv(name, argv), check=False, input=input, timeout=timeout
        )

    async def open_pty(
        self, name: str, argv: Sequence[str], *, rows: int = 24, cols: int = 80
    ) -> PtyProcess:
        """Start ``argv`` in the container on a fresh PTY (``nixos-container run``)."""
        if not self.conf_path(name).exists():
            raise ContainerError(f"container {container_name(name)} does not exist")
        try:
            return await PtySession.start(pty_argv(name, argv), rows=rows, cols=cols)
        except CommandError as exc:
            raise ContainerError(
                f"cannot open a terminal in {container_name(name)}: {exc}"
            ) from exc

    # --- helpers -----------------------------------------------------------------------

    async def sync_meta(self, spec: AgentSpec) -> None:
        """Write the agent's files and the meta flake; lock it when its inputs changed.

        Only files: the meta repo's history belongs to repos.py, which commits a deploy
        once it worked.
        """
        flake = self._flake_ref()
        async with self._meta_lock:
            write_agent_files(self.meta_dir, spec.name, spec.applied_dir)
            self._write_meta_flake(flake)
            await lock_meta(self._runner, self.meta_dir, flake)

    def _flake_ref(self) -> str:
        if self._flake is None:
            raise ContainerError(
                "the nixos runtime needs the flake reference of hyperhive: set "
                f"{FLAKE_ENV} (services.hyperhive.flake does)"
            )
        return self._flake

    def _write_meta_flake(self, flake: str) -> None:
        """Rewrite meta/flake.nix (lock_meta locks it when its inputs changed)."""
        path = self.meta_dir / "flake.nix"
        old = path.read_text() if path.exists() else ""
        text = render_meta_flake(flake, scan_meta_agents(self.meta_dir), self._system)
        if text != old:
            write_atomic(path, text)

    async def _write_conf(self, spec: AgentSpec) -> int | None:
        """Rewrite the container's .conf; return its uid base (None: no user namespace)."""
        uid_base = None
        if self._settings.container.private_users:
            # shared with the nspawn runtime: switching runtimes keeps an agent's range
            registry = self._settings.state_dir / "containers" / "uid-ranges.json"
            uid_base = await asyncio.to_thread(allocate_uid_base, registry, spec.container)
        path = self.conf_path(spec.name)
        existing = path.read_text() if path.exists() else ""
        text = render_container_conf(
            existing,
            flake=meta_flake(self.meta_dir),
            flags=nspawn_flags(spec, uid_base=uid_base),
            private_network=spec.private_network or self._settings.container.private_network,
        )
        write_atomic(path, text)
        return uid_base

    async def _run(
        self, argv: Sequence[str], what: str, *, timeout: float | None = None
    ) -> Completed:
        try:
            return await self._runner.run(argv, timeout=timeout)
        except CommandError as exc:
            raise ContainerError(f"cannot {what}: {exc}") from exc
