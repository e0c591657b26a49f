"""`hyperhive up [--demo]`: the daemon and the TUI in one command."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import subprocess

from hyperhive.commands import Context, Output, Verb, connect_session
from hyperhive.core.client import HiveClient
from hyperhive.core.errors import DaemonUnavailable, HyperhiveError
from hyperhive.core.replies import AgentsReply
from hyperhive.core.settings import Settings, cli_argv

DEMO_AGENTS = ("alice", "bob")


def _args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--demo",
        action="store_true",
        help="a throw-away swarm (manager + two scripted agents) in a temporary state dir",
    )
    p.add_argument("--keep", action="store_true", help="with --demo: keep the state dir at exit")
    p.add_argument("--ssh", metavar="HOST:PORT", help="also serve the TUI over SSH")
    p.add_argument("--no-tui", action="store_true", help="start everything, print, and exit")


async def _answers(settings: Settings) -> bool:
    try:
        client = await HiveClient.connect(settings.host_socket, timeout=1)
    except DaemonUnavailable:
        return False
    await client.close()
    return True


def daemon_argv(settings: Settings, ssh: str | None) -> list[str]:
    return cli_argv(settings, "daemon", *(["--ssh", ssh] if ssh else []))


async def start_daemon(settings: Settings, ssh: str | None) -> subprocess.Popen[bytes]:
    """Start ``hyperhive daemon`` in the background (log in <state>/daemon.log); wait for it."""
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    log_path = settings.state_dir / "daemon.log"
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            daemon_argv(settings, ssh),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
    try:
        async with asyncio.timeout(60):
            while not await _answers(settings):
                if proc.poll() is not None:
                    tail = log_path.read_text(errors="replace").strip().splitlines()[-5:]
                    raise DaemonUnavailable(
                        f"the daemon exited ({proc.returncode}): " + " / ".join(tail)
                    )
                await asyncio.sleep(0.05)
    except TimeoutError as exc:
        proc.terminate()
        raise DaemonUnavailable(f"the daemon did not answer within 60 s; see {log_path}") from exc
    return proc


def stop_daemon(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def start_demo(settings: Settings) -> None:
    """Spawn the demo agents and wake the manager."""
    async with await HiveClient.connect(settings.host_socket) as client:
        listed: AgentsReply = await client.call("agents.list")
        names = {a["name"] for a in listed["agents"]}
        for name in DEMO_AGENTS:
            if name not in names:
                await client.call("lifecycle.spawn", name=name)
        await client.call(
            "messages.send", to="manager", body="Start the demo: put alice and bob to work."
        )


async def stop_agents(settings: Settings) -> None:
    """Stop every agent of a throw-away demo (a real swarm keeps running without the TUI)."""
    from hyperhive.core.runner import ProcessRunner
    from hyperhive.core.runtimes.process import ProcessRuntime

    runtime = ProcessRuntime(settings, ProcessRunner())
    for status in await runtime.list():
        with contextlib.suppress(HyperhiveError):
            await runtime.stop(status.name, timeout=5)


async def _run_tui(settings: Settings, quit_warning: str = "") -> None:
    from hyperhive.commands.tui import _log_to_file, session_identity
    from hyperhive.tui.app import make_app  # Textual loads only here

    who, role = session_identity(None, None)
    _log_to_file(settings)
    app = make_app(
        lambda: connect_session(settings.host_socket, who, role),
        who=who,
        role=role,
        quit_warning=quit_warning,
    )
    loop = asyncio.get_running_loop()
    # a closed terminal (SIGHUP) or a kill (SIGTERM) ends the TUI cleanly, so that
    # `up` still stops what it started
    for sig in (signal.SIGHUP, signal.SIGTERM):
        loop.add_signal_handler(sig, app.exit)
    try:
        await app.run_async()
    finally:
        for sig in (signal.SIGHUP, signal.SIGTERM):
            loop.remove_signal_handler(sig)


async def up(ctx: Context) -> Output:
    from hyperhive import demo

    a = ctx.args
    settings = demo.demo_settings() if a.demo else ctx.settings
    if a.demo:
        await demo.seed(settings)
    proc = None if await _answers(settings) else await start_daemon(settings, a.ssh)
    try:
        if a.demo:
            await start_demo(settings)
        if a.no_tui:
            return (
                {"state_dir": str(settings.state_dir), "run_dir": str(settings.run_dir)},
                f"hyperhive is up: state {settings.state_dir}, sockets {settings.run_dir}",
            )
        if a.demo:
            warning = "Quitting stops the demo swarm and deletes its state (`up --demo`)."
        elif proc is not None:
            warning = "Quitting stops the daemon `up` started (agents keep their state)."
        else:
            warning = ""
        await _run_tui(settings, warning)
        return None
    finally:
        if a.demo and not a.no_tui:
            if proc is not None:
                stop_daemon(proc)
            await stop_agents(settings)
            if not a.keep:
                demo.remove(settings)
        elif proc is not None and not a.no_tui:
            stop_daemon(proc)


VERBS = [Verb("up", "start the daemon (if needed) and open the TUI", up, _args)]
