"""OpenSSH keys and loopback ports for the tests of the SSH front door."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import subprocess
from pathlib import Path


def keygen(path: Path) -> str:
    """Make a key pair at ``path``; return the public key's ``<type> <base64>``."""
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)
    return " ".join(path.with_name(path.name + ".pub").read_text().split()[:2])


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def listening(port: int, timeout: float = 20.0) -> None:
    """Wait until something accepts connections on loopback ``port``."""
    async with asyncio.timeout(timeout):
        while True:
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", port)
            except OSError:
                await asyncio.sleep(0.05)
                continue
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
            return
