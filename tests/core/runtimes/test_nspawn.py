"""Tests for the nspawn runtime: pure command lines, and real containers (root only)."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator
from dataclasses import replace
from itertools import count
from pathlib import Path
from typing import Any

import pytest

import hyperhive
from hyperhive.core.errors import InvalidInput, Refused
from hyperhive.core.models import Role
from hyperhive.core.pty import read_until_eof
from hyperhive.core.runner import ProcessRunner, which
from hyperhive.core.runtimes.base import AgentSpec, ContainerState
from hyperhive.core.runtimes.cgroups import cgroup_mounts
from hyperhive.core.runtimes.nspawn import NspawnRuntime, install_paths, nspawn_argv
from hyperhive.core.runtimes.rootfs import UID_FIRST, UID_RANGE
from hyperhive.core.settings import ContainerSettings, Settings

PY = sys.executable
PY_BIN = str(Path(PY).parent)


def make_spec(settings: Settings, name: str, **changes: Any) -> AgentSpec:
    spec = AgentSpec(
        name=name,
        role=Role.AGENT,
        socket_dir=settings.socket_dir(name),
        state_dir=settings.agent_state_dir(name),
        creds_dir=settings.creds_dir(name),
        etc_dir=settings.agent_dir(name) / "etc",
        applied_dir=settings.applied_dir(name),
        command=("/bin/true",),
    )
    return replace(spec, **changes)


# --- the command line (pure) -------------------------------------------------------------


def test_nspawn_argv_of_an_agent(settings: Settings) -> None:
    spec = make_spec(settings, "alpha", env={"EXTRA": "1"}, command=(PY, "-c", "pass"))
    root = Path("/var/lib/hyperhive/containers/h-alpha/root")
    argv = nspawn_argv(
        spec,
        settings,
        root,
        uid_base=0x70010000,
        install=[Path("/opt/py"), Path("/src/hyperhive")],
        host_ro=[Path("/etc/ssl")],
    )
    assert argv == [
        "systemd-nspawn",
        "--register=no",
        "--keep-unit",
        "-q",
        "-D",
        str(root),
        "--machine=h-alpha",
        "--settings=no",
        "--as-pid2",
        "--console=pipe",
        "--link-journal=no",
        "--resolv-conf=off",
        "--timezone=off",
        "--chdir=/state",
        "--private-users=1879113728:65536",
        "--private-users-ownership=off",
        "--bind-ro=/usr",
        "--bind-ro=/etc/ssl",
        "--bind-ro=/opt/py",
        "--bind-ro=/src/hyperhive",
        f"--bind={spec.socket_dir}:/run/hive",
        f"--bind={spec.state_dir}:/state",
        f"--bind={spec.creds_dir}:/creds",
        f"--bind-ro={spec.etc_dir}:/etc/hyperhive",
        f"--bind-ro={spec.applied_dir}:/config",
        f"--setenv=PATH={PY_BIN}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "--setenv=LANG=C.UTF-8",
        "--setenv=HOME=/creds",
        "--setenv=HYPERHIVE_AGENT=alpha",
        "--setenv=HYPERHIVE_ROLE=agent",
        "--setenv=HYPERHIVE_SOCKET=/run/hive/hive.sock",
        "--setenv=HYPERHIVE_STATE=/state",
        "--setenv=HYPERHIVE_ETC=/etc/hyperhive",
        "--setenv=HYPERHIVE_CREDS=/creds",
        "--setenv=HYPERHIVE_APPLIED=/config",
        "--setenv=EXTRA=1",
        "--",
        PY,
        "-c",
        "pass",
    ]


def test_nspawn_argv_of_the_manager_binds_agents_applied_and_meta(settings: Settings) -> None:
    spec = make_spec(
        settings,
        "manager",
        role=Role.MANAGER,
        agents_root=Path("/s/agents"),
        applied_root=Path("/s/applied"),
        meta_dir=Path("/s/meta"),
        command=None,
    )
    argv = nspawn_argv(spec, settings, Path("/r"), uid_base=UID_FIRST, install=[], host_ro=[])
    assert "--machine=hm1nd" in argv
    binds = [a for a in argv if a.startswith("--bind")]
    assert binds[-3:] == [
        "--bind=/s/agents:/agents:idmap",
        "--bind-ro=/s/applied:/applied",
        "--bind-ro=/s/meta:/meta",
    ]
    assert "--setenv=HYPERHIVE_AGENTS=/agents" in argv
    assert "--setenv=HYPERHIVE_META=/meta" in argv
    assert argv[argv.index("--") + 1 :] == [PY, "-I", "-m", "hyperhive", "agent", "serve"]


def test_nspawn_argv_without_private_users_and_with_a_private_network(
    settings: Settings,
) -> None:
    shared = replace(settings, container=ContainerSettings(private_users=False))
    spec = make_spec(settings, "beta", private_network=True, agents_root=Path("/s/agents"))
    argv = nspawn_argv(spec, shared, Path("/r"), uid_base=None, install=[], host_ro=[])
    assert "--private-users=no" in argv
    assert "--private-network" in argv
    assert "--bind=/s/agents:/agents" in argv  # no idmap without a user namespace
    assert not any(a.startswith("--private-users=") and a != "--private-users=no" for a in argv)


def test_nspawn_argv_refuses_what_nspawn_cannot_express(settings: Settings) -> None:
    with pytest.raises(InvalidInput):
        nspawn_argv(make_spec(settings, "c"), settings, Path("/r"), uid_base=None)
    spec = make_spec(settings, "c", state_dir=Path("/odd:dir"))
    with pytest.raises(InvalidInput):
        nspawn_argv(spec, settings, Path("/r"), uid_base=UID_FIRST, install=[], host_ro=[])


def test_install_paths_hold_the_interpreter_and_the_package() -> None:
    paths = install_paths()
    package = Path(hyperhive.__file__).resolve()
    for needed in (Path(sys.base_prefix), Path(sys.prefix), package):
        if not needed.is_relative_to("/usr"):
            assert any(needed.is_relative_to(p) for p in paths)
    assert not any(a.is_relative_to(b) for a in paths for b in paths if a != b)


# --- real containers ---------------------------------------------------------------------

# The agent inside: reports what it sees over /run/hive/hive.sock, then waits for SIGTERM.
AGENT = """
import json, os, signal, socket, sys
def term(*_):
    open("/state/terminated", "w").write("SIGTERM")
    sys.exit(0)
signal.signal(signal.SIGTERM, signal.SIG_IGN if "ignore-term" in sys.argv else term)
try:
    open("/etc/hyperhive/send-allow.json", "a").close()
    etc = "writable"
except OSError as exc:
    etc = exc.strerror
open("/state/written-inside", "w").write("ok")
report = {
    "uid": os.getuid(),
    "uid_map": open("/proc/self/uid_map").read().split(),
    "run_hive": sorted(os.listdir("/run/hive")),
    "other_visible": os.path.exists(sys.argv[1]),
    "etc": etc,
    "etc_mount": [l.split()[5] for l in open("/proc/self/mountinfo") if " /etc/hyperhive " in l],
    "send_allow": open("/etc/hyperhive/send-allow.json").read(),
    "cwd": os.getcwd(),
    "home": os.environ["HOME"],
    "agent": os.environ["HYPERHIVE_AGENT"],
    "hostname": socket.gethostname(),
}
s = socket.socket(socket.AF_UNIX)
s.connect("/run/hive/hive.sock")
s.sendall(json.dumps(report).encode() + b"\\n")
signal.pause()
"""

_names = count()


def unique_name() -> str:
    # machine names are host-wide: tests running side by side must not share one
    return f"n{os.getpid() % 1_000_000:06d}{next(_names)}"


@pytest.fixture
def nspawn_ok() -> None:
    if os.geteuid() != 0:
        pytest.skip("the nspawn runtime needs root (CI runs these as root)")
    if which("systemd-nspawn") is None:
        pytest.skip("systemd-nspawn is not installed (apt install systemd-container)")


class HiveSocket:
    """The agent's socket, served on the host: each agent sends one JSON report."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.reports: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.server: asyncio.Server | None = None

    async def __aenter__(self) -> HiveSocket:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.server = await asyncio.start_unix_server(self._handle, path=self.path)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        line = await reader.readline()
        if line:
            await self.reports.put(json.loads(line))
        writer.close()

    async def report(self) -> dict[str, Any]:
        async with asyncio.timeout(20):
            return await self.reports.get()


@pytest.fixture
async def runtime(nspawn_ok: None, settings: Settings) -> AsyncIterator[NspawnRuntime]:
    runtime = NspawnRuntime(settings, ProcessRunner())
    yield runtime
    for status in await runtime.list():
        await runtime.destroy(status.name)


def agent_spec(settings: Settings, name: str, *args: str, **changes: Any) -> AgentSpec:
    other = settings.socket_dir("other")
    other.mkdir(parents=True, exist_ok=True)
    (other / "hive.sock").touch()
    spec = make_spec(settings, name, command=(PY, "-c", AGENT, str(other), *args), **changes)
    spec.applied_dir.mkdir(parents=True, exist_ok=True)
    spec.etc_dir.mkdir(parents=True, exist_ok=True)
    (spec.etc_dir / "send-allow.json").write_text('["manager"]')
    return spec


def limit_values(pid: int, controller: str, v1_file: str, v2_file: str) -> list[str]:
    """A limit file's values on the cgroup path of ``pid``, its own cgroup first.

    Read straight from cgroupfs, for v1 (the controller's hierarchy) and v2 alike.
    """
    values: list[str] = []
    for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
        hid, ctl, path = line.split(":", 2)
        for m in cgroup_mounts():
            if hid == "0" and m.version == 2 and controller in m.controllers:
                name = v2_file
            elif hid != "0" and m.version == 1 and controller in ctl.split(","):
                name = v1_file
            else:
                continue
            if not name:
                continue
            current = m.path / path.lstrip("/")
            while current.is_relative_to(m.path):
                if (current / name).exists():
                    values.append((current / name).read_text().strip())
                current = current.parent
    return values


def memory_limit_of(pid: int) -> int:
    values = limit_values(pid, "memory", "memory.limit_in_bytes", "memory.max")
    return min(int(v) for v in values if v != "max")


def cpu_quota_of(pid: int) -> str:
    """``<quota> <period>`` in microseconds, of the first cgroup on the path that has one."""
    v1 = limit_values(pid, "cpu", "cpu.cfs_quota_us", "")
    if v1:
        period = limit_values(pid, "cpu", "cpu.cfs_period_us", "")
        return next(f"{q} {p}" for q, p in zip(v1, period, strict=True) if q != "-1")
    return next(v for v in limit_values(pid, "cpu", "", "cpu.max") if not v.startswith("max"))


def stray(runtime: NspawnRuntime, name: str, uid_base: int | None, pids: list[int]) -> list[str]:
    """Whatever a stopped container left behind: processes, mounts, cgroups."""
    left = []
    for pid in pids:
        if Path(f"/proc/{pid}").exists() and "Z" not in _state(pid):
            left.append(f"process {pid}")
    if uid_base is not None:
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    uid = entry.stat().st_uid
                except FileNotFoundError:
                    continue
                if uid_base <= uid < uid_base + UID_RANGE and "Z" not in _state(int(entry.name)):
                    left.append(f"process {entry.name} of uid {uid}")
    root = str(runtime.root_dir(name))
    machine = f"h-{name}"
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = line.split()[4]
        if point.startswith(root) or point.endswith(f"/nspawn/propagate/{machine}"):
            left.append(f"mount {point}")
    leaf = runtime.cgroup_leaf(name)
    for m in cgroup_mounts():
        if (m.path / "hyperhive" / leaf).exists():
            left.append(f"cgroup {m.path / 'hyperhive' / leaf}")
    return left


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except (FileNotFoundError, IndexError):
        return "Z"


@pytest.mark.root
async def test_an_agent_container_is_unprivileged_isolated_and_limited(
    settings: Settings, runtime: NspawnRuntime
) -> None:
    name = unique_name()
    spec = agent_spec(settings, name, memory_max="256M", cpu_quota="50%")
    async with HiveSocket(settings.agent_socket(name)) as hive:
        await runtime.start(spec)
        report = await hive.report()
    uid_base = runtime.uid_base(name)
    assert uid_base is not None and uid_base >= 0x10000 and uid_base % 0x10000 == 0

    # root inside, an unprivileged range outside
    assert report["uid"] == 0
    assert report["uid_map"] == ["0", str(uid_base), "65536"]
    assert (spec.state_dir / "written-inside").stat().st_uid == uid_base
    # its own socket only; the files deciding what it may do are read-only
    assert report["run_hive"] == ["hive.sock"]
    assert report["other_visible"] is False
    assert report["etc"] == "Permission denied"  # host root's file, and a read-only mount:
    assert report["etc_mount"][0].split(",")[0] == "ro"
    assert report["send_allow"] == '["manager"]'
    assert (report["cwd"], report["home"], report["agent"]) == ("/state", "/creds", name)
    assert report["hostname"] == f"h-{name}"

    status = await runtime.status(name)
    assert status.state == ContainerState.RUNNING
    leader = await runtime.leader(name)
    assert status.pid == leader
    assert memory_limit_of(leader) == 256 << 20
    assert cpu_quota_of(leader) == "50000 100000"  # 50% of one CPU

    result = await runtime.exec(name, ["id", "-u"])
    assert (result.returncode, result.stdout) == (0, "0\n")
    # what exec starts lives under the container's limits too
    result = await runtime.exec(name, ["sh", "-c", "cat /proc/self/uid_map; pwd"])
    assert result.stdout.split() == ["0", str(uid_base), "65536", "/state"]

    session = await runtime.open_pty(name, ["sh", "-c", "echo hi; stty size"], rows=40, cols=120)
    async with asyncio.timeout(20):
        out = await read_until_eof(session.fd)
        assert await session.close() == 0
    assert b"hi" in out and b"40 120" in out

    nspawn_pid = runtime.record(name).pid  # type: ignore[union-attr]
    async with asyncio.timeout(30):
        await runtime.stop(name)
    assert (spec.state_dir / "terminated").read_text() == "SIGTERM"  # graceful: it heard it
    assert (await runtime.status(name)).state == ContainerState.STOPPED
    assert stray(runtime, name, uid_base, [nspawn_pid or 0, leader]) == []
    with pytest.raises(Refused):
        await runtime.exec(name, ["true"])


@pytest.mark.root
async def test_a_restarted_daemon_adopts_restarts_and_destroys_the_container(
    settings: Settings, runtime: NspawnRuntime
) -> None:
    name = unique_name()
    spec = agent_spec(settings, name)
    async with HiveSocket(settings.agent_socket(name)) as hive:
        await runtime.start(spec)
        await hive.report()
        leader = await runtime.leader(name)

        # the daemon restarts: a fresh runtime finds the container by its record
        adopted = NspawnRuntime(settings, ProcessRunner())
        status = await adopted.status(name)
        assert (status.state, status.pid) == (ContainerState.RUNNING, leader)
        assert (await adopted.exec(name, ["id", "-u"])).stdout == "0\n"
        # the interpreter and hyperhive are bound in: `python -m hyperhive` can run inside
        probe = "import dulwich, hyperhive.core.errors, hyperhive; print(hyperhive.__file__)"
        result = await adopted.exec(name, [PY, "-c", probe])
        assert result.stdout.strip() == hyperhive.__file__, result.stderr
        async with asyncio.timeout(30):
            await adopted.stop(name)
        assert stray(adopted, name, adopted.uid_base(name), [leader]) == []

        await adopted.start(spec)
        await hive.report()
        assert (await adopted.status(name)).state == ContainerState.RUNNING
        second = await adopted.leader(name)

    (spec.state_dir / "notes.md").write_text("kept")
    async with asyncio.timeout(30):
        await adopted.destroy(name)
    assert (await adopted.status(name)).state == ContainerState.ABSENT
    assert not adopted.runtime_dir(name).exists()
    assert (spec.state_dir / "notes.md").read_text() == "kept"
    assert stray(adopted, name, adopted.uid_base(name), [second]) == []


@pytest.mark.root
async def test_stop_kills_a_container_whose_harness_ignores_sigterm(
    settings: Settings, runtime: NspawnRuntime
) -> None:
    name = unique_name()
    spec = agent_spec(settings, name, "ignore-term")
    async with HiveSocket(settings.agent_socket(name)) as hive:
        await runtime.start(spec)
        await hive.report()
    leader = await runtime.leader(name)
    uid_base = runtime.uid_base(name)
    async with asyncio.timeout(30):
        await runtime.stop(name, timeout=0.3)
    assert (await runtime.status(name)).state == ContainerState.STOPPED
    assert not (spec.state_dir / "terminated").exists()
    assert stray(runtime, name, uid_base, [leader]) == []


@pytest.mark.root
async def test_without_private_users_root_is_root_and_the_network_can_be_private(
    settings: Settings, nspawn_ok: None
) -> None:
    shared = replace(settings, container=ContainerSettings(private_users=False))
    runtime = NspawnRuntime(shared, ProcessRunner())
    name = unique_name()
    spec = agent_spec(settings, name, private_network=True)
    try:
        async with HiveSocket(settings.agent_socket(name)) as hive:
            await runtime.start(spec)
            report = await hive.report()
        assert runtime.uid_base(name) is None
        assert report["uid_map"] == ["0", "0", "4294967295"]
        assert report["etc"] == "Read-only file system"  # even real root cannot write it
        links = await runtime.exec(name, ["cat", "/proc/net/dev"])
        names = [line.split(":")[0].strip() for line in links.stdout.splitlines()[2:]]
        assert names == ["lo"]
    finally:
        await runtime.destroy(name)


@pytest.mark.root
async def test_the_manager_edits_proposed_repos_through_an_idmapped_bind(
    settings: Settings, runtime: NspawnRuntime
) -> None:
    name = unique_name()  # a unique container name; the binds follow the spec, not the name
    agents, applied, meta = (settings.state_dir / d for d in ("agents", "applied", "meta"))
    config = agents / "peer" / "config"
    config.mkdir(parents=True)
    (config / "agent.toml").write_text("# by the daemon\n")
    applied.mkdir(parents=True, exist_ok=True)  # meta does not exist before the first deploy
    spec = agent_spec(
        settings, name, role=Role.MANAGER, agents_root=agents, applied_root=applied, meta_dir=meta
    )
    async with HiveSocket(settings.agent_socket(name)) as hive:
        await runtime.start(spec)
        await hive.report()
    script = (
        "echo edit >> /agents/peer/config/agent.toml && touch /agents/peer/config/new && "
        "echo $HYPERHIVE_AGENTS $HYPERHIVE_META; touch /meta/x 2>/dev/null || echo meta-ro"
    )
    result = await runtime.exec(name, ["sh", "-c", script])
    assert result.stdout.split() == ["/agents", "/meta", "meta-ro"], result.stderr
    # host root's files stay host root's: the daemon and the manager share them as root
    assert (config / "agent.toml").read_text() == "# by the daemon\nedit\n"
    assert (config / "new").stat().st_uid == 0
    assert meta.is_dir()
    async with asyncio.timeout(30):
        await runtime.stop(name)
