"""One kept-open SSH connection per host: pinned key, version check, backoff, callbacks."""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import shlex
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import asyncssh

from hyperhive import __version__
from hyperhive.core.errors import Refused
from hyperhive.core.hosts.keys import fingerprint, load_pinned
from hyperhive.core.hosts.target import SshTarget

logger = logging.getLogger(__name__)

Callback = Callable[["HostLink"], Awaitable[None]]
_OUTPUT_LIMIT = 4 * 1024 * 1024


class LinkState(enum.StrEnum):
    CONNECTING = "connecting"
    REACHABLE = "reachable"
    UNREACHABLE = "unreachable"
    INCOMPATIBLE = "incompatible"


class HostUnavailable(Refused):
    """The host has no usable connection now (unreachable, incompatible, or closed)."""


@dataclass
class Backoff:
    """Reconnect delays: ``first``, doubling, never more than ``cap`` seconds."""

    first: float = 1.0
    cap: float = 30.0


@dataclass(frozen=True)
class LinkOptions:
    """How every link connects; the defaults suit a real network."""

    python: str = "python3"  # the host's python, which must import the same hyperhive
    expected_version: str = __version__
    keepalive_interval: float = 5.0
    keepalive_count_max: int = 3
    connect_timeout: float = 10.0
    version_timeout: float = 30.0


class HostLink:
    """The daemon's one SSH connection to a host, kept open; the contract hosts18b builds on.

    - ``state`` is a `LinkState`; ``reason`` says why in one line when it is not reachable.
    - The connection only ever accepts the host key pinned at ``host add``: an unknown or
      changed key is refused (``state`` unreachable, ``reason`` names both fingerprints,
      and ``on_key_refused`` is told once per offered key, for the audit log).
    - After the key and the login, the host's hyperhive version is checked
      (``<python> -c 'import hyperhive…'``); a mismatch makes the host ``incompatible``
      and the connection is closed: it is never handed out.
    - When the connection drops (keepalives: ``keepalive_interval`` × ``keepalive_count_max``
      seconds at most), ``state`` goes unreachable, every ``on_disconnect`` callback runs,
      and the link reconnects with capped exponential backoff; once reachable again every
      ``on_connect`` callback runs (in registration order; a failing one is logged, the
      others still run). ``on_connect`` callbacks also run for the first connection; one
      registered while the link is reachable runs at once.
    - ``connection()`` returns the live `asyncssh.SSHClientConnection` or raises
      `HostUnavailable`; with ``wait`` it waits that long for one first. Do not close it.
    - ``run(argv)`` runs one command (``shlex.join(argv)``, so no word of ``argv`` is shell
      syntax) and returns ``(returncode, stdout, stderr)`` as bytes, each bounded; the
      return code is -1 when the command died of a signal. It raises `HostUnavailable`
      when the host is not reachable and `TimeoutError` after ``timeout`` seconds.
    - ``on_state`` (given by the owner) is called on every state change, synchronously.
    """

    def __init__(
        self,
        name: str,
        target: SshTarget,
        pinned_key: str,
        client_key: asyncssh.SSHKey,
        *,
        options: LinkOptions,
        backoff: Backoff,
        on_state: Callable[[HostLink], None] = lambda link: None,
        on_key_refused: Callable[[HostLink, str], Awaitable[None]] | None = None,
    ) -> None:
        self.name = name
        self.target = target
        self.pinned = load_pinned(pinned_key)
        self.client_key = client_key
        self.options = options
        self.backoff = backoff
        self.state = LinkState.CONNECTING
        self.reason = ""
        self.version: str | None = None
        self.since = time.time()
        self._on_state = on_state
        self._on_key_refused = on_key_refused
        self._on_connect: list[Callback] = []
        self._on_disconnect: list[Callback] = []
        self._conn: asyncssh.SSHClientConnection | None = None
        self._task: asyncio.Task[None] | None = None
        self._changed = asyncio.Event()
        self._wake = asyncio.Event()
        self._refused_offer = ""
        self._late: set[asyncio.Task[None]] = set()  # on_connect run for a late registration

    # -- the contract ---------------------------------------------------------

    def on_connect(self, callback: Callback) -> None:
        self._on_connect.append(callback)
        if self.state is LinkState.REACHABLE:
            task = asyncio.get_running_loop().create_task(self._call(callback, "on_connect"))
            self._late.add(task)
            task.add_done_callback(self._late.discard)

    def on_disconnect(self, callback: Callback) -> None:
        self._on_disconnect.append(callback)

    async def connection(self, wait: float = 0) -> asyncssh.SSHClientConnection:
        if wait > 0 and self.state is not LinkState.REACHABLE:
            self._wake.set()  # skip the rest of a backoff sleep: someone needs the host
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait):
                    while self.state is not LinkState.REACHABLE:
                        self._changed.clear()
                        await self._changed.wait()
        if self.state is not LinkState.REACHABLE or self._conn is None:
            why = f": {self.reason}" if self.reason else ""
            raise HostUnavailable(f"host {self.name} is {self.state.value}{why}")
        return self._conn

    async def run(
        self,
        argv: Sequence[str],
        input: bytes | None = None,
        timeout: float = 60.0,
        *,
        limit: int = _OUTPUT_LIMIT,
    ) -> tuple[int, bytes, bytes]:
        return await self._run(await self.connection(), argv, input, timeout, limit)

    # -- owner's side -----------------------------------------------------------

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(
                self._supervise(), name=f"host link {self.name}"
            )

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._conn is not None:
            self._conn.close()
            with contextlib.suppress(Exception):
                await self._conn.wait_closed()
            self._conn = None

    async def settled(self, timeout: float) -> LinkState:
        """Wait (at most ``timeout``) until the first attempt is over; the state then."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                while self.state is LinkState.CONNECTING:
                    self._changed.clear()
                    await self._changed.wait()
        return self.state

    # -- the loop ---------------------------------------------------------------

    async def _supervise(self) -> None:
        delay = self.backoff.first
        while True:
            conn = await self._attempt()
            if conn is not None:
                delay = self.backoff.first
                self._conn = conn
                self._set(LinkState.REACHABLE, "")
                for cb in list(self._on_connect):
                    await self._call(cb, "on_connect")
                await conn.wait_closed()
                self._conn = None
                self._set(LinkState.UNREACHABLE, "the connection dropped")
                for cb in list(self._on_disconnect):
                    await self._call(cb, "on_disconnect")
            elif self.state is LinkState.INCOMPATIBLE:
                delay = self.backoff.cap  # only an upgrade on the host helps: retry slowly
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await self._wake.wait()
            delay = min(delay * 2, self.backoff.cap)

    async def _attempt(self) -> asyncssh.SSHClientConnection | None:
        """One connection try; None (with the state set) when it does not give a usable one."""
        t, o = self.target, self.options
        try:
            conn = await asyncssh.connect(
                t.addr,
                port=t.port,
                username=t.user,
                client_keys=[self.client_key],
                known_hosts=([self.pinned], [], []),
                server_host_key_algs=[a.decode() for a in self.pinned.sig_algorithms],
                keepalive_interval=o.keepalive_interval,
                keepalive_count_max=o.keepalive_count_max,
                connect_timeout=o.connect_timeout,
                login_timeout=o.connect_timeout,
                agent_path=None,
                config=None,
                preferred_auth="publickey",
            )
        except asyncssh.HostKeyNotVerifiable:
            await self._key_refused()
            return None
        except asyncssh.PermissionDenied:
            self._set(
                LinkState.UNREACHABLE,
                f"{t.user}@{t.addr} refused the daemon's key: install it on the host "
                "(hyperhive host key)",
            )
            return None
        except (OSError, asyncssh.Error, TimeoutError) as exc:
            self._set(LinkState.UNREACHABLE, _why(exc))
            return None
        try:
            await self._check_version(conn)
        except (OSError, asyncssh.Error, TimeoutError) as exc:
            self._set(LinkState.UNREACHABLE, _why(exc))
        else:
            if self.state is not LinkState.INCOMPATIBLE:
                return conn
        conn.close()
        return None

    async def _check_version(self, conn: asyncssh.SSHClientConnection) -> None:
        code = "import hyperhive, sys; sys.stdout.write(hyperhive.__version__)"
        rc, out, err = await self._run(
            conn, [self.options.python, "-c", code], None, self.options.version_timeout, 4096
        )
        theirs = out.decode(errors="replace").strip()
        if rc != 0:
            detail = err.decode(errors="replace").strip().splitlines()[-1:] or [f"exit {rc}"]
            self.version = None
            self._set(
                LinkState.INCOMPATIBLE,
                f"hyperhive is not usable on the host ({self.options.python}): {detail[0][:200]}",
            )
        elif theirs != self.options.expected_version:
            self.version = theirs[:64]
            self._set(
                LinkState.INCOMPATIBLE,
                f"the host runs hyperhive {theirs[:64]}, this daemon "
                f"{self.options.expected_version}: install the same version there",
            )
        else:
            self.version = theirs

    async def _key_refused(self) -> None:
        t = self.target
        offered = ""
        with contextlib.suppress(OSError, asyncssh.Error, TimeoutError):
            key = await asyncio.wait_for(
                asyncssh.get_server_host_key(t.addr, t.port), self.options.connect_timeout
            )
            offered = fingerprint(key) if key is not None else ""
        pinned = fingerprint(self.pinned)
        if offered != self._refused_offer:  # audited once per offered key, before it shows
            self._refused_offer = offered
            if self._on_key_refused is not None:
                await self._on_key_refused(self, offered)
        self._set(
            LinkState.UNREACHABLE,
            f"host key refused: the host offered {offered or 'another key'}, the pinned key "
            f"is {pinned} (a changed key is never accepted; remove and re-add the host "
            "if the change is expected)",
        )

    @staticmethod
    async def _run(
        conn: asyncssh.SSHClientConnection,
        argv: Sequence[str],
        input: bytes | None,
        timeout: float,
        limit: int,
    ) -> tuple[int, bytes, bytes]:
        async with asyncio.timeout(timeout):
            proc = await conn.create_process(shlex.join(argv), encoding=None)
            try:
                if input:
                    proc.stdin.write(input)
                proc.stdin.write_eof()
                out, err = await asyncio.gather(
                    _read_bounded(proc.stdout, limit), _read_bounded(proc.stderr, limit)
                )
                await proc.wait()
            finally:
                proc.close()
        status = proc.exit_status
        return (-1 if status is None or status < 0 else status), out, err

    async def _call(self, cb: Callback, what: str) -> None:
        try:
            await cb(self)
        except Exception:
            logger.exception("host %s: an %s callback failed", self.name, what)

    def _set(self, state: LinkState, reason: str) -> None:
        changed = (state, reason) != (self.state, self.reason)
        self.state, self.reason = state, reason
        if changed:
            self.since = time.time()
            self._changed.set()
            self._on_state(self)


async def _read_bounded(stream: asyncssh.SSHReader[bytes], limit: int) -> bytes:
    """Up to ``limit`` bytes, then the rest is drained and dropped (the host never
    makes the daemon hold more than ``limit``; the command is not left blocked)."""
    chunks: list[bytes] = []
    kept = 0
    while chunk := await stream.read(65536):
        if kept < limit:
            chunks.append(chunk[: limit - kept])
            kept += len(chunks[-1])
    return b"".join(chunks)


def _why(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "timed out"
    text = str(exc) or type(exc).__name__
    return text.strip().splitlines()[0][:200] if text.strip() else type(exc).__name__
