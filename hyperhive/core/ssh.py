"""The SSH front door: the operator TUI served with asyncssh, public-key auth only.

Each session runs its own ``hyperhive tui`` process on a fresh PTY, so one session's
crash or stall never touches another or the daemon. Keys live in
``<state>/ssh/authorized_keys``, one per line, each with a role and a name::

    operator ssh-ed25519 AAAAC3Nza... alice@laptop
    viewer   ssh-ed25519 AAAAC3Nza... bob@phone

A ``viewer`` can look but not decide; every decision made over SSH is audited as
``ssh:<name>``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import asyncssh

from hyperhive.core.errors import InvalidInput
from hyperhive.core.pty import PtySession, read_chunk
from hyperhive.core.settings import Settings

logger = logging.getLogger(__name__)

ROLES = ("operator", "viewer")
HOST_KEY = "ssh_host_ed25519_key"


@dataclass(frozen=True)
class AuthorizedKey:
    role: str
    name: str
    key: asyncssh.SSHKey

    @property
    def fingerprint(self) -> str:
        return str(self.key.get_fingerprint())


def parse_authorized_keys(text: str, *, source: str = "authorized_keys") -> list[AuthorizedKey]:
    """Parse ``<role> <type> <base64> <name>`` lines; a bad line is an error naming it."""
    keys = []
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split(None, 3)
        if len(parts) < 3 or parts[0] not in ROLES:
            raise InvalidInput(
                f"{source}:{n}: expected '<operator|viewer> <key type> <key> [name]'"
            )
        try:
            key = asyncssh.import_public_key(f"{parts[1]} {parts[2]}")
        except (asyncssh.KeyImportError, ValueError) as exc:
            raise InvalidInput(f"{source}:{n}: not a public key: {exc}") from exc
        name = parts[3].strip() if len(parts) == 4 else f"key{n}"
        keys.append(AuthorizedKey(parts[0], name, key))
    return keys


def load_host_key(ssh_dir: Path) -> asyncssh.SSHKey:
    """The daemon's host key, generated on first start."""
    ssh_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = ssh_dir / HOST_KEY
    if not path.exists():
        key = asyncssh.generate_private_key("ssh-ed25519")
        key.write_private_key(str(path))
        os.chmod(path, 0o600)
        key.write_public_key(str(path) + ".pub")
        logger.info("generated SSH host key %s", path)
    return asyncssh.read_private_key(str(path))


def parse_listen(value: str) -> tuple[str, int]:
    """``HOST:PORT`` (or ``[::1]:PORT``) → host, port."""
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) < 65536:
        raise InvalidInput(f"--ssh wants HOST:PORT, not {value!r}")
    return host.strip("[]") or "0.0.0.0", int(port)


class _Server(asyncssh.SSHServer):
    def __init__(self, front: SshFrontDoor) -> None:
        self._front = front
        self._conn: asyncssh.SSHServerConnection | None = None

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        self._conn = conn

    def begin_auth(self, username: str) -> bool:
        return True

    def password_auth_supported(self) -> bool:
        return False

    def kbdint_auth_supported(self) -> bool:
        return False

    def public_key_auth_supported(self) -> bool:
        return True

    def validate_public_key(self, username: str, key: asyncssh.SSHKey) -> bool:
        for entry in self._front.authorized():
            if entry.key.public_data == key.public_data:
                assert self._conn is not None
                self._conn.set_extra_info(hyperhive_key=entry)
                logger.info("ssh: %s (%s) authenticated as %s", entry.name, entry.role, username)
                return True
        logger.warning("ssh: refused key %s for %s", key.get_fingerprint(), username)
        return False


class SshFrontDoor:
    """Serves ``command`` (the TUI by default) on a PTY for every SSH session."""

    def __init__(
        self,
        settings: Settings,
        *,
        command: Sequence[str] | None = None,
        authorized_keys: Path | None = None,
    ) -> None:
        self.settings = settings
        # the NixOS module hands the file in as a systemd credential
        env_keys = os.environ.get("HYPERHIVE_SSH_AUTHORIZED_KEYS")
        self.authorized_keys = authorized_keys or (
            Path(env_keys) if env_keys else settings.ssh_dir / "authorized_keys"
        )
        self.command = (
            list(command)
            if command
            else [
                sys.executable,
                "-m",
                "hyperhive",
                "--state-dir",
                str(settings.state_dir),
                "--run-dir",
                str(settings.run_dir),
                "tui",
            ]
        )
        self._server: asyncssh.SSHAcceptor | None = None
        self.sessions = 0

    def authorized(self) -> list[AuthorizedKey]:
        path = self.authorized_keys
        try:
            return parse_authorized_keys(path.read_text(), source=str(path))
        except FileNotFoundError:
            return []
        except InvalidInput as exc:
            logger.error("ssh: %s", exc)
            return []

    async def start(self, host: str, port: int) -> int:
        """Listen on ``host:port``; return the port (useful with port 0)."""
        key = load_host_key(self.settings.ssh_dir)
        self._server = await asyncssh.create_server(
            lambda: _Server(self),
            host,
            port,
            server_host_keys=[key],
            process_factory=self._session,
            encoding=None,
            line_editor=False,
            allow_scp=False,
            agent_forwarding=False,
            x11_forwarding=False,
        )
        sockets = self._server.sockets
        return int(sockets[0].getsockname()[1]) if sockets else port

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _session(self, process: asyncssh.SSHServerProcess[bytes]) -> None:
        entry: AuthorizedKey | None = process.get_extra_info("hyperhive_key")
        if entry is None:
            process.exit(1)
            return
        if process.term_type is None:
            process.stderr.write(b"hyperhive: allocate a terminal (ssh -t)\r\n")
            process.exit(1)
            return
        self.sessions += 1
        try:
            code = await self._relay(process, entry)
        except Exception:  # the edge: one broken session must not touch the others
            logger.exception("ssh session of %s failed", entry.name)
            code = 1
        finally:
            self.sessions -= 1
        with contextlib.suppress(Exception):
            process.exit(code)

    async def _relay(self, process: asyncssh.SSHServerProcess[bytes], entry: AuthorizedKey) -> int:
        cols, rows = process.term_size[0] or 80, process.term_size[1] or 24
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": os.environ.get("HOME", "/root"),
            "LANG": os.environ.get("LANG", "C.UTF-8"),
            "TERM": process.term_type or "xterm-256color",
            "HYPERHIVE_WHO": f"ssh:{entry.name}",
            "HYPERHIVE_ROLE": entry.role,
        }
        argv = list(self.command)
        if argv[-1] == "tui":
            argv += ["--who", f"ssh:{entry.name}", "--role", entry.role]
        session = await PtySession.start(argv, env=env, rows=rows, cols=cols)

        async def pump_out() -> None:
            while data := await read_chunk(session.fd):
                process.stdout.write(data)
                await process.stdout.drain()

        async def pump_in() -> None:
            while True:
                try:
                    data = await process.stdin.read(65536)
                except asyncssh.TerminalSizeChanged as change:
                    session.resize(change.height, change.width)
                    continue
                if not data:
                    return
                await _write_all(session.fd, data)

        out_task = asyncio.create_task(pump_out())
        in_task = asyncio.create_task(pump_in())
        exit_task = asyncio.ensure_future(session.wait())
        try:
            done, _ = await asyncio.wait(
                {out_task, in_task, exit_task}, return_when=asyncio.FIRST_COMPLETED
            )
            if in_task in done and not process.is_closing():
                # an EOF on stdin is a half-close: keep serving the output
                done, _ = await asyncio.wait(
                    {out_task, exit_task}, return_when=asyncio.FIRST_COMPLETED
                )
            if exit_task not in done:
                session.terminate()  # the client went away
            code = await session.wait()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(out_task, 2)
            return code if code >= 0 else 1
        finally:
            for task in (out_task, in_task):
                task.cancel()
            # no orphans: the whole session goes
            await session.close()


async def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        try:
            view = view[os.write(fd, view) :]
        except BlockingIOError:
            await asyncio.sleep(0.01)
