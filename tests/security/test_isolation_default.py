"""Isolation by default: with no runtime configured the daemon picks the strongest one.

The process runtime isolates nothing, so it runs only when asked for, and then the
daemon says so at start, in ``daemon.status`` (``isolated: false``) and in
``hyperhive status``.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from hyperhive.core.client import HiveClient
from hyperhive.core.runtimes import resolve_runtime
from hyperhive.core.settings import ContainerSettings, Settings
from tests.support.cli import cli
from tests.support.daemon import DaemonProcess


def _host(tmp_path: Path, *bins: str, userns: int = 15000, nixos: bool = False) -> Path:
    """A fake host root: ``bin/`` with ``bins``, its user-namespace sysctl, maybe NixOS."""
    (tmp_path / "bin").mkdir()
    for name in bins:
        exe = tmp_path / "bin" / name
        exe.write_text("#!/bin/sh\n")
        exe.chmod(0o755)
    sysctl = tmp_path / "proc/sys/user/max_user_namespaces"
    sysctl.parent.mkdir(parents=True)
    sysctl.write_text(f"{userns}\n")
    if nixos:
        (tmp_path / "etc").mkdir()
        (tmp_path / "etc/NIXOS").write_text("")
    return tmp_path


def _pick(settings: Settings, host: Path, *, euid: int = 0) -> tuple[str, str]:
    return resolve_runtime(settings, path=str(host / "bin"), root=host, euid=euid)


def auto(settings: Settings) -> Settings:
    return replace(settings, runtime="auto")


def test_the_default_runtime_is_chosen_by_the_host_not_process() -> None:
    assert Settings(state_dir=Path("/s"), run_dir=Path("/r")).runtime == "auto"


def test_auto_picks_unprivileged_nspawn_where_systemd_nspawn_can_run(
    settings: Settings, tmp_path: Path
) -> None:
    host = _host(tmp_path, "systemd-nspawn", "nsenter")
    name, why = _pick(auto(settings), host)
    assert name == "nspawn"
    assert "unprivileged" in why


def test_auto_picks_nixos_on_a_nixos_host(settings: Settings, tmp_path: Path) -> None:
    host = _host(tmp_path, "systemd-nspawn", "nsenter", "nixos-container", nixos=True)
    assert _pick(auto(settings), host)[0] == "nixos"


@pytest.mark.parametrize(
    ("bins", "userns", "euid", "because"),
    [
        (("systemd-nspawn", "nsenter"), 15000, 1000, "not root"),
        (("nsenter",), 15000, 0, "systemd-nspawn not found"),
        (("systemd-nspawn",), 15000, 0, "nsenter not found"),
        (("systemd-nspawn", "nsenter"), 0, 0, "user namespaces are disabled"),
    ],
)
def test_auto_falls_back_to_process_and_says_why(
    settings: Settings,
    tmp_path: Path,
    bins: tuple[str, ...],
    userns: int,
    euid: int,
    because: str,
) -> None:
    host = _host(tmp_path, *bins, userns=userns)
    name, why = _pick(auto(settings), host, euid=euid)
    assert name == "process"
    assert because in why


def test_privileged_nspawn_needs_no_user_namespaces(settings: Settings, tmp_path: Path) -> None:
    host = _host(tmp_path, "systemd-nspawn", "nsenter", userns=0)
    shared = replace(auto(settings), container=ContainerSettings(private_users=False))
    assert _pick(shared, host) == ("nspawn", "systemd-nspawn is available (privileged containers)")


def test_auto_keeps_the_runtime_existing_containers_were_built_with(
    settings: Settings, tmp_path: Path
) -> None:
    # an upgraded host whose agents run as processes: switching would orphan them
    record = settings.state_dir / "containers" / "h-alice" / "runtime.json"
    record.parent.mkdir(parents=True)
    record.write_text('{"runtime": "process", "spec": {"name": "alice"}}')
    host = _host(tmp_path, "systemd-nspawn", "nsenter")
    name, why = _pick(auto(settings), host)
    assert name == "process"
    assert "existing agents" in why and "set runtime explicitly" in why


def test_a_configured_runtime_is_used_as_is(settings: Settings, tmp_path: Path) -> None:
    host = _host(tmp_path, "systemd-nspawn", "nsenter")
    assert _pick(replace(settings, runtime="process"), host)[0] == "process"


async def test_the_process_runtime_says_plainly_that_agents_are_not_isolated(
    settings: Settings,
) -> None:
    daemon = DaemonProcess(settings)  # the tests' environment asks for process
    await daemon.start()
    try:
        assert "agents run in the process runtime" in daemon.tail()
        assert "NOT isolated" in daemon.tail()
        async with await HiveClient.connect(settings.host_socket) as host:
            status = await host.call("daemon.status")
        assert (status["runtime"], status["isolated"]) == ("process", False)
        shown = cli(settings, "status")
        assert "isolated: NO" in shown.stdout
        assert "not isolated" in shown.stdout
    finally:
        daemon.stop()


@pytest.mark.root
async def test_with_nspawn_present_and_no_runtime_configured_agents_run_unprivileged(
    settings: Settings,
) -> None:
    if os.geteuid() != 0:
        pytest.skip("the nspawn runtime needs root (CI runs this as root)")
    if shutil.which("systemd-nspawn") is None:
        pytest.skip("systemd-nspawn is not installed (apt install systemd-container)")
    settings.state_dir.mkdir(parents=True)
    # the scripted driver needs no login; the file names no runtime
    (settings.state_dir / "hyperhive.toml").write_text('driver = "scripted"\n')
    daemon = DaemonProcess(auto(settings))  # no runtime in its environment either
    await daemon.start()
    host = await HiveClient.connect(settings.host_socket)
    try:
        assert "agents run in the nspawn runtime" in daemon.tail()
        status = await host.call("daemon.status")
        assert (status["runtime"], status["isolated"]) == ("nspawn", True)
        await host.call("lifecycle.spawn", name="alice")
        agents = {a["name"]: a for a in (await host.call("agents.list"))["agents"]}
        assert agents["alice"]["state"] == "running"
        # root inside is an unprivileged uid outside: a user namespace of its own
        argv = ["cat", "/proc/self/uid_map"]
        uid_map = await host.call("lifecycle.exec", name="alice", argv=argv)
        inside, outside, _ = uid_map["stdout"].split()
        assert inside == "0" and int(outside) >= 65536
        for ns in ("pid", "mnt", "user"):
            inside_ns = await host.call(
                "lifecycle.exec", name="alice", argv=["readlink", f"/proc/self/ns/{ns}"]
            )
            assert inside_ns["stdout"].strip() != os.readlink(f"/proc/self/ns/{ns}")
        shown = cli(settings, "status")
        assert "isolated: yes" in shown.stdout
    finally:
        try:
            await host.call("lifecycle.destroy", name="alice", purge=True)
        finally:
            await host.close()
            daemon.stop()
