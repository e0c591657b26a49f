"""Helpers for the nix tests: evaluate expressions with the real nix-instantiate and the
real nixpkgs ``lib`` (``lib.evalModules``: real option types, merging and assertions).

The lib is found at ``$HYPERHIVE_NIXPKGS_LIB``, else at ``shared/nixpkgs-lib/lib`` beside
the clone (or beside one of its parent directories). Without nix or the lib the tests
fail in CI (``CI=true``) and are skipped with the reason elsewhere.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
LIB_ENV = "HYPERHIVE_NIXPKGS_LIB"
NixEval = Callable[..., Any]


class NixError(Exception):
    """nix-instantiate failed; the message is its stderr."""


def find_nixpkgs_lib(env: dict[str, str] | None = None, repo: Path = REPO) -> Path | None:
    """The nixpkgs ``lib`` directory the tests evaluate against, or None."""
    env = dict(os.environ) if env is None else env
    if env.get(LIB_ENV):
        return Path(env[LIB_ENV])
    for parent in repo.parents:
        candidate = parent / "shared" / "nixpkgs-lib" / "lib"
        if (candidate / "default.nix").is_file():
            return candidate
    return None


def unavailable(reason: str) -> None:
    """Skip, or fail loudly in CI, where every nix evaluation must run."""
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"{reason} (CI=true: the nix tests may not be skipped)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def nixpkgs_lib() -> Path:
    """The real nixpkgs lib (checked: ``import <it>`` gives a lib with evalModules)."""
    if shutil.which("nix-instantiate") is None:
        unavailable("nix-instantiate is not installed")
    lib = find_nixpkgs_lib()
    if lib is None:
        unavailable(f"no nixpkgs lib: set {LIB_ENV}, or put it at ../shared/nixpkgs-lib/lib")
    assert lib is not None
    if not (lib / "default.nix").is_file():
        unavailable(f"{LIB_ENV}={lib} has no default.nix")
    return lib


def run_nix(source: Path | str, lib: Path, **argstr: str) -> Any:
    """The strict JSON value of a nix file or expression; ``lib`` is passed as ``nixpkgsLib``."""
    argv = ["nix-instantiate", "--eval", "--strict", "--json"]
    argv += [str(source)] if isinstance(source, Path) else ["--expr", source]
    for key, value in argstr.items():
        argv += ["--argstr", key, value]
    argv += ["--arg", "nixpkgsLib", str(lib)]
    done = subprocess.run(argv, capture_output=True, text=True, cwd=REPO, timeout=120)
    if done.returncode != 0:
        raise NixError(done.stderr)
    return json.loads(done.stdout)


@pytest.fixture
def nix_eval(nixpkgs_lib: Path) -> NixEval:
    """``nix_eval(file_or_expr, **argstr)``: the strict JSON value of a nix expression.

    The expression is a function of ``{ nixpkgsLib, ... }`` (the lib's path), or a value
    that ignores it; ``nixpkgs.lib``, ``nixos.eval`` etc. come from ``tests/nix/eval.nix``.
    """

    def run(source: Path | str, **argstr: str) -> Any:
        return run_nix(source, nixpkgs_lib, **argstr)

    return run


def system_expr(modules: str, select: str, *, check: bool = True) -> str:
    """An expression evaluating ``modules`` (nix list items) with the real lib.evalModules
    over the NixOS stand-in of tests/nix/nixos.nix; it returns ``select``, in which
    ``config``, ``options``, ``lib``, ``pkgs`` and ``nixos`` are bound. With ``check``, a
    failed assertion throws as nixos' top-level does ("Failed assertions: ...")."""
    return f"""{{ nixpkgsLib }}:
      let
        lib = import nixpkgsLib;
        nixos = import ./tests/nix/nixos.nix {{ inherit lib; }};
        inherit (nixos) pkgs;
        system = nixos.{"eval" if check else "evalUnchecked"} [ {modules} ];
        inherit (system) config options;
      in
      {select}
    """
