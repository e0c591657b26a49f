"""Tests for the cgroup helpers: limits, hierarchies, and joining a cgroup before exec."""

from __future__ import annotations

from pathlib import Path

import pytest

from hyperhive.core.errors import InvalidInput
from hyperhive.core.runner import ProcessRunner
from hyperhive.core.runtimes.cgroups import (
    JOIN_SCRIPT,
    cgroup_mounts,
    join_argv,
    parse_cpu_quota,
    parse_memory,
    scope_argv,
)


def test_join_argv_moves_the_shell_into_each_cgroup_before_exec() -> None:
    argv = join_argv([Path("/cg/memory/x"), Path("/cg/unified/x")], ["nsenter", "-a"])
    assert argv == [
        "/bin/sh",
        "-c",
        JOIN_SCRIPT,
        "hyperhive-cgroup",
        "/cg/memory/x/cgroup.procs",
        "/cg/unified/x/cgroup.procs",
        "--",
        "nsenter",
        "-a",
    ]
    assert join_argv([], ["true"]) == ["true"]


async def test_the_join_script_really_joins_and_execs(tmp_path: Path) -> None:
    files = [tmp_path / "a", tmp_path / "b"]
    argv = join_argv([f.parent for f in files], ["sh", "-c", "echo $$"])
    argv[4:6] = [str(f) for f in files]  # plain files stand in for cgroup.procs
    result = await ProcessRunner().run(argv)
    pid = result.stdout.strip()
    assert [f.read_text().strip() for f in files] == [pid, pid]  # exec kept the pid


def test_scope_argv_carries_the_limits_for_systemd() -> None:
    assert scope_argv("hyperhive-h-a-1.scope", "2G", "200%", ["systemd-nspawn"]) == [
        "systemd-run",
        "--scope",
        "--quiet",
        "--collect",
        "--unit=hyperhive-h-a-1.scope",
        "--property=Delegate=yes",
        "--property=MemoryMax=2G",
        "--property=CPUQuota=200%",
        "systemd-nspawn",
    ]
    assert "--property=MemoryMax=infinity" not in scope_argv("u", "infinity", None, [])


def test_limits_parse_like_systemd() -> None:
    assert parse_memory("2G") == 2 << 30
    assert parse_memory("512M") == 512 << 20
    assert parse_memory("1048576") == 1 << 20
    assert parse_memory("infinity") is None
    assert parse_memory(None) is None
    assert 0 < parse_memory("50%") < parse_memory("100%")  # type: ignore[operator]
    assert parse_cpu_quota("200%") == 200
    assert parse_cpu_quota(None) is None
    for bad in ("lots", "2X"):
        with pytest.raises(InvalidInput):
            parse_memory(bad)
    with pytest.raises(InvalidInput):
        parse_cpu_quota("-5%")


def test_cgroup_mounts_reads_a_hybrid_hierarchy(tmp_path: Path) -> None:
    unified = tmp_path / "unified"
    unified.mkdir()
    (unified / "cgroup.controllers").write_text("hugetlb\n")
    mountinfo = (
        "30 24 0:26 / /sys/fs/cgroup rw - tmpfs tmpfs rw\n"
        f"31 30 0:27 / {unified} rw shared:5 - cgroup2 cgroup2 rw\n"
        "32 30 0:28 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,xattr,name=systemd\n"
        "33 30 0:29 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n"
        "34 30 0:30 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct\n"
        "35 30 0:29 / /mnt/again rw - cgroup cgroup rw,memory\n"
    )
    mounts = cgroup_mounts(mountinfo)
    assert [(str(m.path), m.version, sorted(m.controllers)) for m in mounts] == [
        (str(unified), 2, ["hugetlb"]),
        ("/sys/fs/cgroup/systemd", 1, ["name=systemd"]),
        ("/sys/fs/cgroup/memory", 1, ["memory"]),
        ("/sys/fs/cgroup/cpu,cpuacct", 1, ["cpu", "cpuacct"]),
    ]
