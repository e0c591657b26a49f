"""The only door to subprocesses: a small protocol and the real runner."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from hyperhive.core.errors import CommandError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Completed:
    """The outcome of a finished command."""

    argv: list[str]
    returncode: int
    stdout: str
    stderr: str


class Runner(Protocol):
    """Runs commands to completion; long-lived processes use `spawn`."""

    async def run(
        self,
        argv: Sequence[str],
        *,
        check: bool = True,
        input: str | None = None,
        env: Mapping[str, str] | None = None,
        cwd: str | None = None,
        timeout: float | None = None,
    ) -> Completed: ...


class ProcessRunner:
    """Runs real subprocesses with asyncio."""

    async def run(
        self,
        argv: Sequence[str],
        *,
        check: bool = True,
        input: str | None = None,
        env: Mapping[str, str] | None = None,
        cwd: str | None = None,
        timeout: float | None = None,
    ) -> Completed:
        """Run ``argv``; raise `CommandError` on a non-zero exit when ``check``."""
        logger.debug("run %s", argv)
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.PIPE if input is not None else asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                env=dict(env) if env is not None else None,
                cwd=cwd,
            )
        except FileNotFoundError as exc:
            raise CommandError(argv, 127, f"{argv[0]}: command not found") from exc
        try:
            out, err = await asyncio.wait_for(
                proc.communicate(input.encode() if input is not None else None), timeout
            )
        except (TimeoutError, asyncio.CancelledError):
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
            raise
        result = Completed(
            list(argv),
            proc.returncode or 0,
            out.decode(errors="replace"),
            err.decode(errors="replace"),
        )
        if check and result.returncode != 0:
            raise CommandError(argv, result.returncode, result.stderr)
        return result


def which(name: str, path: str | None = None) -> str | None:
    """Return the full path of ``name`` on PATH, or None."""
    for d in (path or os.environ.get("PATH", "")).split(os.pathsep):
        candidate = os.path.join(d, name)
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    return None
