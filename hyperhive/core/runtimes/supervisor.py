"""Supervision of one host process per container: pid records, adoption, logs, reaping."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from hyperhive.core import safefs
from hyperhive.core.errors import ContainerError, NotFound, Refused
from hyperhive.core.models import Role
from hyperhive.core.runner import Runner, which
from hyperhive.core.runtimes.base import (
    AgentSpec,
    ContainerState,
    ContainerStatus,
    container_name,
)
from hyperhive.core.settings import Settings

logger = logging.getLogger(__name__)

LOG_CAP_BYTES = 8 * 1024 * 1024  # harness.log is copied to harness.log.1 and truncated past this
KILL_GRACE_SECONDS = 5.0  # how long a SIGKILLed process may take to disappear
_LOG_CHECK_SECONDS = 30.0


# --- processes on the host ---------------------------------------------------------------


def proc_stat(pid: int) -> tuple[str, int, int, int] | None:
    """``(state, ppid, session, start_time)`` of ``pid`` from /proc, or None if it is gone.

    ``start_time`` is in clock ticks since boot; with the pid it names one process for
    good, which is how a restarted daemon tells its harness from a recycled pid.
    """
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            raw = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # comm may hold spaces and parentheses: fields resume after the last ')'
    fields = raw[raw.rfind(b")") + 2 :].split()
    if len(fields) < 20:
        return None
    return fields[0].decode(), int(fields[1]), int(fields[3]), int(fields[19])


def proc_start_time(pid: int) -> int | None:
    """The start time of ``pid`` in clock ticks since boot, or None if it is gone."""
    stat = proc_stat(pid)
    return stat[3] if stat else None


def is_alive(pid: int, start_time: int | None) -> bool:
    """Whether the process ``pid`` that started at ``start_time`` still runs (zombies do not)."""
    stat = proc_stat(pid)
    if stat is None or stat[0] in ("Z", "X"):
        return False
    return start_time is None or stat[3] == start_time


def children(pid: int) -> list[int]:
    """The direct children of ``pid``."""
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except FileNotFoundError:
        return []
    found: list[int] = []
    for tid in tasks:
        try:
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                found.extend(int(p) for p in f.read().split())
        except FileNotFoundError:
            # kernels without CONFIG_PROC_CHILDREN: scan the process table instead
            return [p for p in _all_pids() if (s := proc_stat(p)) and s[1] == pid]
    return found


def session_members(sid: int, *, since: int | None) -> list[int]:
    """Processes in session ``sid`` that started no earlier than ``since``."""
    found = []
    for pid in _all_pids():
        stat = proc_stat(pid)
        if stat and stat[2] == sid and stat[0] not in ("Z", "X"):
            if since is None or stat[3] >= since:
                found.append(pid)
    return found


def _all_pids() -> Iterator[int]:
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            yield int(entry)


def signal_pid(pid: int, sig: signal.Signals, start_time: int | None = None) -> bool:
    """Send ``sig`` to ``pid`` unless it is gone or (given ``start_time``) recycled."""
    if start_time is not None and not is_alive(pid, start_time):
        return False
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        return False
    return True


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


async def wait_gone(pid: int, start_time: int | None, timeout: float | None) -> bool:
    """Wait until process ``pid`` exits, for at most ``timeout`` seconds.

    Works for any process, not just our children (pidfd), so a restarted daemon can wait
    for a harness it adopted. Returns whether the process is gone.
    """
    try:
        pidfd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        # the pidfd now pins one process; make sure it is the one we mean
        if not is_alive(pid, start_time):
            return True
        loop = asyncio.get_running_loop()
        exited: asyncio.Future[None] = loop.create_future()
        loop.add_reader(pidfd, _resolve, exited)
        try:
            async with asyncio.timeout(timeout):
                await exited
        except TimeoutError:
            return False
        finally:
            loop.remove_reader(pidfd)
        return True
    finally:
        os.close(pidfd)


async def kill_session(sid: int, since: int | None) -> None:
    """SIGKILL every process left in session ``sid`` and wait until they are gone.

    ``since`` is the start time of the session's leader: only processes started after it
    can be its descendants.
    """
    stat = proc_stat(sid)
    if stat is not None and since is not None and stat[3] != since:
        return  # the kernel never reuses a pid that still names a session: ours is empty
    for _ in range(3):  # a dying parent may fork once more; a few sweeps catch that
        members = await asyncio.to_thread(session_members, sid, since=since)
        if not members:
            return
        for pid in members:
            signal_pid(pid, signal.SIGKILL)
        for pid in members:
            await wait_gone(pid, None, KILL_GRACE_SECONDS)


# --- the runtime record ------------------------------------------------------------------


def spec_to_json(spec: AgentSpec) -> dict[str, Any]:
    """A JSON-ready copy of ``spec``."""
    data = asdict(spec)
    for key, value in data.items():
        if isinstance(value, Path):
            data[key] = str(value)
    data["role"] = str(spec.role)
    data["env"] = dict(spec.env)
    data["command"] = list(spec.command) if spec.command is not None else None
    return data


def spec_from_json(data: Mapping[str, Any]) -> AgentSpec:
    """Rebuild an `AgentSpec` written by `spec_to_json`."""

    def optional(key: str) -> Path | None:
        return Path(data[key]) if data.get(key) else None

    return AgentSpec(
        name=data["name"],
        role=Role(data["role"]),
        socket_dir=Path(data["socket_dir"]),
        state_dir=Path(data["state_dir"]),
        creds_dir=Path(data["creds_dir"]),
        etc_dir=Path(data["etc_dir"]),
        applied_dir=Path(data["applied_dir"]),
        agents_root=optional("agents_root"),
        applied_root=optional("applied_root"),
        meta_dir=optional("meta_dir"),
        env=dict(data.get("env") or {}),
        memory_max=data.get("memory_max"),
        cpu_quota=data.get("cpu_quota"),
        private_network=bool(data.get("private_network")),
        command=tuple(data["command"]) if data.get("command") is not None else None,
    )


@dataclass(frozen=True)
class RuntimeRecord:
    """What a runtime keeps on disk per container: the spec and the supervised process.

    The pid with its start time survives a daemon restart, so the new daemon can adopt
    a harness that is still running (and refuse a recycled pid).
    """

    runtime: str
    spec: AgentSpec
    pid: int | None = None
    start_time: int | None = None
    started_at: float | None = None
    uid_base: int | None = None
    cgroups: tuple[str, ...] = ()
    scope: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready copy."""
        return {
            "runtime": self.runtime,
            "spec": spec_to_json(self.spec),
            "pid": self.pid,
            "start_time": self.start_time,
            "started_at": self.started_at,
            "uid_base": self.uid_base,
            "cgroups": list(self.cgroups),
            "scope": self.scope,
            "extra": dict(self.extra),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RuntimeRecord:
        """Rebuild a record written by `to_json`."""
        return cls(
            runtime=data["runtime"],
            spec=spec_from_json(data["spec"]),
            pid=data.get("pid"),
            start_time=data.get("start_time"),
            started_at=data.get("started_at"),
            uid_base=data.get("uid_base"),
            cgroups=tuple(data.get("cgroups") or ()),
            scope=data.get("scope"),
            extra=dict(data.get("extra") or {}),
        )


def prepare_dirs(spec: AgentSpec) -> None:
    """Create the agent's own dirs; creds and the socket dir are private to the agent."""
    for path in (spec.state_dir, spec.etc_dir):
        path.mkdir(parents=True, exist_ok=True)
    for path in (spec.creds_dir, spec.socket_dir):
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
        # only the agent may reach its socket: the server can then make it 0666 safely
        path.chmod(0o700)


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically, readable by its owner only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def rotate_log(path: Path, cap: int = LOG_CAP_BYTES) -> None:
    """Copy ``path`` to ``<path>.1`` and truncate it once it passes ``cap`` bytes.

    Copy-and-truncate (the harness keeps its O_APPEND fd); links and special files are
    never followed (`safefs.rotate_log`): a refused log is left alone.
    """
    try:
        safefs.rotate_log(path.parent, path.name, cap)
    except (Refused, OSError) as exc:  # (a missing log is no error: nothing to rotate)
        logger.warning("log %s not rotated: %s", path.name, exc)


# --- the shared supervisor ---------------------------------------------------------------


class SupervisedRuntime:
    """Bookkeeping shared by runtimes whose container is one supervised host process."""

    name = "supervised"

    def __init__(self, settings: Settings, runner: Runner) -> None:
        self.settings = settings
        self.runner = runner
        self._records: dict[str, RuntimeRecord] = {}
        self._children: dict[str, int] = {}  # harnesses we started and must reap
        self._exits: dict[str, tuple[int, int]] = {}  # name -> (pid, exit status)
        self._log_checked: dict[str, float] = {}

    # paths
    def runtime_dir(self, name: str) -> Path:
        """``<state>/containers/<container>``: everything this runtime owns for one agent."""
        return self.settings.state_dir / "containers" / container_name(name)

    def record_path(self, name: str) -> Path:
        return self.runtime_dir(name) / "runtime.json"

    def log_path(self, name: str) -> Path:
        """The harness log (stdout and stderr): ``<agent dir>/harness.log`` (daemon-only)."""
        rec = self.record(name)
        state = rec.spec.state_dir if rec else self.settings.agent_state_dir(name)
        return state.parent / "harness.log"

    # records
    def record(self, name: str) -> RuntimeRecord | None:
        """The record of ``name``'s container, from memory or disk; None if absent."""
        rec = self._records.get(name)
        if rec is not None:
            return rec
        try:
            data = json.loads(self.record_path(name).read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError) as exc:
            raise ContainerError(f"cannot read {self.record_path(name)}: {exc}") from exc
        rec = RuntimeRecord.from_json(data)
        if rec.runtime != self.name:
            return None
        self._records[name] = rec
        return rec

    def _save(self, rec: RuntimeRecord) -> RuntimeRecord:
        write_private(self.record_path(rec.spec.name), json.dumps(rec.to_json(), indent=2))
        self._records[rec.spec.name] = rec
        return rec

    def _forget(self, name: str) -> None:
        self._records.pop(name, None)
        self._children.pop(name, None)
        self._exits.pop(name, None)
        self._log_checked.pop(name, None)

    # liveness
    def _running(self, rec: RuntimeRecord) -> bool:
        if rec.pid is None:
            return False
        self._reap(rec.spec.name)
        return is_alive(rec.pid, rec.start_time)

    def _reap(self, name: str) -> None:
        """Collect the exit status of the harness we started, if it exited (no zombies)."""
        pid = self._children.get(name)
        if pid is not None:
            self._collect(name, pid)

    def _collect(self, name: str, pid: int) -> None:
        try:
            done, status = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:  # reaped by someone else: the status is lost
            done, status = pid, None
        if done == 0:
            return
        if self._children.get(name) == pid:
            del self._children[name]
        if status is not None:
            self._exits[name] = (pid, os.waitstatus_to_exitcode(status))

    def _watch(self, name: str, pid: int) -> None:
        """Reap ``pid`` the moment it exits, so a crash leaves no zombie between polls."""
        loop = asyncio.get_running_loop()
        try:
            pidfd = os.pidfd_open(pid)
        except ProcessLookupError:
            return  # already gone: the next status() reaps it

        def exited() -> None:
            loop.remove_reader(pidfd)
            os.close(pidfd)
            self._collect(name, pid)

        loop.add_reader(pidfd, exited)

    def _require(self, name: str) -> RuntimeRecord:
        rec = self.record(name)
        if rec is None:
            raise NotFound(f"agent {name} has no {self.name} container")
        return rec

    async def status(self, name: str) -> ContainerStatus:
        """Running, stopped or absent; cheap enough to poll every second."""
        rec = self.record(name)
        if rec is None:
            return ContainerStatus(name, ContainerState.ABSENT)
        if self._running(rec):
            await self._check_log(name)
            return ContainerStatus(name, ContainerState.RUNNING, self._status_pid(rec))
        detail = ""
        last = self._exits.get(name)
        if last is not None and last[0] == rec.pid:
            detail = f"exited with status {last[1]}"
        return ContainerStatus(name, ContainerState.STOPPED, detail=detail)

    def _status_pid(self, rec: RuntimeRecord) -> int | None:
        return rec.pid

    async def list(self) -> list[ContainerStatus]:
        """Every container of this runtime under ``<state>/containers``."""
        root = self.settings.state_dir / "containers"
        names: list[str] = []
        if root.is_dir():
            for path in sorted(root.glob("*/runtime.json")):
                with contextlib.suppress(OSError, ValueError, KeyError):
                    data = json.loads(path.read_text())
                    if data.get("runtime") == self.name:
                        names.append(data["spec"]["name"])
        return [await self.status(n) for n in names]

    async def wait_exit(self, name: str) -> int | None:
        """Wait until ``name``'s harness exits; its status if we started it, else None."""
        rec = self._require(name)
        if rec.pid is None:
            return None
        await wait_gone(rec.pid, rec.start_time, None)
        self._reap(name)
        last = self._exits.get(name)
        return last[1] if last is not None and last[0] == rec.pid else None

    async def _check_log(self, name: str) -> None:
        now = time.monotonic()
        if now - self._log_checked.get(name, 0.0) < _LOG_CHECK_SECONDS:
            return
        self._log_checked[name] = now
        await asyncio.to_thread(rotate_log, self.log_path(name))

    def _spawn(
        self,
        name: str,
        argv: Sequence[str],
        *,
        env: Mapping[str, str],
        cwd: Path,
        log: Path,
    ) -> tuple[int, int | None]:
        """Launch ``argv`` in a session of its own; returns its pid and start time."""
        rotate_log(log)
        pid = spawn_session(argv, env=env, cwd=cwd, log=log)
        self._children[name] = pid
        self._exits.pop(name, None)
        start_time = proc_start_time(pid)
        self._watch(name, pid)
        return pid, start_time


def spawn_session(argv: Sequence[str], *, env: Mapping[str, str], cwd: Path, log: Path) -> int:
    """Start ``argv`` in ``cwd`` as the leader of a new session; returns its pid.

    stdin is /dev/null; stdout and stderr are appended to ``log``. posix_spawn rather than
    asyncio or Popen: neither holds the process as an object that kills it (asyncio's
    transport does, once collected) or warns about it when the daemon exits, so a harness
    outlives a daemon restart and is adopted. The caller reaps it (``os.waitpid``).

    Raises:
        ContainerError: the program does not exist or could not be started.
    """
    program = argv[0] if argv else ""
    found = os.access(program, os.X_OK) if "/" in program else which(program, env.get("PATH"))
    if not found:
        raise ContainerError(f"cannot start {program or 'an empty command'}: not found")
    log.parent.mkdir(parents=True, exist_ok=True)
    try:  # opened here, not by path in the child: a planted link or FIFO is refused
        log_fd = safefs.append_fd(log.parent, log.name)
    except (Refused, OSError) as exc:
        raise ContainerError(f"cannot start {program}: the log {log.name}: {exc}") from exc
    actions = [
        (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
        (os.POSIX_SPAWN_DUP2, log_fd, 1),
        (os.POSIX_SPAWN_DUP2, log_fd, 2),
    ]
    try:
        return os.posix_spawn(
            "/bin/sh",
            ["/bin/sh", "-c", CD_EXEC, str(cwd), *argv],  # sh execs: the pid stays argv's
            dict(env),
            file_actions=actions,
            setsid=True,
            # Python ignores SIGPIPE and SIGXFSZ; the harness wants the defaults back
            setsigdef=(signal.SIGPIPE, signal.SIGXFSZ),
        )
    except OSError as exc:
        raise ContainerError(f"cannot start {program}: {exc}") from exc
    finally:
        os.close(log_fd)


CD_EXEC = 'cd -- "$0" && exec "$@"'
