"""The daemon's SSH client key and the host keys it pins.

The client key is ``<state>/ssh/hosts_client_ed25519``, made on first use (0600). A
host key is kept as one OpenSSH public key line and shown as its SHA256 fingerprint.
"""

from __future__ import annotations

import asyncssh

from hyperhive.core import safefs
from hyperhive.core.errors import InvalidInput
from hyperhive.core.settings import Settings

CLIENT_KEY = "ssh/hosts_client_ed25519"
_KEY_LIMIT = 64 * 1024


def client_key(settings: Settings) -> asyncssh.SSHKey:
    """The daemon's client key for hosts, generated the first time it is needed."""
    root = settings.state_dir
    if safefs.is_regular(root, CLIENT_KEY):
        return asyncssh.import_private_key(safefs.read_regular(root, CLIENT_KEY, _KEY_LIMIT))
    safefs.ensure_dir(root, "ssh", mode=0o700)
    key = asyncssh.generate_private_key("ssh-ed25519", comment="hyperhive-daemon")
    safefs.write_atomic(root, CLIENT_KEY, key.export_private_key(), mode=0o600)
    return key


def public_line(key: asyncssh.SSHKey) -> str:
    """``key``'s public half as one OpenSSH line (for authorized_keys)."""
    return key.export_public_key().decode().strip()


def pin_line(key: asyncssh.SSHKey) -> str:
    """A host key as the ``TYPE BASE64`` line we store (no comment)."""
    kind, blob, *_ = key.export_public_key().decode().split()
    return f"{kind} {blob}"


def load_pinned(line: str) -> asyncssh.SSHKey:
    try:
        return asyncssh.import_public_key(line)
    except (asyncssh.KeyImportError, ValueError) as exc:
        raise InvalidInput(f"not an OpenSSH public key: {exc}") from exc


def fingerprint(key: asyncssh.SSHKey) -> str:
    return key.get_fingerprint("sha256")


def fingerprint_of(line: str) -> str:
    return fingerprint(load_pinned(line)) if line else ""
