"""The process runtime: each harness is a supervised local subprocess (no root, no container)."""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from hyperhive.core.pty import PtySession
from hyperhive.core.runner import Completed
from hyperhive.core.runtimes.base import AgentSpec

# The supervision code lived here before it moved to supervisor.py; the redundant
# aliases keep `from hyperhive.core.runtimes.process import ...` working.
from hyperhive.core.runtimes.supervisor import CD_EXEC as CD_EXEC
from hyperhive.core.runtimes.supervisor import KILL_GRACE_SECONDS
from hyperhive.core.runtimes.supervisor import LOG_CAP_BYTES as LOG_CAP_BYTES
from hyperhive.core.runtimes.supervisor import RuntimeRecord as RuntimeRecord
from hyperhive.core.runtimes.supervisor import SupervisedRuntime as SupervisedRuntime
from hyperhive.core.runtimes.supervisor import children as children
from hyperhive.core.runtimes.supervisor import is_alive as is_alive
from hyperhive.core.runtimes.supervisor import kill_session as kill_session
from hyperhive.core.runtimes.supervisor import prepare_dirs as prepare_dirs
from hyperhive.core.runtimes.supervisor import proc_start_time as proc_start_time
from hyperhive.core.runtimes.supervisor import proc_stat as proc_stat
from hyperhive.core.runtimes.supervisor import rotate_log as rotate_log
from hyperhive.core.runtimes.supervisor import session_members as session_members
from hyperhive.core.runtimes.supervisor import signal_pid as signal_pid
from hyperhive.core.runtimes.supervisor import spawn_session as spawn_session
from hyperhive.core.runtimes.supervisor import spec_from_json as spec_from_json
from hyperhive.core.runtimes.supervisor import spec_to_json as spec_to_json
from hyperhive.core.runtimes.supervisor import wait_gone as wait_gone
from hyperhive.core.runtimes.supervisor import write_private as write_private

logger = logging.getLogger(__name__)

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


# --- the agent's environment -------------------------------------------------------------


@dataclass(frozen=True)
class AgentPaths:
    """Where an agent finds its files: host paths (process runtime) or container paths."""

    socket: Path
    state: Path
    creds: Path
    etc: Path
    applied: Path
    agents: Path | None = None
    applied_root: Path | None = None
    meta: Path | None = None

    @classmethod
    def on_host(cls, spec: AgentSpec) -> AgentPaths:
        """The spec's own host paths."""
        return cls(
            socket=spec.socket_dir / "hive.sock",
            state=spec.state_dir,
            creds=spec.creds_dir,
            etc=spec.etc_dir,
            applied=spec.applied_dir,
            agents=spec.agents_root,
            applied_root=spec.applied_root,
            meta=spec.meta_dir,
        )


def harness_env(
    spec: AgentSpec, paths: AgentPaths, base: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The complete environment of an agent's harness (and of anything exec'd beside it).

    ``HOME`` is the credentials dir so that the agent CLI keeps its login per agent;
    ``spec.env`` comes last and wins.
    """
    env = dict(base or {})
    env.update(
        HOME=str(paths.creds),
        HYPERHIVE_AGENT=spec.name,
        HYPERHIVE_ROLE=str(spec.role),
        HYPERHIVE_SOCKET=str(paths.socket),
        HYPERHIVE_STATE=str(paths.state),
        HYPERHIVE_ETC=str(paths.etc),
        HYPERHIVE_CREDS=str(paths.creds),
        HYPERHIVE_APPLIED=str(paths.applied),
    )
    if spec.agents_root is not None and paths.agents is not None:
        env["HYPERHIVE_AGENTS"] = str(paths.agents)
    if spec.applied_root is not None and paths.applied_root is not None:
        env["HYPERHIVE_APPLIED_ROOT"] = str(paths.applied_root)
    if spec.meta_dir is not None and paths.meta is not None:
        env["HYPERHIVE_META"] = str(paths.meta)
    env.update(spec.env)
    return env


def harness_command(spec: AgentSpec) -> list[str]:
    """What runs in the agent: ``spec.command``, else ``python -I -m hyperhive agent serve``.

    ``-I``: the harness starts in the agent's own (writable) dir, and ``-m`` would put
    that dir first on ``sys.path``, so a planted ``hyperhive`` package would run as ours.
    """
    if spec.command is not None:
        return list(spec.command)
    return [sys.executable, "-I", "-m", "hyperhive", "agent", "serve"]


# --- the process runtime -----------------------------------------------------------------


class ProcessRuntime(SupervisedRuntime):
    """Agents as local subprocesses in their own dirs: the embedded default, no isolation."""

    name = "process"

    def _base_env(self) -> dict[str, str]:
        return {
            "PATH": os.environ.get("PATH") or DEFAULT_PATH,
            "LANG": os.environ.get("LANG") or "C.UTF-8",
        }

    def env(self, spec: AgentSpec) -> dict[str, str]:
        """The harness environment of ``spec`` on this host."""
        return harness_env(spec, AgentPaths.on_host(spec), self._base_env())

    async def create(self, spec: AgentSpec) -> None:
        """Make the agent's dirs and record its spec; a no-op for a running agent."""
        prepare_dirs(spec)
        rec = self.record(spec.name)
        if rec is None:
            self._save(RuntimeRecord(runtime=self.name, spec=spec))
        elif not self._running(rec):
            self._save(replace(rec, spec=spec))

    async def start(self, spec: AgentSpec) -> None:
        """Launch the harness (idempotent: a running harness is left alone)."""
        await self.create(spec)
        rec = self._require(spec.name)
        if self._running(rec):
            return
        pid, start_time = self._spawn(
            spec.name,
            harness_command(spec),
            env=self.env(spec),
            cwd=spec.state_dir,
            log=spec.state_dir.parent / "harness.log",
        )
        self._save(replace(rec, spec=spec, pid=pid, start_time=start_time, started_at=time.time()))
        logger.info("started agent %s as pid %d", spec.name, pid)

    async def stop(self, name: str, *, timeout: float = 10.0) -> None:
        """SIGTERM the harness's process group, SIGKILL what is left after ``timeout``."""
        rec = self.record(name)
        if rec is None or rec.pid is None:
            return
        if self._running(rec):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(rec.pid, signal.SIGTERM)
            if not await wait_gone(rec.pid, rec.start_time, timeout):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(rec.pid, signal.SIGKILL)
                await wait_gone(rec.pid, rec.start_time, KILL_GRACE_SECONDS)
        # no orphans: whatever the harness started in its session goes with it
        await kill_session(rec.pid, rec.start_time)
        self._reap(name)
        logger.info("stopped agent %s", name)

    async def destroy(self, name: str) -> None:
        """Stop the harness and remove the runtime files (never the agent's state)."""
        await self.stop(name)
        shutil.rmtree(self.runtime_dir(name), ignore_errors=True)
        self._forget(name)

    async def exec(
        self,
        name: str,
        argv: Sequence[str],
        *,
        input: str | None = None,
        timeout: float | None = None,
    ) -> Completed:
        """Run ``argv`` in the agent's environment and cwd (whether or not it runs)."""
        rec = self._require(name)
        return await self.runner.run(
            argv,
            check=False,
            input=input,
            env=self.env(rec.spec),
            cwd=str(rec.spec.state_dir),
            timeout=timeout,
        )

    async def open_pty(
        self, name: str, argv: Sequence[str], *, rows: int = 24, cols: int = 80
    ) -> PtySession:
        """Start ``argv`` on a fresh PTY in the agent's environment and cwd."""
        rec = self._require(name)
        env = self.env(rec.spec) | {"TERM": "xterm-256color"}
        return await PtySession.start(argv, env=env, cwd=rec.spec.state_dir, rows=rows, cols=cols)
