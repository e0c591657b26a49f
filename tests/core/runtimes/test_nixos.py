"""The nixos runtime against fake nixos-container / nix / systemctl on PATH (real processes)."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from hyperhive.core.agent_config import default_files, parse_agent_toml, render_etc
from hyperhive.core.client import HiveClient
from hyperhive.core.errors import ContainerError, HyperhiveError, InvalidInput
from hyperhive.core.hive import Hive
from hyperhive.core.models import Role
from hyperhive.core.pty import read_until_eof
from hyperhive.core.runner import ProcessRunner
from hyperhive.core.runtimes.base import AgentSpec, ContainerState
from hyperhive.core.runtimes.nixos import (
    NIX_FLAGS,
    NixosRuntime,
    bind_flags,
    check_nix,
    container_argv,
    exec_argv,
    limits_argv,
    lock_argv,
    nspawn_flags,
    parse_nix_version,
    render_container_conf,
    render_env_file,
)
from hyperhive.core.runtimes.nixos_meta import lock_meta, lock_needed
from hyperhive.core.runtimes.rootfs import UID_RANGE
from hyperhive.core.settings import ContainerSettings, Settings
from tests.nix.conftest import find_nixpkgs_lib, unavailable

REPO = Path(__file__).resolve().parents[3]
EXAMPLE = REPO / "tests" / "nix" / "example-agent.toml"

# One script, linked under every tool name: logs its argv as a JSON line, and plays
# nixos-container well enough (confs in $FAKE_CONTAINERS, "running" markers beside them).
FAKE = r"""
import hashlib, json, os, subprocess, sys, time
from pathlib import Path

tool, args = Path(sys.argv[0]).name, sys.argv[1:]
with open(os.environ["FAKE_LOG"], "a") as log:
    log.write(json.dumps([tool, *args]) + "\n")

def fail(message):
    sys.stderr.write(message + "\n")
    sys.exit(1)

if tool == "nix":
    if args == ["--version"]:
        print("nix (Nix) " + os.environ.get("FAKE_NIX_VERSION", "2.18.1"))
    elif args[-1] == "--help":
        if os.environ.get("FAKE_NIX_NO_LOCK"):
            fail("error: 'lock' is not a recognised command")
    elif args[-3:-1] == ["flake", "lock"]:
        meta = Path(args[-1].removeprefix("path:"))
        lock, mode = meta / "flake.lock", os.environ.get("FAKE_NIX_LOCK", "ok")
        if mode == "fail":
            lock.write_text("half a lo")
            fail("error: cannot fetch input 'hyperhive': network is unreachable")
        elif mode == "hang":
            time.sleep(60)
        elif mode == "garbage":
            lock.write_text("<html>maintenance</html>")
        elif mode == "unpinned":
            lock.write_text(json.dumps({"nodes": {"root": {"inputs": {}}}, "root": "root"}))
        elif mode == "ok":
            # pins the flake.nix it saw, so tests can tell the locks apart
            pin = hashlib.sha256((meta / "flake.nix").read_bytes()).hexdigest()
            nodes = {"hyperhive": {"locked": {"type": "path", "narHash": pin}},
                     "root": {"inputs": {"hyperhive": "hyperhive"}}}
            lock.write_text(json.dumps({"nodes": nodes, "root": "root", "version": 7}) + "\n")
elif tool == "machinectl":
    print("4242")
elif tool == "systemd-run":
    command = args[args.index("--") + 1:]
    sys.exit(subprocess.run(command).returncode)
elif tool == "nixos-container":
    confs = Path(os.environ["FAKE_CONTAINERS"])
    action, name = args[0], args[1] if len(args) > 1 else ""
    conf, up = confs / f"{name}.conf", confs / f"{name}.up"
    if action == "list":
        print("\n".join(sorted(p.stem for p in confs.glob("*.conf"))))
    elif action == "create":
        if conf.exists():
            fail(f"container '{name}' already exists")
        flake = args[args.index("--flake") + 1].partition("#")[0]
        conf.write_text(
            "PRIVATE_NETWORK=1\nHOST_ADDRESS=10.233.1.1\nLOCAL_ADDRESS=10.233.1.2\n"
            f"HOST_BRIDGE=\nHOST_PORT=\nAUTO_START=0\nFLAKE={flake}\n"
        )
    elif not conf.exists():
        if action == "destroy":
            sys.exit(0)
        if action == "status":
            print("gone")
        fail(f"container '{name}' does not exist")
    elif action == "start":
        up.touch()
    elif action in ("stop", "terminate"):
        up.unlink(missing_ok=True)
    elif action == "status":
        print("up" if up.exists() else "down")
    elif action == "destroy":
        conf.unlink()
        up.unlink(missing_ok=True)
    elif action == "run":
        os.execvp(args[3], args[3:])
"""


@dataclass
class Fakes:
    bin: Path
    log: Path
    containers: Path

    def calls(self) -> list[list[str]]:
        """Every argv since the last call, and forget them."""
        if not self.log.exists():
            return []
        lines = self.log.read_text().splitlines()
        self.log.unlink()
        return [json.loads(line) for line in lines]


def _install_fakes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tools: tuple[str, ...]
) -> Fakes:
    bin_dir, containers = tmp_path / "bin", tmp_path / "nixos-containers"
    bin_dir.mkdir()
    containers.mkdir()
    script = bin_dir / "fake.py"
    script.write_text(f"#!{sys.executable}\n{FAKE}")
    script.chmod(0o755)
    for tool in tools:
        (bin_dir / tool).symlink_to(script)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_LOG", str(tmp_path / "calls.log"))
    monkeypatch.setenv("FAKE_CONTAINERS", str(containers))
    return Fakes(bin_dir, tmp_path / "calls.log", containers)


ALL_TOOLS = ("nixos-container", "nix", "systemctl", "machinectl", "systemd-run")


@pytest.fixture
def fakes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Fakes:
    return _install_fakes(tmp_path, monkeypatch, ALL_TOOLS)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        state_dir=tmp_path / "state",
        run_dir=tmp_path / "run",
        runtime="nixos",
        container=ContainerSettings(private_users=False),
    )


def make_runtime(
    settings: Settings, fakes: Fakes, flake: str = "path:/nix/store/hh"
) -> NixosRuntime:
    return NixosRuntime(
        settings,
        ProcessRunner(),
        containers_dir=fakes.containers,
        flake=flake,
        system="x86_64-linux",
    )


def make_spec(
    settings: Settings, name: str = "alice", files: dict[str, bytes] | None = None
) -> AgentSpec:
    role = Role.MANAGER if name == "manager" else Role.AGENT
    applied = settings.applied_dir(name)
    for rel, data in (default_files(name, role) if files is None else files).items():
        (applied / rel).parent.mkdir(parents=True, exist_ok=True)
        (applied / rel).write_bytes(data)
    manager = role is Role.MANAGER
    return AgentSpec(
        name=name,
        role=role,
        socket_dir=settings.socket_dir(name),
        state_dir=settings.agent_state_dir(name),
        creds_dir=settings.creds_dir(name),
        etc_dir=settings.agent_dir(name) / "etc",
        applied_dir=applied,
        env={"HYPERHIVE_INCARNATION": "3", "HYPERHIVE_MODEL": "ignored"},
        agents_root=settings.state_dir / "agents" if manager else None,
        applied_root=settings.state_dir / "applied" if manager else None,
        meta_dir=settings.meta_dir if manager else None,
        memory_max="2G",
        cpu_quota="200%",
    )


def nix_parse(*paths: Path) -> None:
    if shutil.which("nix-instantiate") is None:
        pytest.skip("nix-instantiate is not installed")
    done = subprocess.run(["nix-instantiate", "--parse", *map(str, paths)], capture_output=True)
    assert done.returncode == 0, done.stderr.decode()


def conf_values(conf: Path | str) -> dict[str, str]:
    text = conf.read_text() if isinstance(conf, Path) else conf
    return dict(line.split("=", 1) for line in text.splitlines() if not line.startswith("#"))


# --- pure functions ------------------------------------------------------------------


def test_the_argv_builders_are_plain_data() -> None:
    meta = Path("/var/lib/hyperhive/meta")
    assert container_argv("create", "alice", meta) == [
        "nixos-container", "create", "h-alice", "--flake", "path:/var/lib/hyperhive/meta#h-alice"
    ]  # fmt: skip
    assert container_argv("update", "manager", meta)[2:] == [
        "hm1nd",
        "--flake",
        f"path:{meta}#hm1nd",
    ]
    assert container_argv("stop", "bob") == ["nixos-container", "stop", "h-bob"]
    assert lock_argv(meta) == ["nix", *NIX_FLAGS, "flake", "lock", f"path:{meta}"]
    assert limits_argv("bob", "1G", None) == [
        "systemctl", "set-property", "--runtime", "container@h-bob.service", "MemoryMax=1G"
    ]  # fmt: skip
    assert limits_argv("bob", None, None) is None
    assert exec_argv("bob", ["cat", "/state/notes.md"])[-3:] == ["sh", "cat", "/state/notes.md"]
    with pytest.raises(ValueError):
        container_argv("create", "bob")


def test_a_nix_version_is_read_from_nix_and_lix_banners() -> None:
    assert parse_nix_version("nix (Nix) 2.18.1\n") == (2, 18, 1)
    assert parse_nix_version("nix (Lix, like Nix) 2.91.1") == (2, 91, 1)
    assert parse_nix_version("nix (Nix) 2.3") == (2, 3)
    assert parse_nix_version("what") is None


def test_the_conf_keeps_nixos_container_keys_and_sets_ours() -> None:
    existing = "PRIVATE_NETWORK=1\nHOST_ADDRESS=10.233.1.1\nAUTO_START=1\nMACVLANS=eth0\n"
    shared = conf_values(
        render_container_conf(
            existing, flake="path:/m", flags=["--a", "--b"], private_network=False
        )
    )
    assert shared["PRIVATE_NETWORK"] == "0" and shared["HOST_ADDRESS"] == ""
    assert (shared["AUTO_START"], shared["MACVLANS"], shared["FLAKE"]) == ("0", "eth0", "path:/m")
    assert shared["EXTRA_NSPAWN_FLAGS"] == '"--a --b"'
    private = conf_values(
        render_container_conf(existing, flake="path:/m", flags=[], private_network=True)
    )
    assert (private["PRIVATE_NETWORK"], private["HOST_ADDRESS"]) == ("1", "10.233.1.1")


def test_the_env_file_quotes_values_and_refuses_control_characters() -> None:
    assert (
        render_env_file({"B": 'say "hi" \\ $HOME', "A": ""})
        == 'A=""\nB="say \\"hi\\" \\\\ $HOME"\n'
    )
    with pytest.raises(InvalidInput):
        render_env_file({"A": "two\nlines"})
    with pytest.raises(InvalidInput):
        render_env_file({"A-B": "x"})


def test_an_agent_binds_its_socket_state_creds_and_applied_repo(
    settings: Settings, tmp_path: Path
) -> None:
    spec = make_spec(settings)
    s, a = settings.state_dir, settings.socket_dir("alice")
    assert bind_flags(spec, private_users=False) == [
        f"--bind={a}:/run/hive",
        f"--bind={s}/agents/alice/state:/state",
        f"--bind={s}/agents/alice/creds:/creds",
        f"--bind-ro={s}/applied/alice:/config",
    ]


def test_the_manager_also_binds_agents_applied_and_meta(settings: Settings) -> None:
    spec = make_spec(settings, "manager")
    s = settings.state_dir
    flags = nspawn_flags(spec, uid_base=0x70010000)
    assert flags[:2] == [
        f"--private-users={0x70010000}:{UID_RANGE}",
        "--private-users-ownership=chown",
    ]
    assert flags[-3:] == [
        f"--bind={s}/agents:/agents:idmap",
        f"--bind-ro={s}/applied:/applied",
        f"--bind-ro={s}/meta:/meta",
    ]
    assert f"--bind={s}/agents:/agents" in nspawn_flags(spec, uid_base=None)


def test_a_path_the_conf_cannot_carry_is_refused(settings: Settings, tmp_path: Path) -> None:
    spec = replace(make_spec(settings), state_dir=tmp_path / "with space")
    with pytest.raises(ContainerError, match="cannot bind"):
        bind_flags(spec, private_users=False)


# --- the runtime, through the fakes --------------------------------------------------


async def test_a_container_lives_through_create_start_exec_stop_update_destroy(
    settings: Settings, fakes: Fakes
) -> None:
    runtime = make_runtime(settings, fakes)
    spec = make_spec(settings)
    meta = settings.meta_dir
    flake = f"path:{meta}#h-alice"

    await runtime.create(spec)
    assert fakes.calls() == [
        ["nix", *NIX_FLAGS, "flake", "lock", f"path:{meta}"],
        ["nixos-container", "create", "h-alice", "--flake", flake],
    ]
    assert (await runtime.status("alice")).state is ContainerState.STOPPED
    fakes.calls()

    await runtime.start(spec)
    unit = "container@h-alice.service"
    assert fakes.calls() == [
        ["systemctl", "set-property", "--runtime", unit, "MemoryMax=2G", "CPUQuota=200%"],
        ["nixos-container", "start", "h-alice"],
    ]
    status = await runtime.status("alice")
    assert (status.state, status.pid) == (ContainerState.RUNNING, 4242)
    assert fakes.calls() == [
        ["nixos-container", "status", "h-alice"],
        ["machinectl", "show", "--property=Leader", "--value", "h-alice"],
    ]
    assert [s.name for s in await runtime.list()] == ["alice"]
    assert fakes.calls()[0] == ["nixos-container", "list"]

    done = await runtime.exec("alice", ["cat"], input="to the container")
    assert (done.returncode, done.stdout) == (0, "to the container")
    assert fakes.calls() == [exec_argv("alice", ["cat"])]

    await runtime.stop("alice")
    assert fakes.calls() == [["nixos-container", "stop", "h-alice"]]

    await runtime.create(spec)  # again: an update in place, the lock stays
    assert fakes.calls() == [["nixos-container", "update", "h-alice", "--flake", flake]]

    await runtime.destroy("alice")
    assert fakes.calls() == [["nixos-container", "destroy", "h-alice"]]
    assert (await runtime.status("alice")).state is ContainerState.ABSENT
    assert not (meta / "agents" / "alice").exists()
    assert '"h-alice"' not in (meta / "flake.nix").read_text()


async def test_stop_and_exec_of_an_unknown_container(settings: Settings, fakes: Fakes) -> None:
    runtime = make_runtime(settings, fakes)
    await runtime.stop("ghost")  # nothing to stop
    assert fakes.calls() == []
    with pytest.raises(ContainerError, match="does not exist"):
        await runtime.exec("ghost", ["true"])
    with pytest.raises(ContainerError, match="create it first"):
        await runtime.start(make_spec(settings, "ghost"))


async def test_a_terminal_runs_in_the_container(settings: Settings, fakes: Fakes) -> None:
    runtime = make_runtime(settings, fakes)
    await runtime.create(make_spec(settings))
    fakes.calls()
    pty = await runtime.open_pty("alice", ["sh", "-c", "stty size; test -t 0 && echo on-a-tty"])
    try:
        async with asyncio.timeout(10):
            output = await read_until_eof(pty.fd)
            assert await pty.wait() == 0
    finally:
        os.close(pty.fd)
    assert output.split() == [b"24", b"80", b"on-a-tty"]
    argv = ["sh", "-c", "stty size; test -t 0 && echo on-a-tty"]
    assert fakes.calls() == [["nixos-container", "run", "h-alice", "--", *argv]]


async def test_without_the_hyperhive_flake_nothing_is_built(
    settings: Settings, fakes: Fakes, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HYPERHIVE_FLAKE", raising=False)
    runtime = NixosRuntime(settings, ProcessRunner(), containers_dir=fakes.containers)
    with pytest.raises(ContainerError, match="set HYPERHIVE_FLAKE"):
        await runtime.create(make_spec(settings))
    assert fakes.calls() == [] and not settings.meta_dir.exists()


async def test_the_generated_meta_flake_parses_and_holds_every_agent(
    settings: Settings, fakes: Fakes
) -> None:
    runtime = make_runtime(settings, fakes, flake='path:/nix/store/odd "name" ${x}')
    await runtime.create(make_spec(settings, "manager"))
    files = default_files("bob", "agent") | {
        "scripts/go.json": b"[]",
        "agent.toml": b'driver = "scripted"\nscript = "scripts/go.json"\n',
    }
    del files["prompt.md"]
    await runtime.create(make_spec(settings, "bob", files))
    meta = settings.meta_dir
    text = (meta / "flake.nix").read_text()
    assert '"hm1nd" = hyperhive.lib.mkAgent' in text and '"h-bob" = hyperhive.lib.mkAgent' in text
    assert 'script = (./agents/bob + "/scripts/go.json");' in text
    assert "prompt = ./agents/manager/prompt.md;" in text and "prompt = null;" in text
    assert (meta / "agents" / "bob" / "scripts" / "go.json").read_bytes() == b"[]"
    nix_parse(
        meta / "flake.nix",
        meta / "agents" / "bob" / "agent.nix",
        meta / "agents" / "manager" / "agent.nix",
    )


async def test_the_meta_flake_is_locked_again_only_when_its_inputs_change(
    settings: Settings, fakes: Fakes
) -> None:
    await make_runtime(settings, fakes).create(make_spec(settings, "alice"))
    await make_runtime(settings, fakes).create(make_spec(settings, "bob"))
    locks = lambda: [c for c in fakes.calls() if c[0] == "nix"]  # noqa: E731
    assert len(locks()) == 1
    await make_runtime(settings, fakes, flake="path:/nix/store/newer").create(
        make_spec(settings, "carol")
    )
    assert len(locks()) == 1
    (settings.meta_dir / "flake.lock").unlink()
    await make_runtime(settings, fakes, flake="path:/nix/store/newer").create(
        make_spec(settings, "alice")
    )
    assert len(locks()) == 1


def _locks(fakes: Fakes) -> list[list[str]]:
    return [c for c in fakes.calls() if c[:1] == ["nix"]]


async def test_a_failed_lock_keeps_the_previous_lock_builds_nothing_and_is_tried_again(
    settings: Settings, fakes: Fakes, monkeypatch: pytest.MonkeyPatch
) -> None:
    await make_runtime(settings, fakes).create(make_spec(settings, "alice"))
    lock = settings.meta_dir / "flake.lock"
    before = lock.read_bytes()
    fakes.calls()
    monkeypatch.setenv("FAKE_NIX_LOCK", "fail")
    newer = make_runtime(settings, fakes, flake="path:/nix/store/newer")
    with pytest.raises(ContainerError) as caught:
        await newer.create(make_spec(settings, "bob"))
    assert str(caught.value) == (
        "cannot lock the meta flake for path:/nix/store/newer: `nix flake lock` exited 1: "
        "error: cannot fetch input 'hyperhive': network is unreachable; the previous "
        "flake.lock is kept, and the next deploy locks again"
    )
    assert lock.read_bytes() == before  # not nix's half-written one
    calls = fakes.calls()
    assert [c[0] for c in calls] == ["nix"]  # no nixos-container create from a stale lock
    # flake.nix already names the new input: the lock is still tried again, and again
    with pytest.raises(ContainerError, match="exited 1"):
        await newer.update(make_spec(settings, "alice"))
    assert len(_locks(fakes)) == 1
    monkeypatch.setenv("FAKE_NIX_LOCK", "ok")
    await newer.create(make_spec(settings, "bob"))
    assert len(_locks(fakes)) == 1
    assert lock.read_bytes() != before and (fakes.containers / "h-bob.conf").exists()
    await newer.create(make_spec(settings, "carol"))
    assert _locks(fakes) == []  # locked for these inputs: not again


@pytest.mark.parametrize(
    ("mode", "problem"),
    [
        ("silent", "`nix flake lock` exited 0 but wrote no flake.lock"),
        ("garbage", "`nix flake lock` wrote a flake.lock, but it is not JSON"),
        (
            "unpinned",
            "`nix flake lock` wrote a flake.lock, but its root node does not lock the "
            "`hyperhive` input",
        ),
    ],
)
async def test_a_nix_whose_lock_behaves_differently_is_caught(
    settings: Settings, fakes: Fakes, monkeypatch: pytest.MonkeyPatch, mode: str, problem: str
) -> None:
    monkeypatch.setenv("FAKE_NIX_LOCK", mode)
    runtime = make_runtime(settings, fakes)
    with pytest.raises(ContainerError) as caught:
        await runtime.create(make_spec(settings, "alice"))
    assert problem in str(caught.value) and "there was no lock before" in str(caught.value)
    assert not (settings.meta_dir / "flake.lock").exists()
    assert not (fakes.containers / "h-alice.conf").exists()


async def test_a_hung_lock_is_stopped_and_the_previous_lock_kept(
    settings: Settings, fakes: Fakes, monkeypatch: pytest.MonkeyPatch
) -> None:
    await make_runtime(settings, fakes).create(make_spec(settings, "alice"))
    before = (settings.meta_dir / "flake.lock").read_bytes()
    monkeypatch.setenv("FAKE_NIX_LOCK", "hang")
    started = time.monotonic()
    with pytest.raises(ContainerError, match=r"did not finish within 0\.5 s; the previous"):
        await lock_meta(ProcessRunner(), settings.meta_dir, "path:/nix/store/newer", timeout=0.5)
    assert time.monotonic() - started < 20
    assert (settings.meta_dir / "flake.lock").read_bytes() == before
    assert lock_needed(settings.meta_dir, "path:/nix/store/newer")


async def test_the_operator_sees_a_failed_lock_as_an_event_and_the_agents_reason(
    settings: Settings, fakes: Fakes, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_NIX_LOCK", "fail")
    async with Hive.open(settings, runtime=make_runtime(settings, fakes)) as hive:
        events = hive.events.subscribe(["agent.changed"])
        client = await HiveClient.connect(settings.host_socket)
        try:
            with pytest.raises(HyperhiveError, match="cannot lock the meta flake") as caught:
                await client.call("lifecycle.spawn", name="alice")
            assert "network is unreachable" in str(caught.value)
            [alice] = [
                a for a in (await client.call("agents.list"))["agents"] if a["name"] == "alice"
            ]
        finally:
            await client.close()
    assert alice["state"] != "spawning" and "network is unreachable" in alice["state_reason"]
    changed = []
    while not events.queue.empty():
        changed.append(events.queue.get_nowait().data)
    last = [data for data in changed if data["name"] == "alice"][-1]
    assert last["state"] == alice["state"] and "cannot lock the meta flake" in last["state_reason"]
    assert not (fakes.containers / "h-alice.conf").exists()


async def test_an_invalid_agent_toml_builds_nothing(settings: Settings, fakes: Fakes) -> None:
    spec = make_spec(settings, "alice", {"agent.toml": b"modle = 'x'\n"})
    with pytest.raises(InvalidInput, match="unknown key modle"):
        await make_runtime(settings, fakes).create(spec)
    assert fakes.calls() == []


async def test_the_conf_binds_and_the_harness_env_are_written_at_start(
    settings: Settings, fakes: Fakes
) -> None:
    runtime = make_runtime(settings, fakes)
    spec = make_spec(settings)
    await runtime.create(spec)
    await runtime.start(spec)
    conf = conf_values(fakes.containers / "h-alice.conf")
    assert (
        conf["PRIVATE_NETWORK"] == "0"
        and conf["HOST_ADDRESS"] == ""
        and conf["LOCAL_ADDRESS"] == ""
    )
    assert conf["FLAKE"] == f"path:{settings.meta_dir}"
    assert conf["EXTRA_NSPAWN_FLAGS"] == '"' + " ".join(bind_flags(spec, private_users=False)) + '"'
    env = (spec.socket_dir / "harness.env").read_text().splitlines()
    assert 'HYPERHIVE_SOCKET="/run/hive/hive.sock"' in env
    assert 'HYPERHIVE_INCARNATION="3"' in env and 'HOME="/creds"' in env
    # the model comes from the NixOS system (agent.nix may override agent.toml)
    assert not any(line.startswith("HYPERHIVE_MODEL=") for line in env)


async def test_private_users_map_a_fixed_range_and_chown_the_agent_dirs(
    tmp_path: Path, fakes: Fakes
) -> None:
    if os.geteuid() != 0:
        pytest.skip("chowning to a private uid range needs root")
    settings = Settings(state_dir=tmp_path / "state", run_dir=tmp_path / "run", runtime="nixos")
    runtime = make_runtime(settings, fakes)
    spec = make_spec(settings)
    await runtime.create(spec)
    await runtime.start(spec)
    flags = conf_values(fakes.containers / "h-alice.conf")["EXTRA_NSPAWN_FLAGS"].strip('"').split()
    base = int(flags[0].removeprefix("--private-users=").split(":")[0])
    assert flags[:2] == [f"--private-users={base}:{UID_RANGE}", "--private-users-ownership=chown"]
    for directory in (spec.state_dir, spec.creds_dir, spec.socket_dir):
        assert directory.stat().st_uid == base


async def test_check_nix_names_what_is_wrong(monkeypatch: pytest.MonkeyPatch, fakes: Fakes) -> None:
    runner = ProcessRunner()
    assert await check_nix(runner) == "2.18.1"
    assert fakes.calls() == [["nix", "--version"], ["nix", *NIX_FLAGS, "flake", "lock", "--help"]]
    monkeypatch.setenv("FAKE_NIX_VERSION", "2.3.16")
    with pytest.raises(ContainerError, match=r"nix 2\.3\.16 is too old .* needs nix >= 2\.4"):
        await check_nix(runner)
    monkeypatch.setenv("FAKE_NIX_VERSION", "2.24.0")
    monkeypatch.setenv("FAKE_NIX_NO_LOCK", "1")
    with pytest.raises(
        ContainerError, match="does not understand `nix .* flake lock`.*not a recognised"
    ):
        await check_nix(runner)
    monkeypatch.setenv("PATH", str(fakes.bin / "nowhere"))
    with pytest.raises(ContainerError, match="needs nix on PATH"):
        await check_nix(runner)


async def test_check_nix_accepts_the_installed_nix() -> None:
    if shutil.which("nix") is None:
        pytest.skip("nix is not installed")
    version = await check_nix(ProcessRunner())
    assert parse_nix_version(version) is not None


# --- the meta flake, evaluated by the real nix ---------------------------------------

STUB_FLAKE = """{
  outputs = { self }:
    let
      # the real nixpkgs lib and module system over the NixOS stand-in of tests/nix
      lib = import ./nixpkgs-lib;
      nixos = import ./tests/nix/nixos.nix { inherit lib; };
      real = import ./nix/lib.nix {
        nixpkgs.lib = lib // { nixosSystem = args: nixos.eval args.modules; };
        self.nixosModules.harness-base = { lib, pkgs, ... }: {
          imports = [ ./nix/harness-base.nix ];
          hyperhive.package = lib.mkDefault pkgs.hyperhive;
        };
      };
    in {
      lib.mkAgent = args:
        let
          c = (real.mkAgent args).config;
          etc = lib.filterAttrs (path: _: lib.hasPrefix "hyperhive/" path) c.environment.etc;
        in {
          etc = lib.mapAttrs' (path: file:
            lib.nameValuePair (lib.removePrefix "hyperhive/" path) file.text) etc;
          env = c.systemd.services.hyperhive-harness.environment;
          hostName = c.networking.hostName;
          packages = map (p: p.name) c.environment.systemPackages;
          script = builtins.readFile c.hyperhive.scriptFile;
          prompt = builtins.readFile c.hyperhive.promptFile;
        };
    };
}
"""


@pytest.fixture
def real_nix_fakes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Fakes]:
    if shutil.which("nix") is None:
        pytest.skip("nix is not installed")
    if not os.access("/nix/store", os.W_OK) and not Path("/nix/var/nix/daemon-socket").exists():
        pytest.skip("the nix store is not writable here and no nix daemon runs")
    yield _install_fakes(tmp_path, monkeypatch, ("nixos-container",))


async def test_the_real_nix_locks_and_evaluates_the_meta_flake(
    settings: Settings, real_nix_fakes: Fakes, tmp_path: Path
) -> None:
    nixpkgs_lib = find_nixpkgs_lib()
    if nixpkgs_lib is None:
        unavailable("no nixpkgs lib for the stub hyperhive flake (see tests/nix/conftest.py)")
    assert nixpkgs_lib is not None
    # a hyperhive flake whose mkAgent is the real nix/lib.nix, its nixosSystem the real
    # lib.evalModules over the NixOS stand-in of tests/nix
    stub = tmp_path / "hyperhive"
    shutil.copytree(REPO / "nix", stub / "nix")
    (stub / "tests" / "nix").mkdir(parents=True)
    shutil.copy(REPO / "tests" / "nix" / "nixos.nix", stub / "tests" / "nix")
    shutil.copytree(nixpkgs_lib, stub / "nixpkgs-lib")
    (stub / "flake.nix").write_text(STUB_FLAKE)
    files = default_files("alice", "agent") | {
        "agent.toml": EXAMPLE.read_bytes(),
        "scripts/demo.json": b'[{"send": "bob"}]\n',
    }
    runtime = make_runtime(settings, real_nix_fakes, flake=f"path:{stub}")
    await runtime.create(make_spec(settings, "alice", files))
    assert (settings.meta_dir / "flake.lock").exists()

    ref = f'path:{settings.meta_dir}#nixosConfigurations."h-alice"'
    done = subprocess.run(
        ["nix", *NIX_FLAGS, "eval", "--json", ref], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    got = json.loads(done.stdout)
    want = render_etc(parse_agent_toml(EXAMPLE.read_bytes()))
    assert {name: text.encode() for name, text in got["etc"].items()} == want
    assert got["hostName"] == "h-alice"
    host = socket.gethostname()
    assert got["env"]["GIT_AUTHOR_EMAIL"] == f"alice@{host}.hyperhive"
    assert (got["env"]["HYPERHIVE_AGENT"], got["env"]["HYPERHIVE_DRIVER"]) == ("alice", "scripted")
    assert got["env"]["HYPERHIVE_SCRIPT"].startswith("/nix/store/")
    assert got["script"] == '[{"send": "bob"}]\n'
    assert "git" in got["packages"] and "ripgrep" in got["packages"]  # agent.nix
    assert got["prompt"] == files["prompt.md"].decode()
