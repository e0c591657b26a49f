"""`hyperhive daemon`: the host core in the foreground, one per run dir."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import gc
import logging
import os
import resource
import signal
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import IO

from hyperhive.core import safefs
from hyperhive.core.errors import Refused
from hyperhive.core.hive import Hive, prepare_dirs
from hyperhive.core.runtimes import isolated, with_runtime
from hyperhive.core.settings import Settings

logger = logging.getLogger(__name__)


class DaemonLock:
    """An exclusive flock on ``<run>/daemon.lock``; a second daemon fails fast and clearly."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fh: IO[str] | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fh = open(self.path, "a+")  # noqa: SIM115 - held for the daemon's lifetime
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            fh.seek(0)
            pid = fh.read().strip() or "?"
            fh.close()
            raise Refused(
                f"another hyperhive daemon (pid {pid}) is already running on {self.path.parent}"
            ) from exc
        fh.seek(0)
        fh.truncate()
        fh.write(str(os.getpid()))
        fh.flush()
        self._fh = fh

    def release(self) -> None:
        if self._fh is not None:
            fcntl.flock(self._fh, fcntl.LOCK_UN)
            self._fh.close()
            self._fh = None


def migrate_layout(settings: Settings) -> list[str]:
    """Move proposed repos of the old layout (``<state>/agents/<n>/config``) to
    ``<state>/proposed/<n>/config``, where the manager's bind now points; return the names.

    The old ``<state>/agents`` was bound into the manager whole; from now on it is the
    daemon's alone (0700). A manager container adopted from before keeps its old binds
    until it is restarted.
    """
    moved: list[str] = []
    old_root = settings.agents_root
    if not old_root.is_dir():
        return moved
    os.chmod(old_root, 0o700)
    for entry in sorted(old_root.iterdir()):
        old = entry / "config"
        if (
            entry.is_symlink()
            or old.is_symlink()
            or not safefs.is_dir(old_root, f"{entry.name}/config")
        ):
            continue
        settings.proposed_root.mkdir(mode=0o755, parents=True, exist_ok=True)
        safefs.ensure_dir(settings.proposed_root, entry.name)
        with safefs.parent_of(settings.proposed_root, f"{entry.name}/config") as (dfd, leaf):
            try:
                os.stat(leaf, dir_fd=dfd, follow_symlinks=False)
            except FileNotFoundError:
                os.rename(old, leaf, dst_dir_fd=dfd)
                moved.append(entry.name)
            else:
                logger.warning("both layouts hold a proposed repo for %s: kept the new", entry.name)
    if moved:
        logger.info(
            "moved the proposed repos of %s to %s", ", ".join(moved), settings.proposed_root
        )
    return moved


def raise_fd_limit() -> int:
    """Lift the soft open-files limit to the hard one; return the soft limit now in force.

    Every agent costs the daemon a listening socket plus one descriptor per connection
    (a harness holds one): about 2 per agent at rest, so the common soft default of
    1,024 runs out near 500 agents, with EMFILE on the next socket.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    ceiling = hard
    if ceiling == resource.RLIM_INFINITY:
        # the kernel refuses "unlimited" open files; its own ceiling is the real one
        with contextlib.suppress(OSError, ValueError):
            ceiling = int(Path("/proc/sys/fs/nr_open").read_text())
    if ceiling == resource.RLIM_INFINITY or soft >= ceiling:
        return soft
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (ceiling, hard))
    except (OSError, ValueError) as exc:
        logger.warning("could not raise the open-files limit to %d: %s", ceiling, exc)
        return soft
    logger.info("raised the open-files limit from %d to %d", soft, ceiling)
    return ceiling


GC_YOUNG_THRESHOLD = 10_000  # allocations between young collections (CPython's default: 700)


def calm_gc() -> None:
    """Keep the cyclic collector off the message path once the hive is up.

    What start-up built (the store, the registry, a socket server per agent) lives as
    long as the daemon: frozen, no collection walks it again. Young collections run
    every 10,000 allocations instead of 700, so full collections come ~14 times less
    often. Measured with bench/scale.py (1,000 agents, 1,000 msgs/s): the collector's
    CPU fell from about 20% of the daemon's to under 9%, and its full passes (stalls of
    hundreds of ms on a busy host) from 8 to 1 in 20 s.
    """
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, older, oldest)


def announce_runtime(settings: Settings) -> Settings:
    """Resolve ``runtime = "auto"`` and say at start (log and stderr) what agents run in."""
    settings, why = with_runtime(settings)
    if isolated(settings.runtime):
        line = f"agents run in the {settings.runtime} runtime ({why})"
    else:
        line = (
            f"WARNING: agents run in the process runtime ({why}): they are NOT isolated "
            "from this host or from each other"
        )
    logger.info("%s", line)  # the log (with -v); stderr always says it
    print(f"hyperhive: {line}", file=sys.stderr, flush=True)
    return settings


async def run_daemon(
    settings: Settings,
    *,
    swarm: bool = True,
    ssh: str | None = None,
    ready: Callable[[Hive], Awaitable[None]] | None = None,
) -> None:
    """Serve until SIGTERM or SIGINT, then shut down cleanly.

    Args:
        settings: where and how.
        swarm: run the agents (build the manager, adopt or start the agents, watch for
            crashes); without it the daemon only serves the sockets (maintenance).
        ssh: ``HOST:PORT`` to serve the TUI over SSH on.
        ready: called once the hive is up.
    """
    raise_fd_limit()
    settings = announce_runtime(settings)
    prepare_dirs(settings)
    migrate_layout(settings)
    if settings.runtime == "nixos":
        from hyperhive.core.runner import ProcessRunner
        from hyperhive.core.runtimes.nixos import check_nix

        # name a nix that cannot lock the meta flake now, not at the first deploy
        await check_nix(ProcessRunner())
    ssh = ssh or os.environ.get("HYPERHIVE_SSH_LISTEN") or None
    lock = DaemonLock(settings.lock_path)
    lock.acquire()
    try:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        try:
            async with contextlib.AsyncExitStack() as stack:
                hive = await stack.enter_async_context(Hive.open(settings, run_agents=swarm))
                logger.info("hyperhive daemon listening on %s", settings.host_socket)
                calm_gc()
                if ssh is not None:
                    from hyperhive.core.ssh import SshFrontDoor, parse_listen

                    host, port = parse_listen(ssh)
                    front = SshFrontDoor(settings)
                    bound = await front.start(host, port)
                    stack.push_async_callback(front.close)
                    logger.info("serving the TUI over SSH on %s:%d", host, bound)
                if ready is not None:
                    await ready(hive)
                await stop.wait()
                logger.info("shutting down")
        finally:
            for sig in (signal.SIGTERM, signal.SIGINT):
                with contextlib.suppress(Exception):
                    loop.remove_signal_handler(sig)
    finally:
        lock.release()
