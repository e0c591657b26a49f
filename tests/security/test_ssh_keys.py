"""``authorized_keys`` in OpenSSH's syntax, with the real OpenSSH client.

A line copied from ``~/.ssh/id_ed25519.pub`` logs in as an operator; a viewer is a
standard ``environment=`` option; ``from=`` is honoured; one bad line (or one byte that
is not UTF-8) is skipped and never locks the other operators out.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from hyperhive.core.settings import Settings
from hyperhive.core.ssh import SshFrontDoor

pytestmark = pytest.mark.skipif(
    shutil.which("ssh") is None or shutil.which("ssh-keygen") is None,
    reason="the OpenSSH client (ssh, ssh-keygen) is not installed",
)

PROBE = ["sh", "-c", 'echo "who=$HYPERHIVE_WHO role=$HYPERHIVE_ROLE"']


def keygen(path: Path, comment: str) -> str:
    """A key pair at ``path``; the public key file's line, exactly as OpenSSH wrote it."""
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)],
        check=True,
    )
    return path.with_name(path.name + ".pub").read_text().strip()


async def ssh(port: int, key: Path) -> subprocess.CompletedProcess[str]:
    argv = [
        "ssh", "-tt", "-i", str(key), "-p", str(port),
        "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
        "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-o", "LogLevel=ERROR",
        "operator@127.0.0.1",
    ]  # fmt: skip
    proc = await asyncio.create_subprocess_exec(
        *argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    return subprocess.CompletedProcess(argv, proc.returncode or 0, out.decode(), err.decode())


Start = Callable[[bytes], Awaitable[int]]


@pytest.fixture
def keys(tmp_path: Path) -> dict[str, str]:
    (tmp_path / "keys").mkdir()
    return {
        name: keygen(tmp_path / "keys" / name, f"{name}@laptop")
        for name in ("alice", "bob", "carol")
    }


@pytest.fixture
async def door(settings: Settings) -> AsyncIterator[Start]:
    """Write ``authorized_keys`` bytes, then serve; yields an async ``start(data) -> port``."""
    started: list[SshFrontDoor] = []

    async def start(data: bytes) -> int:
        settings.ssh_dir.mkdir(parents=True, exist_ok=True)
        (settings.ssh_dir / "authorized_keys").write_bytes(data)
        front = SshFrontDoor(settings, command=PROBE)
        started.append(front)
        return await front.start("127.0.0.1", 0)

    yield start
    for front in started:
        await front.close()


async def test_a_line_copied_from_an_openssh_public_key_file_logs_in_as_operator(
    door: Start, keys: dict[str, str], tmp_path: Path
) -> None:
    port = await door(keys["alice"].encode() + b"\n")
    done = await ssh(port, tmp_path / "keys" / "alice")
    assert "who=ssh:alice@laptop role=operator" in done.stdout, done.stderr


async def test_a_viewer_is_marked_with_the_standard_environment_option(
    door: Start, keys: dict[str, str], tmp_path: Path
) -> None:
    lines = f'{keys["alice"]}\nenvironment="HYPERHIVE_ROLE=viewer" {keys["bob"]}\n'
    port = await door(lines.encode())
    done = await ssh(port, tmp_path / "keys" / "bob")
    assert "who=ssh:bob@laptop role=viewer" in done.stdout, done.stderr


async def test_a_bad_line_or_a_byte_that_is_not_utf8_does_not_lock_out_the_others(
    door: Start, keys: dict[str, str], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    data = (
        b"# the operators\n"
        b"ssh-ed25519 AAAAnot-a-key broken@paste\n"
        b"\xff\xfe" + keys["bob"].encode() + b"\n" + keys["alice"].encode() + b"\n"
    )
    port = await door(data)
    with caplog.at_level(logging.ERROR, logger="hyperhive.core.ssh"):
        done = await ssh(port, tmp_path / "keys" / "alice")
    assert "who=ssh:alice@laptop role=operator" in done.stdout, done.stderr
    assert ":2: " in caplog.text and ":3: not UTF-8; line skipped" in caplog.text
    refused = await ssh(port, tmp_path / "keys" / "bob")  # its line was the broken one
    assert refused.returncode == 255 and "Permission denied" in refused.stderr


async def test_from_refuses_a_non_matching_address_and_admits_a_matching_one(
    door: Start, keys: dict[str, str], tmp_path: Path
) -> None:
    lines = f'from="10.0.0.0/8" {keys["alice"]}\nfrom="127.0.0.1,::1" {keys["bob"]}\n'
    port = await door(lines.encode())
    refused = await ssh(port, tmp_path / "keys" / "alice")
    assert refused.returncode == 255 and "Permission denied" in refused.stderr
    admitted = await ssh(port, tmp_path / "keys" / "bob")
    assert "who=ssh:bob@laptop role=operator" in admitted.stdout, admitted.stderr


async def test_an_option_hyperhive_cannot_honour_skips_its_line(
    door: Start, keys: dict[str, str], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # OpenSSH would force this command; hyperhive always runs the TUI, so it refuses
    port = await door(f'command="/bin/false" {keys["carol"]}\n'.encode())
    with caplog.at_level(logging.ERROR, logger="hyperhive.core.ssh"):
        refused = await ssh(port, tmp_path / "keys" / "carol")
    assert refused.returncode == 255
    assert "does not honour: command" in caplog.text


async def test_old_role_prefixed_lines_still_work_with_a_deprecation_warning(
    door: Start, keys: dict[str, str], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    bob = " ".join(keys["bob"].split()[:2])
    port = await door(f"viewer {bob} bob@phone\n".encode())
    with caplog.at_level(logging.WARNING, logger="hyperhive.core.ssh"):
        done = await ssh(port, tmp_path / "keys" / "bob")
    assert "who=ssh:bob@phone role=viewer" in done.stdout, done.stderr
    assert "deprecated" in caplog.text
