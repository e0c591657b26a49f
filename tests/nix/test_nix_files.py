"""Every .nix file of the repository parses; the nix tests find the real nixpkgs lib."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.nix.conftest import LIB_ENV, REPO, find_nixpkgs_lib, unavailable


def test_every_nix_file_parses() -> None:
    if shutil.which("nix-instantiate") is None:
        unavailable("nix-instantiate is not installed")
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


def test_the_nixpkgs_lib_is_found_through_the_environment_or_beside_the_clone(
    tmp_path: Path,
) -> None:
    clone = tmp_path / "ci" / "hyperhive"
    clone.mkdir(parents=True)
    assert find_nixpkgs_lib({}, clone) is None
    lib = tmp_path / "ci" / "shared" / "nixpkgs-lib" / "lib"
    lib.mkdir(parents=True)
    assert find_nixpkgs_lib({}, clone) is None  # not a lib: no default.nix
    (lib / "default.nix").write_text("{ }\n")
    assert find_nixpkgs_lib({}, clone) == lib
    # a worktree one level deeper finds it too; the environment wins
    assert find_nixpkgs_lib({}, clone / "wt" / "x") == lib
    assert find_nixpkgs_lib({LIB_ENV: "/opt/lib"}, clone) == Path("/opt/lib")


def test_without_the_lib_ci_fails_and_elsewhere_the_tests_skip(tmp_path: Path) -> None:
    probe = tmp_path / "test_probe.py"
    probe.write_text("def test_probe(nixpkgs_lib):\n    pass\n")
    shutil.copy(REPO / "tests" / "nix" / "conftest.py", tmp_path / "conftest.py")
    env = {**os.environ, LIB_ENV: str(tmp_path / "missing"), "PYTHONPATH": str(REPO)}
    argv = [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", str(probe)]
    skipped = subprocess.run(
        argv, capture_output=True, text=True, env={**env, "CI": ""}, cwd=tmp_path
    )
    assert skipped.returncode == 0 and "1 skipped" in skipped.stdout, skipped.stdout
    assert "has no default.nix" in skipped.stdout
    failed = subprocess.run(
        argv, capture_output=True, text=True, env={**env, "CI": "true"}, cwd=tmp_path
    )
    assert failed.returncode == 1 and "may not be skipped" in failed.stdout, failed.stdout
