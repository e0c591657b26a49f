"""The SSH front door: the operator TUI served with asyncssh, public-key auth only.

Each session runs its own ``hyperhive tui`` process on a fresh PTY, so one session's
crash or stall never touches another or the daemon. Keys live in
``<state>/ssh/authorized_keys`` in OpenSSH's own syntax, read by asyncssh's parser::

    ssh-ed25519 AAAAC3Nza... alice@laptop
    environment="HYPERHIVE_ROLE=viewer",from="10.0.0.0/8" ssh-ed25519 AAAAC3Nza... bob@phone

A line copied from ``~/.ssh/id_ed25519.pub`` is an operator; a viewer is marked with
``environment="HYPERHIVE_ROLE=viewer"`` and can look but not decide; ``from=`` limits
the addresses a key may come from. The key's comment names the session: every decision
made over SSH is audited as ``ssh:<name>``. The file is read line by line on every
login: a line that does not parse (or is not UTF-8) is logged and skipped, never a
reason to lock the other keys out. The old role-prefixed lines (``viewer ssh-ed25519
AAAA... bob``) are still read, with a deprecation warning.
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
from hyperhive.core.safetext import terminal_safe
from hyperhive.core.settings import Settings

logger = logging.getLogger(__name__)

ROLES = ("operator", "viewer")
HOST_KEY = "ssh_host_ed25519_key"
ROLE_VARIABLE = "HYPERHIVE_ROLE"
MAX_KEYS_BYTES = 1 << 20
MAX_NAME_CHARS = 60  # "ssh:" + name fits session.hello's 64
# options a line may carry: the ones hyperhive honours, and restrictions it always applies
_KNOWN_OPTIONS = frozenset(
    {
        "from",
        "environment",
        "restrict",
        "no-port-forwarding",
        "no-agent-forwarding",
        "no-x11-forwarding",
        "no-user-rc",
        "no-touch-required",
        "pty",
    }
)


@dataclass(frozen=True)
class AuthorizedKey:
    """One usable line of ``authorized_keys``: its key and name, and asyncssh's parse of it."""

    name: str
    key: asyncssh.SSHKey
    entry: asyncssh.SSHAuthorizedKeys  # this line alone, options and all
    line: int = 0

    @property
    def fingerprint(self) -> str:
        return str(self.key.get_fingerprint())

    def admit(self, key: asyncssh.SSHKey, addr: str) -> str | None:
        """The role of ``key`` coming from ``addr`` by this line, or None (``from=`` too).

        The role is the line's ``environment="HYPERHIVE_ROLE=..."`` as asyncssh reads it:
        ``operator`` when absent, ``viewer`` for anything but ``operator``.
        """
        options = self.entry.validate(key, addr, addr)
        if options is None:
            return None
        env = options.get("environment")
        wanted = env.get(ROLE_VARIABLE, "operator") if isinstance(env, dict) else "operator"
        return "operator" if wanted == "operator" else "viewer"


def _options_end(line: str) -> int:
    """Where the key starts in an OpenSSH line with options (the first unquoted blank)."""
    quoted = escaped = False
    for idx, ch in enumerate(line):
        if escaped:
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == '"':
            quoted = not quoted
        elif ch in " \t" and not quoted:
            return idx
    return len(line)


def _option_names(options: str) -> set[str]:
    """The names in an options field (``from="a,b",restrict`` → from, restrict)."""
    names, option, quoted = set(), "", False
    for ch in options + ",":
        if ch == '"':
            quoted = not quoted
        elif ch == "," and not quoted:
            names.add(option.split("=", 1)[0].strip().lower())
            option = ""
        else:
            option += ch
    return names


def _legacy(line: str) -> str | None:
    """A role-prefixed line (``viewer ssh-ed25519 AAAA... bob``) in OpenSSH syntax."""
    role, _, rest = line.partition(" ")
    if role in ROLES and rest.strip():
        return f'environment="{ROLE_VARIABLE}={role}" {rest.strip()}'
    return None


def _key_after_options(line: str) -> asyncssh.SSHKey:
    """The key of a line that starts with options, once they are all ones we honour."""
    end = _options_end(line)
    names = _option_names(line[:end])
    unknown = sorted(names - _KNOWN_OPTIONS)
    if unknown:
        raise ValueError(f"options hyperhive does not honour: {', '.join(unknown)}")
    if "restrict" in names and "pty" not in names:
        raise ValueError("'restrict' without 'pty' forbids the terminal the TUI needs")
    return asyncssh.import_public_key(line[end:].strip())


def _parse_line(line: str, n: int) -> AuthorizedKey:
    """One line → its key; raises ValueError (KeyImportError is one) saying what is wrong."""
    entry = asyncssh.import_authorized_keys(line)  # asyncssh's own parser, options and all
    try:
        key = asyncssh.import_public_key(line)
    except (asyncssh.KeyImportError, ValueError):
        key = _key_after_options(line)
    comment = key.get_comment() or f"key{n}"
    name = terminal_safe(" ".join(comment.split()), newlines=False)[:MAX_NAME_CHARS]
    return AuthorizedKey(name, key, entry, n)


def parse_authorized_keys(
    data: bytes | str, *, source: str = "authorized_keys"
) -> list[AuthorizedKey]:
    """Every usable key of an ``authorized_keys`` file, read line by line.

    A line that is not UTF-8, not a key, or asks for an option hyperhive cannot honour
    (``command=``, ``permitopen=``, ``cert-authority``, ``no-pty``, ...) is logged with
    its number and skipped; the other lines still work.
    """
    raw = data.encode() if isinstance(data, str) else data
    keys = []
    for n, chunk in enumerate(raw.splitlines(), 1):
        try:
            line = chunk.decode().strip()
        except UnicodeDecodeError:
            logger.error("ssh: %s:%d: not UTF-8; line skipped", source, n)
            continue
        if not line or line.startswith("#"):
            continue
        legacy = _legacy(line)
        if legacy is not None:
            logger.warning(
                "ssh: %s:%d: '<role> <key>' lines are deprecated; write the key as OpenSSH "
                'does (a viewer adds environment="%s=viewer" before it)',
                source,
                n,
                ROLE_VARIABLE,
            )
            line = legacy
        try:
            keys.append(_parse_line(line, n))
        except (asyncssh.KeyImportError, ValueError) as exc:
            logger.error("ssh: %s:%d: %s; line skipped", source, n, terminal_safe(str(exc)))
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


@dataclass(frozen=True)
class Session:
    """Who an authenticated SSH connection is: the key's name and the role its line gives."""

    name: str
    role: str


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
        assert self._conn is not None
        peer = self._conn.get_extra_info("peername") or ("", 0)
        addr = str(peer[0])
        for entry in self._front.authorized():
            role = entry.admit(key, addr)
            if role is not None:
                self._conn.set_extra_info(hyperhive_session=Session(entry.name, role))
                logger.info(
                    "ssh: %s (%s) from %s authenticated as %s",
                    entry.name,
                    role,
                    addr,
                    terminal_safe(username, newlines=False),
                )
                return True
        logger.warning(
            "ssh: refused key %s from %s for %s",
            key.get_fingerprint(),
            addr,
            terminal_safe(username, newlines=False),
        )
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
        """The keys as the file says now (read on every login, so edits apply at once)."""
        path = self.authorized_keys
        try:
            with open(path, "rb") as fh:
                data = fh.read(MAX_KEYS_BYTES + 1)
        except FileNotFoundError:
            return []
        except OSError as exc:
            logger.error("ssh: cannot read %s: %s", path, exc.strerror)
            return []
        if len(data) > MAX_KEYS_BYTES:
            logger.error("ssh: %s is over %d bytes; reading the start", path, MAX_KEYS_BYTES)
            data = data[:MAX_KEYS_BYTES]
        return parse_authorized_keys(data, source=str(path))

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
        entry: Session | None = process.get_extra_info("hyperhive_session")
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

    async def _relay(self, process: asyncssh.SSHServerProcess[bytes], entry: Session) -> int:
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
