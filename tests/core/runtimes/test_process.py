"""Tests for the process runtime: real harness subprocesses, real signals, real PTYs."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from hyperhive.core.errors import ContainerError, NotFound
from hyperhive.core.models import Role
from hyperhive.core.pty import read_until_eof
from hyperhive.core.runner import ProcessRunner
from hyperhive.core.runtimes.base import AgentSpec, ContainerState
from hyperhive.core.runtimes.process import ProcessRuntime, harness_command
from hyperhive.core.runtimes.supervisor import RuntimeRecord, proc_stat, spec_to_json
from hyperhive.core.settings import Settings

# A stand-in harness: reports itself over HYPERHIVE_SOCKET, starts a grandchild in a
# process group of its own (which stop must still reap), then waits for a signal.
HARNESS = """
import json, os, signal, socket, subprocess, sys
if "ignore-term" in sys.argv:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
if "exit" in sys.argv:
    sys.exit(3)
child = subprocess.Popen(["sleep", "300"], process_group=0)
print("harness up", flush=True)
s = socket.socket(socket.AF_UNIX)
s.connect(os.environ["HYPERHIVE_SOCKET"])
report = {"pid": os.getpid(), "cwd": os.getcwd(), "env": dict(os.environ), "child": child.pid}
s.sendall(json.dumps(report).encode() + b"\\n")
signal.pause()
"""


def make_spec(settings: Settings, name: str, script: Path, *args: str) -> AgentSpec:
    return AgentSpec(
        name=name,
        role=Role.AGENT,
        socket_dir=settings.socket_dir(name),
        state_dir=settings.agent_state_dir(name),
        creds_dir=settings.creds_dir(name),
        etc_dir=settings.agent_dir(name) / "etc",
        applied_dir=settings.applied_dir(name),
        env={"EXTRA": "yes"},
        command=(sys.executable, str(script), *args),
    )


class Socket:
    """The agent socket, served by the test: each harness sends one JSON report."""

    def __init__(self) -> None:
        self.reports: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        line = await reader.readline()
        if line:
            await self.reports.put(json.loads(line))
        writer.close()

    async def next(self) -> dict[str, Any]:
        async with asyncio.timeout(10):
            return await self.reports.get()


@pytest.fixture
def script(tmp_path: Path) -> Path:
    path = tmp_path / "harness.py"
    path.write_text(HARNESS)
    return path


@pytest.fixture
async def runtime(settings: Settings) -> AsyncIterator[ProcessRuntime]:
    runtime = ProcessRuntime(settings, ProcessRunner())
    yield runtime
    for status in await runtime.list():
        await runtime.destroy(status.name)


async def serve(settings: Settings, name: str) -> tuple[Socket, asyncio.Server]:
    sock = Socket()
    settings.socket_dir(name).mkdir(parents=True, exist_ok=True)
    server = await asyncio.start_unix_server(sock.handle, path=settings.agent_socket(name))
    return sock, server


def alive(pid: int) -> bool:
    stat = proc_stat(pid)
    return stat is not None and stat[0] != "Z"


async def test_start_runs_the_harness_in_its_dirs_with_a_clean_env(
    settings: Settings, runtime: ProcessRuntime, script: Path
) -> None:
    spec = make_spec(settings, "alpha", script)
    sock, server = await serve(settings, "alpha")
    async with server:
        await runtime.start(spec)
        report = await sock.next()
    env = report["env"]
    # the harness starts where the agent cannot write (no applied tree here: /)
    assert report["cwd"] == "/"
    assert env["HYPERHIVE_AGENT"] == "alpha"
    assert env["HYPERHIVE_SOCKET"] == str(settings.agent_socket("alpha"))
    assert env["HYPERHIVE_STATE"] == str(spec.state_dir)
    assert env["HYPERHIVE_ETC"] == str(spec.etc_dir)
    assert env["HYPERHIVE_CREDS"] == env["HOME"] == str(spec.creds_dir)
    assert env["HYPERHIVE_APPLIED"] == str(spec.applied_dir)
    assert env["EXTRA"] == "yes"
    assert "PYTEST_CURRENT_TEST" not in env  # nothing leaks from the daemon's environment
    status = await runtime.status("alpha")
    assert (status.state, status.pid) == (ContainerState.RUNNING, report["pid"])
    assert [s.name for s in await runtime.list()] == ["alpha"]
    assert oct(spec.creds_dir.stat().st_mode & 0o777) == "0o700"

    await runtime.stop("alpha")

    assert (await runtime.status("alpha")).state == ContainerState.STOPPED
    assert not alive(report["pid"])
    assert not alive(report["child"])  # the grandchild in its own process group went too
    assert "harness up" in runtime.log_path("alpha").read_text()
    assert runtime.log_path("alpha") == spec.state_dir.parent / "harness.log"


async def test_start_twice_leaves_the_running_harness_alone(
    settings: Settings, runtime: ProcessRuntime, script: Path
) -> None:
    spec = make_spec(settings, "alpha", script)
    sock, server = await serve(settings, "alpha")
    async with server:
        await runtime.start(spec)
        first = await sock.next()
        await runtime.start(spec)
    assert (await runtime.status("alpha")).pid == first["pid"]
    assert sock.reports.empty()


async def test_stop_kills_a_harness_that_ignores_sigterm(
    settings: Settings, runtime: ProcessRuntime, script: Path
) -> None:
    spec = make_spec(settings, "stubborn", script, "ignore-term")
    sock, server = await serve(settings, "stubborn")
    async with server:
        await runtime.start(spec)
        report = await sock.next()
    async with asyncio.timeout(10):
        await runtime.stop("stubborn", timeout=0.2)
    assert not alive(report["pid"])
    assert not alive(report["child"])


async def test_wait_exit_reports_a_crash_and_status_says_stopped(
    settings: Settings, runtime: ProcessRuntime, script: Path
) -> None:
    await runtime.start(make_spec(settings, "crash", script, "exit"))
    async with asyncio.timeout(10):
        assert await runtime.wait_exit("crash") == 3
    status = await runtime.status("crash")
    assert status.state == ContainerState.STOPPED
    assert status.detail == "exited with status 3"


async def test_start_refuses_a_command_that_does_not_exist(
    settings: Settings, runtime: ProcessRuntime, script: Path
) -> None:
    spec = replace(make_spec(settings, "missing", script), command=("no-such-harness-here",))
    with pytest.raises(ContainerError, match="not found"):
        await runtime.start(spec)
    assert (await runtime.status("missing")).state == ContainerState.STOPPED


async def test_a_restarted_daemon_adopts_the_running_harness(
    settings: Settings, script: Path
) -> None:
    spec = make_spec(settings, "adopt", script)
    sock, server = await serve(settings, "adopt")
    # the old daemon: another process that starts the harness and exits
    old_daemon = (
        "import asyncio, json, sys\n"
        "from pathlib import Path\n"
        "from hyperhive.core.runner import ProcessRunner\n"
        "from hyperhive.core.runtimes.process import ProcessRuntime, spec_from_json\n"
        "from hyperhive.core.settings import Settings\n"
        "s = Settings(state_dir=Path(sys.argv[1]), run_dir=Path(sys.argv[2]))\n"
        "spec = spec_from_json(json.loads(sys.argv[3]))\n"
        "asyncio.run(ProcessRuntime(s, ProcessRunner()).start(spec))\n"
    )
    argv = [sys.executable, "-c", old_daemon, str(settings.state_dir), str(settings.run_dir)]
    async with server:
        await ProcessRunner().run([*argv, json.dumps(spec_to_json(spec))], timeout=60)
        report = await sock.next()

    runtime = ProcessRuntime(settings, ProcessRunner())
    status = await runtime.status("adopt")
    assert (status.state, status.pid) == (ContainerState.RUNNING, report["pid"])

    async with asyncio.timeout(20):
        await runtime.stop("adopt")
        assert await runtime.wait_exit("adopt") is None  # not our child: status unknown
    assert (await runtime.status("adopt")).state == ContainerState.STOPPED
    assert not alive(report["pid"])
    assert not alive(report["child"])
    await runtime.destroy("adopt")


async def test_status_does_not_adopt_a_recycled_pid(
    settings: Settings, runtime: ProcessRuntime, script: Path
) -> None:
    spec = make_spec(settings, "recycled", script)
    await runtime.create(spec)
    # a live pid (ours) whose start time is not the harness's: someone else's process now
    start_time = proc_stat(os.getpid())[3]  # type: ignore[index]
    record = RuntimeRecord(runtime="process", spec=spec, pid=os.getpid(), start_time=start_time + 1)
    runtime.record_path("recycled").write_text(json.dumps(record.to_json()))

    fresh = ProcessRuntime(settings, ProcessRunner())
    assert (await fresh.status("recycled")).state == ContainerState.STOPPED
    await fresh.stop("recycled")  # must not signal the recycled pid (this very test)


async def test_destroy_removes_runtime_files_but_keeps_state(
    settings: Settings, runtime: ProcessRuntime, script: Path
) -> None:
    spec = make_spec(settings, "gone", script)
    assert (await runtime.status("gone")).state == ContainerState.ABSENT
    await runtime.create(spec)
    (spec.state_dir / "notes.md").write_text("keep me")
    assert (await runtime.status("gone")).state == ContainerState.STOPPED

    await runtime.destroy("gone")
    await runtime.destroy("gone")  # idempotent

    assert (await runtime.status("gone")).state == ContainerState.ABSENT
    assert not runtime.runtime_dir("gone").exists()
    assert (spec.state_dir / "notes.md").read_text() == "keep me"


async def test_exec_runs_in_the_agent_environment_and_cwd(
    settings: Settings, runtime: ProcessRuntime, script: Path
) -> None:
    spec = make_spec(settings, "ex", script)
    await runtime.create(spec)
    result = await runtime.exec("ex", ["sh", "-c", 'echo "$HYPERHIVE_AGENT $HOME $PWD"; exit 4'])
    assert result.stdout.split() == ["ex", str(spec.creds_dir), str(spec.state_dir)]
    assert result.returncode == 4
    with pytest.raises(NotFound):
        await runtime.exec("nobody", ["true"])


async def test_open_pty_echoes_and_sees_the_resize(
    settings: Settings, runtime: ProcessRuntime, script: Path
) -> None:
    await runtime.create(make_spec(settings, "tty", script))
    session = await runtime.open_pty("tty", ["sh", "-c", "echo hi; read x; stty size"])
    session.resize(33, 101)
    os.write(session.fd, b"\n")
    async with asyncio.timeout(10):
        out = await read_until_eof(session.fd)
        assert await session.close() == 0
    assert b"hi" in out
    assert b"33 101" in out


def test_the_harness_command_defaults_to_isolated_python_m_hyperhive(settings: Settings) -> None:
    spec = replace(make_spec(settings, "d", Path("x")), command=None)
    assert harness_command(spec) == [sys.executable, "-I", "-m", "hyperhive", "agent", "serve"]


def test_a_hyperhive_package_planted_in_the_agents_dir_never_runs_as_the_harness(
    settings: Settings, tmp_path: Path
) -> None:
    planted = tmp_path / "hyperhive"
    planted.mkdir()
    marker = tmp_path / "owned"
    (planted / "__init__.py").write_text(f"open({str(marker)!r}, 'w').close()\n")
    (planted / "__main__.py").write_text("")
    spec = replace(make_spec(settings, "d", Path("x")), command=None)
    argv = harness_command(spec)[:-2] + ["--help"]  # the harness's interpreter and module
    done = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert not marker.exists()
