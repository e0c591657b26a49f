"""Tests for the minimal container root and the per-container uid ranges."""

from __future__ import annotations

import json
import os
from pathlib import Path

from hyperhive.core.runtimes.rootfs import (
    UID_END,
    UID_FIRST,
    UID_RANGE,
    allocate_uid_base,
    build_root,
)


def test_uid_ranges_are_stable_aligned_and_distinct(tmp_path: Path) -> None:
    registry = tmp_path / "containers" / "uid-ranges.json"
    a = allocate_uid_base(registry, "h-a")
    b = allocate_uid_base(registry, "h-b")
    assert allocate_uid_base(registry, "h-a") == a
    assert a != b
    for base in (a, b):
        assert UID_FIRST <= base < UID_END
        assert base % UID_RANGE == 0
    assert json.loads(registry.read_text()) == {"h-a": a, "h-b": b}


def test_build_root_lays_out_a_minimal_merged_usr_root(tmp_path: Path) -> None:
    resolv = tmp_path / "resolv.conf"
    resolv.write_text("nameserver 192.0.2.1\n")
    root = tmp_path / "root"
    build_root(root, hostname="h-x", owner=None, resolv_conf=resolv)
    build_root(root, hostname="h-x", owner=None, resolv_conf=resolv)  # idempotent
    for name in ("proc", "sys", "dev", "run", "tmp", "var/tmp", "usr"):
        assert (root / name).is_dir() and not any((root / name).iterdir())
    assert {p.name: os.readlink(p) for p in root.iterdir() if p.is_symlink()} == {
        "bin": "usr/bin",
        "lib": "usr/lib",
        "lib64": "usr/lib64",
        "sbin": "usr/sbin",
    }
    assert (root / "etc" / "passwd").read_text().startswith("root:x:0:0:")
    assert (root / "etc" / "group").read_text().startswith("root:x:0:")
    assert "h-x" in (root / "etc" / "hosts").read_text()
    assert (root / "etc" / "resolv.conf").read_text() == resolv.read_text()
