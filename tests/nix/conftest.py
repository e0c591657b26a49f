"""Helpers for the nix tests: evaluate expressions with the real nix-instantiate."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
NixEval = Callable[..., Any]


@pytest.fixture
def nix_eval() -> NixEval:
    """``nix_eval(file_or_expr, **argstr)``: the strict JSON value of a nix expression."""
    if shutil.which("nix-instantiate") is None:
        pytest.skip("nix-instantiate is not installed")

    def run(source: Path | str, **argstr: str) -> Any:
        argv = ["nix-instantiate", "--eval", "--strict", "--json"]
        argv += [str(source)] if isinstance(source, Path) else ["--expr", source]
        for key, value in argstr.items():
            argv += ["--argstr", key, value]
        done = subprocess.run(argv, capture_output=True, text=True, cwd=REPO, timeout=60)
        if done.returncode != 0:
            raise NixError(done.stderr)
        return json.loads(done.stdout)

    return run


class NixError(Exception):
    """nix-instantiate failed; the message is its stderr."""
