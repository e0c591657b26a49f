"""The TUI over SSH with the real OpenSSH client: an operator key decides, a viewer key cannot."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from hyperhive.core.client import HiveClient
from hyperhive.core.errors import HyperhiveError
from hyperhive.core.settings import Settings
from tests.support.daemon import DaemonProcess
from tests.support.ssh import free_port, keygen, listening
from tests.support.tmux import Tmux

pytestmark = pytest.mark.skipif(
    shutil.which("ssh") is None or shutil.which("ssh-keygen") is None,
    reason="the OpenSSH client (ssh, ssh-keygen) is not installed",
)

OPERATOR_KEY = "op@e2e"
VIEWER_KEY = "viewer@e2e"


@dataclass(frozen=True)
class Door:
    daemon: DaemonProcess
    host: HiveClient
    port: int
    keys: Path


@pytest.fixture
async def door(settings: Settings, tmp_path: Path) -> AsyncIterator[Door]:
    settings.state_dir.mkdir(parents=True)
    (settings.state_dir / "hyperhive.toml").write_text('driver = "scripted"\n')
    keys = tmp_path / "keys"
    keys.mkdir()
    op, viewer = keygen(keys / "op"), keygen(keys / "viewer")
    settings.ssh_dir.mkdir(parents=True)
    (settings.ssh_dir / "authorized_keys").write_text(
        f"operator {op} {OPERATOR_KEY}\nviewer {viewer} {VIEWER_KEY}\n"
    )
    port = free_port()
    daemon = DaemonProcess(settings, "--ssh", f"127.0.0.1:{port}", swarm=True)
    await daemon.start()
    host = await HiveClient.connect(settings.host_socket)
    try:
        await listening(port)
        yield Door(daemon, host, port, keys)
    finally:
        with contextlib.suppress(HyperhiveError):
            for agent in (await host.call("agents.list"))["agents"]:
                with contextlib.suppress(HyperhiveError):
                    await host.call("lifecycle.kill", name=agent["name"])
        await host.close()
        daemon.stop()


def ssh_tui(door: Door, key: str) -> Tmux:
    return Tmux(
        [
            "ssh", "-tt", "-i", str(door.keys / key), "-p", str(door.port),
            "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
            "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-o", "LogLevel=ERROR",
            "operator@127.0.0.1",
        ],
        cols=160,
        rows=48,
    )  # fmt: skip


async def status_of(host: HiveClient, approval_id: int) -> str:
    return str((await host.call("approvals.get", id=approval_id))["status"])


async def wait_status(
    host: HiveClient, approval_id: int, status: str, timeout: float = 30.0
) -> None:
    try:
        async with asyncio.timeout(timeout):
            while (now := await status_of(host, approval_id)) != status:
                assert now in ("pending", "approved", "building"), now
                await asyncio.sleep(0.1)
    except TimeoutError:
        raise AssertionError(f"approval #{approval_id} never became {status}") from None


async def decisions_by(host: HiveClient, actor: str) -> list[dict[str, Any]]:
    entries = (await host.call("audit.list", limit=200, actor=actor))["entries"]
    return [e for e in entries if str(e.get("action", "")).startswith("approval.")]


async def test_an_operator_key_approves_a_spawn_with_keystrokes_and_the_audit_names_the_key(
    door: Door,
) -> None:
    approval = await door.host.call("approvals.request_spawn", name="web")
    term = ssh_tui(door, "op")
    try:
        await term.wait_for(f"ssh:{OPERATOR_KEY} (operator)", timeout=30)
        await term.wait_for("approvals · 1")
        await term.tab_until("a approve")
        term.keys("a")
        await term.wait_for(f"Approve #{approval['id']}?")
        term.keys("Enter")
        await wait_status(door.host, approval["id"], "deployed")
        term.keys("C-q")
        await term.wait_exit()
    finally:
        term.kill()
    decided = await decisions_by(door.host, f"ssh:{OPERATOR_KEY}")
    assert [(e["action"], e["target"], e["detail"]["approval"]) for e in decided] == [
        ("approval.approve", "web", approval["id"])
    ], decided


async def test_a_viewer_key_sees_the_tui_but_its_approve_key_decides_nothing(
    door: Door,
) -> None:
    approval = await door.host.call("approvals.request_spawn", name="web")
    number = approval["id"]
    term = ssh_tui(door, "viewer")
    try:
        await term.wait_for(f"ssh:{VIEWER_KEY} (viewer)", timeout=30)
        await term.wait_for("approvals · 1")
        # the approval's own page, through the command palette; `a` is approve there
        term.keys("C-p")
        await term.wait_for("Search for commands")
        term.type(f"open approval #{number}")
        await term.wait_for(f"Open approval #{number} spawn for web")
        term.keys("Enter")
        screen = await term.wait_for("vs last approved")
        assert "approve" not in term.footer(), screen
        term.keys("a")
        term.keys("Enter")  # would confirm, had a dialog opened
        term.keys("Escape")
        await term.wait_for("approvals · 1")
        assert f"Approve #{number}?" not in term.screen()
        term.keys("C-q")
        await term.wait_exit()
    finally:
        term.kill()
    assert await status_of(door.host, number) == "pending"
    assert await decisions_by(door.host, f"ssh:{VIEWER_KEY}") == []
