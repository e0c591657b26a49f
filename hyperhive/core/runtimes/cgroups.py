"""Resource limits of a container: cgroup hierarchies, limits, joining, sweeping."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from hyperhive.core.errors import ContainerError, InvalidInput
from hyperhive.core.runner import which

CPU_PERIOD_US = 100_000
_UNITS = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


# --- limits ------------------------------------------------------------------------------


def parse_memory(value: str | None) -> int | None:
    """Bytes of a systemd-style size (``512M``, ``2G``, ``50%`` of RAM); None: no limit."""
    if value is None or value.strip().lower() in ("", "infinity", "max"):
        return None
    text = value.strip().upper().removesuffix("B")
    try:
        if text.endswith("%"):
            return int(_mem_total() * float(text[:-1]) / 100)
        if text[-1:] in _UNITS:
            return int(float(text[:-1]) * _UNITS[text[-1]])
        return int(text)
    except ValueError as exc:
        raise InvalidInput(f"invalid memory limit {value!r}: use e.g. 512M, 2G or 50%") from exc


def parse_cpu_quota(value: str | None) -> int | None:
    """Percent of one CPU (``200%`` = two CPUs); None: no limit."""
    if value is None or value.strip().lower() in ("", "infinity", "max"):
        return None
    try:
        percent = int(value.strip().removesuffix("%"))
    except ValueError as exc:
        raise InvalidInput(f"invalid CPU quota {value!r}: use e.g. 200%") from exc
    if percent <= 0:
        raise InvalidInput(f"invalid CPU quota {value!r}: must be positive")
    return percent


def _mem_total() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) * 1024
    raise ContainerError("cannot read MemTotal from /proc/meminfo")


# --- hierarchies -------------------------------------------------------------------------


@dataclass(frozen=True)
class CgroupMount:
    """One mounted cgroup hierarchy: v2, or v1 with its controllers (``name=systemd`` too)."""

    path: Path
    version: int
    controllers: frozenset[str]
    root: str = "/"


def cgroup_mounts(mountinfo: str | None = None) -> list[CgroupMount]:
    """The cgroup hierarchies this process sees, one entry per hierarchy."""
    if mountinfo is None:
        mountinfo = Path("/proc/self/mountinfo").read_text()
    found: list[CgroupMount] = []
    seen: set[tuple[int, frozenset[str]]] = set()
    key: tuple[int, frozenset[str]]
    for line in mountinfo.splitlines():
        left, _, right = line.partition(" - ")
        fields, extra = left.split(), right.split()
        if len(fields) < 5 or len(extra) < 3 or extra[0] not in ("cgroup", "cgroup2"):
            continue
        path = Path(fields[4])
        if extra[0] == "cgroup2":
            try:
                ctl = frozenset((path / "cgroup.controllers").read_text().split())
            except OSError:
                ctl = frozenset()
            mount = CgroupMount(path, 2, ctl, fields[3])
            key = (2, frozenset())
        else:
            opts = frozenset(extra[2].split(","))
            ctl = frozenset(o for o in opts if o in _V1_CONTROLLERS or o.startswith("name="))
            mount = CgroupMount(path, 1, ctl, fields[3])
            key = (1, ctl)
        if key not in seen:
            seen.add(key)
            found.append(mount)
    return found


_V1_CONTROLLERS = frozenset(
    "cpu cpuacct cpuset memory devices freezer net_cls blkio perf_event net_prio hugetlb "
    "pids rdma misc".split()
)


def _relevant(mount: CgroupMount) -> bool:
    # memory and cpu carry the limits; the systemd-named and the v2 hierarchy are where
    # nspawn makes its payload/supervisor cgroups, which must not collide between agents
    return mount.version == 2 or bool(mount.controllers & {"memory", "cpu", "name=systemd"})


def limit_mode() -> str:
    """``scope`` when systemd runs the host (systemd-run does the cgroups), else ``cgroupfs``."""
    if Path("/run/systemd/system").is_dir() and which("systemd-run"):
        return "scope"
    return "cgroupfs"


def prepare_cgroups(leaf: str, memory: int | None, cpu_percent: int | None) -> list[Path]:
    """Create ``hyperhive/<leaf>`` in every relevant hierarchy and write the limits there.

    Returns the created directories; a process joins them by writing its pid to their
    ``cgroup.procs``.
    """
    dirs: list[Path] = []
    try:
        for mount in cgroup_mounts():
            if not _relevant(mount):
                continue
            parent = mount.path / "hyperhive"
            path = parent / leaf
            if mount.version == 2:
                wanted = {"memory", "cpu"} & mount.controllers
                if wanted:
                    line = " ".join(f"+{c}" for c in sorted(wanted))
                    parent.mkdir(exist_ok=True)
                    (mount.path / "cgroup.subtree_control").write_text(line)
                    (parent / "cgroup.subtree_control").write_text(line)
                path.mkdir(parents=True, exist_ok=True)
                if "memory" in wanted:
                    (path / "memory.max").write_text(str(memory) if memory else "max")
                if "cpu" in wanted:
                    quota = str(cpu_percent * CPU_PERIOD_US // 100) if cpu_percent else "max"
                    (path / "cpu.max").write_text(f"{quota} {CPU_PERIOD_US}")
            else:
                path.mkdir(parents=True, exist_ok=True)
                if "memory" in mount.controllers:
                    (path / "memory.limit_in_bytes").write_text(str(memory or -1))
                if "cpu" in mount.controllers:
                    (path / "cpu.cfs_period_us").write_text(str(CPU_PERIOD_US))
                    cfs_quota = cpu_percent * CPU_PERIOD_US // 100 if cpu_percent else -1
                    (path / "cpu.cfs_quota_us").write_text(str(cfs_quota))
            dirs.append(path)
    except OSError as exc:
        raise ContainerError(f"cannot set up the cgroup of {leaf}: {exc}") from exc
    return dirs


def cgroup_dirs_of(pid: int) -> list[Path]:
    """The cgroups of ``pid`` in the hierarchies that matter, as host directories."""
    try:
        lines = Path(f"/proc/{pid}/cgroup").read_text().splitlines()
    except OSError:
        return []
    mounts = cgroup_mounts()
    dirs: list[Path] = []
    for line in lines:
        hid, _, rest = line.partition(":")
        ctl, _, path = rest.partition(":")
        if path == "/":
            continue
        names = frozenset(ctl.split(",")) if ctl else frozenset()
        for mount in mounts:
            version_matches = (mount.version == 2) == (hid == "0")
            if version_matches and _relevant(mount) and (hid == "0" or names <= mount.controllers):
                rel = path.removeprefix(mount.root.rstrip("/")).lstrip("/")
                dirs.append(mount.path / rel)
                break
    return dirs


JOIN_SCRIPT = (
    'for f; do [ "$f" = -- ] && break; echo $$ > "$f" || exit 125; shift; done; shift; exec "$@"'
)


def join_argv(cgroups: Iterable[Path], argv: Sequence[str]) -> list[str]:
    """Wrap ``argv`` so that it runs in ``cgroups`` from its first instruction.

    Moving a process after it started would leave behind the children it forked in the
    meantime; a shell that moves itself and then execs has none.
    """
    procs = [str(Path(d) / "cgroup.procs") for d in cgroups]
    if not procs:
        return list(argv)
    return ["/bin/sh", "-c", JOIN_SCRIPT, "hyperhive-cgroup", *procs, "--", *argv]


def scope_argv(unit: str, memory: str | None, cpu: str | None, argv: Sequence[str]) -> list[str]:
    """Wrap ``argv`` in a transient systemd scope carrying the limits (systemd hosts)."""
    props = ["--property=Delegate=yes"]
    if parse_memory(memory) is not None:
        props.append(f"--property=MemoryMax={memory}")
    if parse_cpu_quota(cpu) is not None:
        props.append(f"--property=CPUQuota={cpu}")
    return ["systemd-run", "--scope", "--quiet", "--collect", f"--unit={unit}", *props, *argv]


def cgroup_pids(dirs: Iterable[Path]) -> set[int]:
    """Every process in ``dirs`` and their sub-cgroups."""
    pids: set[int] = set()
    for top in dirs:
        if not top.is_dir():
            continue
        for current, _subdirs, files in os.walk(top):
            if "cgroup.procs" in files:
                with contextlib.suppress(OSError):
                    text = (Path(current) / "cgroup.procs").read_text()
                    pids.update(int(p) for p in text.split())
    return pids


def remove_cgroups(dirs: Iterable[Path]) -> list[Path]:
    """Remove ``dirs`` and their sub-cgroups, deepest first; returns those still busy."""
    busy: list[Path] = []
    for top in dirs:
        if not top.is_dir():
            continue
        for current, _subdirs, _files in os.walk(top, topdown=False):
            try:
                os.rmdir(current)
            except FileNotFoundError:
                pass
            except OSError:
                busy.append(Path(current))
    return busy
