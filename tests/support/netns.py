"""Test hosts: real OpenSSH servers, each in a network namespace the test made.

``netns_hosts(n, workdir)`` makes ``n`` namespaces (``ip netns add hh-<random>``), a veth
pair from each to the root namespace with a private /30 (``10.231.<k>.1`` on our side,
``10.231.<k>.2`` inside), and starts Debian's ``/usr/sbin/sshd -D`` inside each with its
own host key, ``AuthorizedKeysFile`` pointing at a test file, root login by key only,
stream-local forwarding allowed (``StreamLocalBindUnlink`` left at OpenSSH's default, no:
the daemon clears a stale socket itself) and no PAM. Traffic stays
on links the test made. Everything (sshd, veth, namespace) is removed on exit, also when
the test fails. A test can kill and restart an sshd, or give it a fresh host key.

Skips (saying exactly why) when not root, or ``ip`` or ``sshd`` is missing.
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

SSHD = "/usr/sbin/sshd"
PRIVSEP_DIR = Path("/run/sshd")


def require_netns() -> None:
    """Skip the calling test with the precise missing piece, if any."""
    if os.geteuid() != 0:
        pytest.skip("netns test hosts need root (ip netns add)")
    if shutil.which("ip") is None:
        pytest.skip("netns test hosts need iproute2's `ip`")
    if not os.access(SSHD, os.X_OK):
        pytest.skip(f"netns test hosts need OpenSSH's server at {SSHD} (openssh-server)")
    if shutil.which("ssh-keygen") is None:
        pytest.skip("netns test hosts need ssh-keygen (openssh-client)")


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=10)


def _used_subnets() -> set[int]:
    out = subprocess.run(
        ["ip", "-4", "-o", "addr"], capture_output=True, text=True, timeout=10
    ).stdout
    return {int(p.split(".")[2]) for p in out.split() if p.startswith("10.231.")}


# `ip netns exec` gives sshd its own mount namespace: there the runner's ~/.bashrc (which
# bash sources for every ssh command: pyenv init, up to a 60 s rehash lock) is an empty
# file, so a test host's root account is as plain as a fresh machine's.
_CLEAN_HOME_THEN_SSHD = (
    'if [ -f /root/.bashrc ]; then mount --bind "$1" /root/.bashrc || exit 1; fi; '
    'exec "$2" -D -e -f "$3"'
)


class SshHost:
    """One namespace with a veth link and an sshd listening at ``addr:port`` inside it."""

    def __init__(self, workdir: Path, k: int, *, port: int = 22) -> None:
        tag = uuid.uuid4().hex[:6]
        self.netns = f"hh-{tag}"
        self.veth = f"hh{tag}"  # our end; the namespace end is "<veth>p"
        self.gateway = f"10.231.{k}.1"
        self.addr = f"10.231.{k}.2"
        self.port = port
        self.dir = workdir / self.netns
        self.dir.mkdir(parents=True)
        self.host_key = self.dir / "ssh_host_ed25519_key"
        self.authorized_keys = self.dir / "authorized_keys"
        self.authorized_keys.touch(mode=0o600)
        self.config = self.dir / "sshd_config"
        self.pidfile = self.dir / "sshd.pid"
        self.log = self.dir / "sshd.log"
        self.empty_rc = self.dir / "empty_bashrc"
        self.empty_rc.touch()
        self.set_env: dict[str, str] = {}
        self.proc: subprocess.Popen[bytes] | None = None
        self._made = False

    # -- setup / teardown -------------------------------------------------

    def create(self) -> None:
        _ip("netns", "add", self.netns)
        self._made = True
        _ip("link", "add", self.veth, "type", "veth", "peer", "name", f"{self.veth}p")
        _ip("link", "set", f"{self.veth}p", "netns", self.netns)
        _ip("addr", "add", f"{self.gateway}/30", "dev", self.veth)
        _ip("link", "set", self.veth, "up")
        _ip("-n", self.netns, "addr", "add", f"{self.addr}/30", "dev", f"{self.veth}p")
        _ip("-n", self.netns, "link", "set", f"{self.veth}p", "up")
        _ip("-n", self.netns, "link", "set", "lo", "up")
        self.new_host_key()

    def destroy(self) -> None:
        self.stop()
        if self._made:
            with contextlib.suppress(subprocess.SubprocessError):
                _ip("link", "del", self.veth)
            with contextlib.suppress(subprocess.SubprocessError):
                _ip("netns", "del", self.netns)
            self._made = False

    # -- what a test does -------------------------------------------------

    @property
    def url(self) -> str:
        port = "" if self.port == 22 else f":{self.port}"
        return f"ssh://root@{self.addr}{port}"

    def authorize(self, public_key_line: str) -> None:
        """Let the holder of this OpenSSH public key log in as root."""
        with self.authorized_keys.open("a") as f:
            f.write(public_key_line.strip() + "\n")

    def new_host_key(self) -> str:
        """Give the server a fresh ed25519 host key (takes effect at the next start)."""
        for p in (self.host_key, self.host_key.with_suffix(".pub")):
            p.unlink(missing_ok=True)
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(self.host_key)],
            check=True,
            capture_output=True,
            timeout=30,
        )
        return self.public_host_key()

    def public_host_key(self) -> str:
        """The server's host key as an OpenSSH public key line (``ssh-ed25519 AAAA…``)."""
        kind, blob, *_ = self.host_key.with_suffix(".pub").read_text().split()
        return f"{kind} {blob}"

    def start(self, timeout: float = 10.0) -> None:
        """Start sshd in the namespace and wait until it accepts TCP connections."""
        PRIVSEP_DIR.mkdir(mode=0o755, exist_ok=True)
        self.config.write_text(self._config_text())
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                # nsenter + unshare, not `ip netns exec`: that one also remounts /sys,
                # where /sys/fs/cgroup is then missing and nspawn (run by the host-side
                # command) cannot start containers; the mount namespace is only for the
                # empty .bashrc
                [
                    "nsenter",
                    f"--net=/run/netns/{self.netns}",
                    "unshare",
                    "--mount",
                    "--propagation",
                    "slave",
                    "sh",
                    "-c",
                    _CLEAN_HOME_THEN_SSHD,
                    "sh",
                ]
                + [str(self.empty_rc), SSHD, str(self.config)],
                stdout=log,
                stderr=log,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while not self._listening():
            if self.proc.poll() is not None:
                raise RuntimeError(f"sshd exited {self.proc.returncode}: {self.tail()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"sshd never listened on {self.addr}: {self.tail()}")
            time.sleep(0.05)

    def stop(self) -> None:
        """Kill sshd and every process in the namespace (its sessions call setsid, so a
        process group is not enough): open connections drop, as when a host goes down."""
        if self.proc is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
            self.proc = None
        if self._made:
            self._kill_namespace_processes()
        self.pidfile.unlink(missing_ok=True)

    def _kill_namespace_processes(self) -> None:
        for _ in range(50):
            out = subprocess.run(
                ["ip", "netns", "pids", self.netns], capture_output=True, text=True, timeout=10
            ).stdout.split()
            if not out:
                return
            for pid in out:
                with contextlib.suppress(ProcessLookupError, ValueError):
                    os.kill(int(pid), signal.SIGKILL)
            time.sleep(0.05)

    def cut(self) -> None:
        """Take the link down (sshd keeps running): packets vanish, nothing is closed."""
        _ip("link", "set", self.veth, "down")

    def mend(self) -> None:
        _ip("link", "set", self.veth, "up")

    def restart(self) -> None:
        self.stop()
        self.start()

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""

    # -- helpers ------------------------------------------------------------

    def _listening(self) -> bool:
        try:
            with socket.create_connection((self.addr, self.port), timeout=0.5) as s:
                return s.recv(4).startswith(b"SSH-")
        except OSError:
            return False

    def _config_text(self) -> str:
        lines = [
            f"ListenAddress {self.addr}:{self.port}",
            f"HostKey {self.host_key}",
            f"AuthorizedKeysFile {self.authorized_keys}",
            f"PidFile {self.pidfile}",
            "PermitRootLogin prohibit-password",
            "PubkeyAuthentication yes",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "UsePAM no",
            "StrictModes no",
            "AllowStreamLocalForwarding yes",
            # sshd checks remote unix-socket forwards against AllowTcpForwarding too:
            # "remote" lets the daemon forward agents' hive sockets; PermitListen none
            # still refuses every remote TCP listener
            "AllowTcpForwarding remote",
            "PermitListen none",
            "X11Forwarding no",
            "MaxSessions 100",
            "MaxStartups 100:30:200",
            "Subsystem sftp internal-sftp",
            "LogLevel VERBOSE",
        ]
        if self.set_env:
            lines.append("SetEnv " + " ".join(f"{k}={v}" for k, v in self.set_env.items()))
        return "\n".join(lines) + "\n"


@contextlib.contextmanager
def netns_hosts(n: int, workdir: Path, *, start: bool = True) -> Iterator[list[SshHost]]:
    """``n`` fresh namespaces, each with a running sshd; all removed on exit."""
    require_netns()
    hosts: list[SshHost] = []
    try:
        used = _used_subnets()
        free = [k for k in range(256) if k not in used]
        for k in random.sample(free, n):
            host = SshHost(workdir, k)
            hosts.append(host)
            host.create()
            if start:
                host.start()
        yield hosts
    finally:
        for host in hosts:
            host.destroy()
