"""The SSH front door with the real OpenSSH client: keys, roles, refusals, resizes."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from hyperhive.core.errors import InvalidInput
from hyperhive.core.settings import Settings
from hyperhive.core.ssh import SshFrontDoor, parse_authorized_keys, parse_listen
from tests.support.ssh import keygen

pytestmark = pytest.mark.skipif(
    shutil.which("ssh") is None or shutil.which("ssh-keygen") is None,
    reason="the OpenSSH client (ssh, ssh-keygen) is not installed",
)

PROBE = ["sh", "-c", 'echo "who=$HYPERHIVE_WHO role=$HYPERHIVE_ROLE term=$TERM"; stty size']


@pytest.fixture
async def door(settings: Settings, tmp_path: Path) -> AsyncIterator[tuple[SshFrontDoor, int]]:
    keys = tmp_path / "keys"
    keys.mkdir()
    op = keygen(keys / "op")
    viewer = keygen(keys / "viewer")
    keygen(keys / "stranger")
    settings.ssh_dir.mkdir(parents=True)
    (settings.ssh_dir / "authorized_keys").write_text(
        f"# role key name\noperator {op} alice@laptop\nviewer {viewer} bob@phone\n"
    )
    front = SshFrontDoor(settings, command=PROBE)
    port = await front.start("127.0.0.1", 0)
    yield front, port
    await front.close()


async def ssh(port: int, key: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    argv = [
        "ssh",
        "-tt",
        "-i",
        str(key),
        "-p",
        str(port),
        "-o",
        "StrictHostKeyChecking=no",
        "-o",
        "UserKnownHostsFile=/dev/null",
        "-o",
        "BatchMode=yes",
        "-o",
        "IdentitiesOnly=yes",
        "-o",
        "LogLevel=ERROR",
        *extra,
        "operator@127.0.0.1",
    ]
    proc = await asyncio.create_subprocess_exec(
        *argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    return subprocess.CompletedProcess(argv, proc.returncode or 0, out.decode(), err.decode())


async def test_an_operator_key_gets_a_session_named_after_the_key(
    door: tuple[SshFrontDoor, int], tmp_path: Path
) -> None:
    _, port = door
    done = await ssh(port, tmp_path / "keys" / "op")
    assert "who=ssh:alice@laptop role=operator" in done.stdout, done.stderr


async def test_a_viewer_key_gets_the_viewer_role(
    door: tuple[SshFrontDoor, int], tmp_path: Path
) -> None:
    _, port = door
    done = await ssh(port, tmp_path / "keys" / "viewer")
    assert "role=viewer" in done.stdout


async def test_an_unknown_key_is_refused(door: tuple[SshFrontDoor, int], tmp_path: Path) -> None:
    _, port = door
    done = await ssh(port, tmp_path / "keys" / "stranger")
    assert done.returncode == 255
    assert "Permission denied" in done.stderr


async def test_password_auth_is_refused(door: tuple[SshFrontDoor, int], tmp_path: Path) -> None:
    _, port = door
    done = await ssh(
        port,
        tmp_path / "keys" / "op",
        "-o",
        "PreferredAuthentications=password,keyboard-interactive",
    )
    assert done.returncode == 255
    assert "Permission denied" in done.stderr


async def test_the_host_key_is_generated_once_and_kept(settings: Settings) -> None:
    front = SshFrontDoor(settings, command=PROBE)
    await front.start("127.0.0.1", 0)
    await front.close()
    key = (settings.ssh_dir / "ssh_host_ed25519_key").read_bytes()
    await front.start("127.0.0.1", 0)
    await front.close()
    assert (settings.ssh_dir / "ssh_host_ed25519_key").read_bytes() == key
    assert (settings.ssh_dir / "ssh_host_ed25519_key").stat().st_mode & 0o777 == 0o600


def test_a_bad_authorized_keys_line_is_logged_by_number_and_skipped(
    caplog: pytest.LogCaptureFixture,
) -> None:
    assert parse_authorized_keys("# ok\nadmin ssh-ed25519 AAAA x\n") == []
    assert "authorized_keys:2" in caplog.text and "line skipped" in caplog.text


def test_listen_addresses_parse() -> None:
    assert parse_listen("127.0.0.1:2222") == ("127.0.0.1", 2222)
    assert parse_listen("[::1]:22") == ("::1", 22)
    with pytest.raises(InvalidInput):
        parse_listen("nope")
