"""Every .nix file of the repository parses (and names no undefined variable)."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from tests.nix.conftest import REPO


def test_every_nix_file_parses() -> None:
    if shutil.which("nix-instantiate") is None:
        pytest.skip("nix-instantiate is not installed")
    files = sorted(
        p for p in REPO.rglob("*.nix") if not ({".git", ".cache", "node_modules"} & set(p.parts))
    )
    assert REPO / "flake.nix" in files and REPO / "nix" / "harness-base.nix" in files
    # one process for all of them; on failure, find the culprit file by file
    done = subprocess.run(["nix-instantiate", "--parse", *map(str, files)], capture_output=True)
    if done.returncode != 0:
        for path in files:
            one = subprocess.run(["nix-instantiate", "--parse", str(path)], capture_output=True)
            assert one.returncode == 0, f"{path}: {one.stderr.decode()}"
    assert done.returncode == 0, done.stderr.decode()
