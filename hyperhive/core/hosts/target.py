"""Host names and ``ssh://USER@ADDR[:PORT]`` urls, validated before anything connects."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from hyperhive.core.errors import InvalidInput

LOCAL = "local"
_NAME_RE = re.compile(r"[a-z][a-z0-9-]{0,31}")
_USER_RE = re.compile(r"[a-z_][a-z0-9_.-]{0,31}")
_HOSTNAME_RE = re.compile(
    r"(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*"
)


def validate_host_name(name: object) -> str:
    """A host name: lowercase letters, digits and dashes, starting with a letter, ≤ 32."""
    if not isinstance(name, str) or not _NAME_RE.fullmatch(name):
        raise InvalidInput(
            f"{name!r} is not a host name (lowercase letters, digits, '-'; a letter first)"
        )
    return name


@dataclass(frozen=True)
class SshTarget:
    """Where a host's sshd listens and whom to log in as."""

    user: str
    addr: str
    port: int = 22

    @property
    def url(self) -> str:
        addr = f"[{self.addr}]" if ":" in self.addr else self.addr
        return f"ssh://{self.user}@{addr}" + ("" if self.port == 22 else f":{self.port}")


def parse_url(url: object) -> SshTarget:
    """``ssh://USER@ADDR[:PORT]`` → `SshTarget`; anything else (a password, a path, a
    query, an option-looking host) is refused."""
    if not isinstance(url, str) or len(url) > 300 or not url.isascii():
        raise InvalidInput(f"{url!r} is not an ssh://USER@ADDR[:PORT] url")
    parts = urlsplit(url)
    bad = InvalidInput(f"{url!r} is not an ssh://USER@ADDR[:PORT] url")
    if parts.scheme != "ssh" or parts.path or parts.query or parts.fragment:
        raise bad
    if parts.password is not None or not parts.username or not parts.hostname:
        raise bad
    try:
        port = 22 if parts.port is None else parts.port
    except ValueError:
        raise bad from None
    user, host = parts.username, parts.hostname
    if not _USER_RE.fullmatch(user) or not 0 < port < 65536:
        raise bad
    try:
        addr = str(ipaddress.ip_address(host))
    except ValueError:
        if not _HOSTNAME_RE.fullmatch(host):
            raise bad from None
        addr = host
    return SshTarget(user, addr, port)
