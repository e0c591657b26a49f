"""Pseudo-terminal sessions: a process on a fresh PTY, its master fd, resize and teardown."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import signal
import struct
import subprocess
import termios
from collections.abc import Mapping, Sequence

from hyperhive.core.errors import CommandError

logger = logging.getLogger(__name__)


def take_controlling_tty() -> None:
    """In the child between fork and exec: make the PTY slave (fd 0) the controlling tty.

    So job control, ctrl+c and SIGWINCH reach the program. CPython's subprocess runs it
    after setsid() and after stdin is the slave; uvloop's spawning does neither in that
    order, so PTY children are always started with `subprocess.Popen`. One ioctl, no
    allocation or locking, which keeps preexec_fn safe enough in a threaded daemon.
    """
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


class _Child:
    """A `subprocess.Popen` child awaited through a pidfd (no thread, any event loop)."""

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        self._proc = proc
        self.pid = proc.pid

    @property
    def returncode(self) -> int | None:
        return self._proc.poll()

    async def wait(self) -> int:
        if self._proc.poll() is not None:
            return int(self._proc.returncode)
        loop = asyncio.get_running_loop()
        try:
            pidfd = os.pidfd_open(self.pid)
        except ProcessLookupError:
            return int(self._proc.wait())
        try:
            while self._proc.poll() is None:
                exited: asyncio.Future[None] = loop.create_future()
                loop.add_reader(pidfd, _resolve, exited)
                try:
                    await exited
                finally:
                    loop.remove_reader(pidfd)
        finally:
            os.close(pidfd)
        return int(self._proc.returncode)


def set_winsize(fd: int, rows: int, cols: int) -> None:
    """Set the window size of the terminal behind ``fd`` (the kernel sends SIGWINCH)."""
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


class PtySession:
    """A process running on its own pseudo-terminal, in its own session.

    ``fd`` is the non-blocking master side: read the program's output from it, write
    keystrokes to it. Build one with `PtySession.start`.
    """

    def __init__(self, proc: _Child, fd: int) -> None:
        self._proc = proc
        self.fd = fd
        self.pid = proc.pid

    @classmethod
    async def start(
        cls,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        cwd: str | os.PathLike[str] | None = None,
        rows: int = 24,
        cols: int = 80,
    ) -> PtySession:
        """Start ``argv`` on a new PTY of ``rows`` x ``cols``.

        Args:
            argv: the program and its arguments.
            env: the complete environment of the program (None: inherit the daemon's).
            cwd: its working directory.
            rows: terminal height.
            cols: terminal width.

        Raises:
            CommandError: the program could not be started.
        """
        master, slave = os.openpty()
        try:
            set_winsize(master, rows, cols)
            try:
                popen = subprocess.Popen(
                    list(argv),
                    stdin=slave,
                    stdout=slave,
                    stderr=slave,
                    env=dict(env) if env is not None else None,
                    cwd=cwd,
                    start_new_session=True,
                    preexec_fn=take_controlling_tty,
                )
            except OSError as exc:
                raise CommandError(argv, 127, f"{argv[0]}: {exc.strerror or exc}") from exc
        except BaseException:
            os.close(master)
            raise
        finally:
            # the child holds its own copy; keeping ours would hide the hangup at its exit
            os.close(slave)
        os.set_blocking(master, False)
        return cls(_Child(popen), master)

    @property
    def returncode(self) -> int | None:
        """The exit status once the program ended, else None."""
        return self._proc.returncode

    def resize(self, rows: int, cols: int) -> None:
        """Tell the program its terminal is now ``rows`` x ``cols``."""
        if self.fd >= 0:
            set_winsize(self.fd, rows, cols)

    async def wait(self) -> int:
        """Wait for the program to exit and return its status."""
        return await self._proc.wait()

    def terminate(self) -> None:
        """Hang up the session: SIGHUP and SIGTERM to the whole process group."""
        self._signal_group(signal.SIGHUP)
        self._signal_group(signal.SIGTERM)
        self._signal_group(signal.SIGCONT)

    def kill(self) -> None:
        """SIGKILL the whole process group."""
        self._signal_group(signal.SIGKILL)

    async def close(self, *, timeout: float = 2.0) -> int:
        """Terminate the program, SIGKILL it after ``timeout``, release the master fd.

        Returns:
            The program's exit status. Safe to call twice.
        """
        if self._proc.returncode is None:
            self.terminate()
            try:
                async with asyncio.timeout(timeout):
                    await self._proc.wait()
            except TimeoutError:
                self.kill()
        code = await self._proc.wait()
        # children that left the group stay attached to the tty; hang them up too
        self._signal_group(signal.SIGKILL)
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
        return code

    def _signal_group(self, sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, sig)


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


async def read_chunk(fd: int, size: int = 65536) -> bytes:
    """Wait for output on a non-blocking master fd; b"" once the slave side hung up."""
    loop = asyncio.get_running_loop()
    while True:
        ready: asyncio.Future[None] = loop.create_future()
        loop.add_reader(fd, _resolve, ready)
        try:
            await ready
        finally:
            loop.remove_reader(fd)
        try:
            return os.read(fd, size)
        except BlockingIOError:
            continue
        except OSError:  # EIO: every slave fd is closed
            return b""


async def write_all(fd: int, data: bytes) -> None:
    """Write all of ``data`` to a non-blocking fd, waiting for room as it fills.

    Raises:
        OSError: the other side is gone (EIO, EBADF...).
    """
    loop = asyncio.get_running_loop()
    view = memoryview(data)
    while view:
        try:
            view = view[os.write(fd, view) :]
            continue
        except BlockingIOError:
            pass
        ready: asyncio.Future[None] = loop.create_future()
        loop.add_writer(fd, _resolve, ready)
        try:
            await ready
        finally:
            loop.remove_writer(fd)


async def read_until_eof(fd: int, *, limit: int = 1 << 20) -> bytes:
    """Read a master fd until the slave side hangs up (at most ``limit`` bytes).

    Meant for short, scripted sessions (tests, one-shot commands); interactive relays
    call `read_chunk` (or ``loop.add_reader``) themselves.
    """
    chunks: list[bytes] = []
    size = 0
    while size < limit:
        data = await read_chunk(fd)
        if not data:
            break
        chunks.append(data)
        size += len(data)
    return b"".join(chunks)
