"""The remote runtime: agents in nspawn containers on another host, reached over SSH.

Every operation is ``hyperhive host-agent <op>`` run on the host through its one kept-open
SSH connection (a `HostLink`, core/hosts/link.py): the host runs the very same nspawn code
with the agent's files under its own state dir (commands/hostside.py). At each create or
start the agent's applied tree and rendered etc files go over the same connection as a tar
on the command's stdin, unpacked on the host without following any link.

Identity over the wire: the agent's hive socket on the host (bound into its container as
/run/hive/hive.sock) is an SSH remote forward of that agent's own socket on the daemon's
machine (``conn.forward_remote_path``), so the daemon still knows who talks by the socket
it accepted the connection on. Forwards die with the connection and are made again by
the link's ``on_connect`` callback, which also adopts the agents still running there.

While the host is unreachable every call raises `HostUnavailable` (a `Refused`): the crash
watcher skips such an agent instead of calling it crashed and restarting it elsewhere,
and the broker keeps its messages until it is back.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import logging
import os
import shlex
import tarfile
import termios
import tty
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Protocol

import asyncssh

from hyperhive.core.errors import ContainerError, HyperhiveError, NotFound
from hyperhive.core.hosts.link import HostUnavailable
from hyperhive.core.pty import read_chunk, write_all
from hyperhive.core.runner import Completed
from hyperhive.core.runtimes.base import AgentSpec, ContainerState, ContainerStatus
from hyperhive.core.runtimes.supervisor import spec_to_json

logger = logging.getLogger(__name__)

MAX_TREE_BYTES = 64 * 1024 * 1024
_OP_TIMEOUT = 120.0
_READ = 65536


class Link(Protocol):
    """What the remote runtime needs of a host connection (`HostLink` has it)."""

    name: str

    async def connection(self, wait: float = 0) -> asyncssh.SSHClientConnection: ...

    async def run(
        self, argv: Sequence[str], input: bytes | None = None, timeout: float = 60.0
    ) -> tuple[int, bytes, bytes]: ...

    def on_connect(self, callback: Callable[[Any], Awaitable[None]]) -> None: ...

    def on_disconnect(self, callback: Callable[[Any], Awaitable[None]]) -> None: ...


def tree_tar(spec: AgentSpec, limit: int = MAX_TREE_BYTES) -> bytes:
    """A tar of the agent's applied tree (without .git) and etc dir, regular files only.

    Both are written by the daemon, never by an agent; links and special files are left
    out all the same, and the host refuses them anyway.
    """

    def only_plain(info: tarfile.TarInfo) -> tarfile.TarInfo | None:
        parts = info.name.split("/")
        if ".git" in parts or not (info.isreg() or info.isdir()):
            return None
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        return info

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:") as tar:
        for arc, path in (("applied", spec.applied_dir), ("etc", spec.etc_dir)):
            if path.is_dir():
                tar.add(str(path), arcname=arc, recursive=True, filter=only_plain)
            else:
                tar.addfile(_dir_info(arc))
    if buf.tell() > limit:
        raise ContainerError(f"the tree of {spec.name} is over {limit} bytes")
    return buf.getvalue()


def _dir_info(name: str) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = tarfile.DIRTYPE
    info.mode = 0o755
    return info


class RemoteRuntime:
    """Agents on one remote host; the `Runtime` protocol over a `Link`."""

    name = "remote"

    def __init__(self, link: Link, *, host_state_dir: str, python: str = "python3") -> None:
        self.link = link
        self.host = link.name
        self.host_state_dir = host_state_dir
        self.python = python
        # agent -> (socket on the host, its socket on the daemon's machine)
        self._sockets: dict[str, tuple[str, str]] = {}
        # agent -> (the connection it was made on, the listener): one per agent, ever;
        # sshd cancels a forward by its path, so a second one on the same path could
        # make it close the live listener and leave the agent a dead socket
        self._forwards: dict[str, tuple[asyncssh.SSHClientConnection, asyncssh.SSHListener]] = {}
        self._lock = asyncio.Lock()
        # agent -> its socket on the daemon's machine, for every agent placed on this host
        # (set by the router): what a new daemon adopts when it finds them running there
        self.adoptable: Callable[[], Mapping[str, str]] = dict
        link.on_connect(self._reconnected)
        link.on_disconnect(self._disconnected)

    # -- the host-side command -----------------------------------------------------------

    def argv(self, op: str, *args: str) -> list[str]:
        """The host-side command line of one operation."""
        return [
            self.python,
            "-m",
            "hyperhive",
            "--state-dir",
            self.host_state_dir,
            "host-agent",
            "--json",
            op,
            *args,
        ]

    async def call(
        self,
        op: str,
        *args: str,
        request: dict[str, Any] | None = None,
        payload: bytes = b"",
        timeout: float = _OP_TIMEOUT,
    ) -> Any:
        """Run one host-side operation; its JSON answer, or the host's error raised."""
        data = json.dumps(request or {}).encode() + b"\n" + payload
        try:
            rc, out, err = await self.link.run(self.argv(op, *args), input=data, timeout=timeout)
        except HyperhiveError as exc:
            raise HostUnavailable(f"host {self.host}: {exc.message}") from exc
        except (OSError, asyncssh.Error) as exc:
            raise HostUnavailable(f"host {self.host}: {exc}") from exc
        try:
            answer = json.loads(out.decode() or "null")
        except ValueError:
            answer = None
        if rc != 0:
            message = ""
            if isinstance(answer, dict) and isinstance(answer.get("error"), dict):
                message = str(answer["error"].get("message", ""))
                if answer["error"].get("code") == "not_found":
                    raise NotFound(f"host {self.host}: {message}")
            message = message or err.decode(errors="replace").strip()[-500:]
            raise ContainerError(f"host {self.host}: host-agent {op} failed: {message}")
        return answer

    # -- the runtime ---------------------------------------------------------------------

    async def create(self, spec: AgentSpec) -> None:
        await self._prepare("create", spec)

    async def start(self, spec: AgentSpec) -> None:
        # create first: the forward must exist before the harness dials /run/hive/hive.sock
        await self._prepare("create", spec)
        await self.call("start", request={"spec": spec_to_json(spec)})

    async def _prepare(self, op: str, spec: AgentSpec) -> None:
        payload = await asyncio.to_thread(tree_tar, spec)
        answer = await self.call(op, request={"spec": spec_to_json(spec)}, payload=payload)
        local = str(spec.socket_dir / "hive.sock")
        self._sockets[spec.name] = (str(answer["socket"]), local)
        await self._forward(spec.name)

    async def stop(self, name: str, *, timeout: float = 10.0) -> None:
        await self.call("stop", name, "--timeout", str(timeout), timeout=timeout + 60)
        await self._unforward(name)

    async def destroy(self, name: str) -> None:
        await self.call("destroy", name)
        await self._unforward(name)
        self._sockets.pop(name, None)

    async def usage(self, name: str) -> tuple[int, bool]:
        """Bytes ``name`` keeps on the host (links not followed) and whether it has creds."""
        got = await self.call("usage", name)
        return int(got["size"]), bool(got["has_creds"])

    async def purge(self, name: str) -> None:
        """Wipe what the host keeps of ``name`` (destroyed first): config, state, creds."""
        await self.call("purge", name)

    async def status(self, name: str) -> ContainerStatus:
        return _status(await self.call("status", name))

    async def list(self) -> list[ContainerStatus]:
        return [_status(s) for s in await self.call("list")]

    async def exec(
        self,
        name: str,
        argv: Sequence[str],
        *,
        input: str | None = None,
        timeout: float | None = None,
    ) -> Completed:
        request = {"argv": list(argv), "input": input, "timeout": timeout}
        answer = await self.call(
            "exec", name, request=request, timeout=(timeout or _OP_TIMEOUT) + 30
        )
        return Completed(
            argv=list(argv),
            returncode=int(answer["returncode"]),
            stdout=str(answer["stdout"]),
            stderr=str(answer["stderr"]),
        )

    async def open_pty(
        self, name: str, argv: Sequence[str], *, rows: int = 24, cols: int = 80
    ) -> RemotePty:
        try:
            conn = await self.link.connection()
        except HyperhiveError as exc:
            raise HostUnavailable(f"host {self.host}: {exc.message}") from exc
        command = shlex.join(self.argv("pty", name, "--", *argv))
        return await RemotePty.start(conn, command, rows=rows, cols=cols)

    # -- identity over the wire ----------------------------------------------------------

    async def _forward(self, name: str) -> None:
        """Forward ``name``'s host socket to its socket here (once per connection); own it."""
        async with self._lock:
            remote, local = self._sockets[name]
            try:
                conn = await self.link.connection()
            except HyperhiveError as exc:
                raise HostUnavailable(f"host {self.host}: {exc.message}") from exc
            old = self._forwards.get(name)
            if old is not None and old[0] is conn:
                return  # live on this connection already
            # the last forward's socket file (or whatever the agent put at that name) is
            # still there: sshd binds only a free name unless `StreamLocalBindUnlink yes`
            await self.call("clear-socket", name)
            try:
                listener = await conn.forward_remote_path(remote, local)
            except (OSError, asyncssh.Error) as exc:
                raise ContainerError(f"host {self.host}: cannot forward {name}: {exc}") from exc
            self._forwards[name] = (conn, listener)
        await self.call("own-socket", name)

    async def _unforward(self, name: str) -> None:
        async with self._lock:
            forward = self._forwards.pop(name, None)
        if forward is not None:
            forward[1].close()

    def forwarded(self) -> tuple[str, ...]:
        """The agents whose socket is forwarded now."""
        return tuple(sorted(self._forwards))

    async def _reconnected(self, link: object) -> None:
        """After a (re)connect: forward every known agent's socket again; adopt what runs.

        An agent placed on this host that runs there but that this runtime never started
        (the daemon was restarted meanwhile) is adopted: its socket there is forwarded to
        its socket here again, so its harness reaches this daemon on the same path.
        """
        running: dict[str, str] = {}
        try:
            for entry in await self.call("list"):
                if entry.get("state") == ContainerState.RUNNING.value and entry.get("socket"):
                    running[str(entry["name"])] = str(entry["socket"])
        except HyperhiveError as exc:
            logger.warning("host %s: cannot list its agents: %s", self.host, exc)
        for name, local in self.adoptable().items():
            if name not in self._sockets and name in running:
                self._sockets[name] = (running[name], local)
                logger.info("host %s: adopted %s, still running there", self.host, name)
        for name in list(self._sockets):
            try:
                await self._forward(name)
            except HyperhiveError as exc:
                logger.warning("host %s: forward of %s failed: %s", self.host, name, exc)
        logger.info("host %s back: %d agents running there", self.host, len(running))

    async def _disconnected(self, link: object) -> None:
        async with self._lock:
            self._forwards.clear()  # they died with the connection


def _status(data: dict[str, Any]) -> ContainerStatus:
    return ContainerStatus(
        name=str(data["name"]),
        state=ContainerState(data["state"]),
        pid=data.get("pid"),
        detail=str(data.get("detail") or ""),
    )


class RemotePty:
    """An SSH channel with a PTY, seen as a local PTY master ``fd`` (the `PtyProcess`).

    The caller reads and writes ``fd`` exactly as with a local `PtySession`; a pump copies
    between the raw slave side and the channel, where the host's PTY does the terminal work.
    """

    def __init__(self, proc: asyncssh.SSHClientProcess[bytes], master: int, slave: int) -> None:
        self._proc = proc
        self.fd = master
        self._slave = slave
        self._tasks: list[asyncio.Task[None]] = []

    @classmethod
    async def start(
        cls, conn: asyncssh.SSHClientConnection, command: str, *, rows: int, cols: int
    ) -> RemotePty:
        proc = await conn.create_process(
            command, term_type="xterm-256color", term_size=(cols, rows), encoding=None
        )
        master, slave = os.openpty()
        tty.setraw(slave, termios.TCSANOW)  # the remote PTY echoes and edits, not this one
        os.set_blocking(master, False)
        os.set_blocking(slave, False)
        self = cls(proc, master, slave)
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._to_channel()),
            loop.create_task(self._from_channel()),
        ]
        return self

    async def _to_channel(self) -> None:
        while (fd := self._slave) >= 0:
            data = await read_chunk(fd, _READ)
            if not data:
                return
            self._proc.stdin.write(data)

    async def _from_channel(self) -> None:
        try:
            while data := await self._proc.stdout.read(_READ):
                await write_all(self._slave, data)
        except (OSError, asyncssh.Error):
            pass
        finally:
            # the program ended: hang up our side, as a local PTY does when its child exits
            with contextlib.suppress(OSError):
                os.close(self._slave)
            self._slave = -1

    def resize(self, rows: int, cols: int) -> None:
        with contextlib.suppress(OSError, asyncssh.Error):
            self._proc.change_terminal_size(cols, rows)

    async def wait(self) -> int:
        await self._proc.wait_closed()
        status = self._proc.exit_status
        return -1 if status is None else status

    def terminate(self) -> None:
        with contextlib.suppress(OSError, asyncssh.Error):
            self._proc.send_signal("HUP")
        self._proc.close()

    async def close(self, *, timeout: float = 2.0) -> int:
        self.terminate()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await self._proc.wait_closed()
        for task in self._tasks:
            task.cancel()
        for fd in (self.fd, self._slave):
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self.fd = self._slave = -1
        status = self._proc.exit_status
        return -1 if status is None else status


__all__ = ["HostUnavailable", "RemotePty", "RemoteRuntime", "tree_tar"]
