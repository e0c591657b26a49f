"""``hyperhive host-agent``: the nspawn runtime's operations, run on a remote host over SSH.

The daemon's remote runtime (core/runtimes/remote.py) calls this hidden verb through the
host's one SSH connection; it does exactly what the local nspawn runtime does (the very
same `NspawnRuntime`, same argv, same limits), with every agent's files under the host's
own state dir (``--state-dir``): ``<state>/agents/<name>/{run,state,creds,etc,applied}``.
Input is JSON on stdin (one line; ``create`` follows it with a tar of the agent's
``applied/`` and ``etc/`` trees), output is JSON on stdout (``--json``).

The daemon's paths in a spec are never used here: the host decides where things live, so
a daemon cannot make the host write outside the agent's dir. The tar is unpacked member by
member through safefs (regular files and directories only, no link followed, bounded).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import stat
import sys
import tarfile
from dataclasses import replace
from pathlib import Path
from typing import Any

from hyperhive.commands import Context, Output, Verb
from hyperhive.core import safefs
from hyperhive.core.errors import ContainerError, HyperhiveError, InvalidInput, Refused
from hyperhive.core.models import Role
from hyperhive.core.names import validate_agent_name
from hyperhive.core.runtimes.base import AgentSpec, ContainerState, ContainerStatus
from hyperhive.core.runtimes.supervisor import spec_from_json
from hyperhive.core.safefs import dir_size, has_entries
from hyperhive.core.settings import load_settings

OPS = (
    "create",
    "start",
    "clear-socket",
    "usage",
    "purge",
    "own-socket",
    "stop",
    "destroy",
    "status",
    "list",
    "exec",
    "pty",
)
MAX_INPUT = 64 * 1024 * 1024  # the applied tree and etc files of one agent
MAX_MEMBERS = 10_000
TREES = ("applied", "etc")


def host_paths(state_dir: Path, name: str) -> dict[str, Path]:
    """Where an agent's files live on this host."""
    base = state_dir / "agents" / name
    return {
        "base": base,
        "socket_dir": base / "run",
        "state_dir": base / "state",
        "creds_dir": base / "creds",
        "etc_dir": base / "etc",
        "applied_dir": base / "applied",
    }


def host_spec(state_dir: Path, data: dict[str, Any]) -> AgentSpec:
    """The daemon's spec with this host's paths; the manager never runs remotely."""
    spec = spec_from_json(data)
    if spec.role is Role.MANAGER:
        raise Refused("the manager runs on the daemon's machine only")
    validate_agent_name(spec.name)
    paths = host_paths(state_dir, spec.name)
    return replace(
        spec,
        socket_dir=paths["socket_dir"],
        state_dir=paths["state_dir"],
        creds_dir=paths["creds_dir"],
        etc_dir=paths["etc_dir"],
        applied_dir=paths["applied_dir"],
        agents_root=None,
        applied_root=None,
        meta_dir=None,
    )


def unpack(tar_bytes: bytes, state_dir: Path, name: str) -> int:
    """Replace ``base/applied`` and ``base/etc`` with the tar's trees; returns files written.

    Only regular files and directories under ``applied/`` or ``etc/`` are taken; every
    write goes through safefs (no link followed at any level).
    """
    state_dir.mkdir(parents=True, exist_ok=True)
    safefs.ensure_dir(state_dir, Path("agents", name), mode=0o755)
    base = host_paths(state_dir, name)["base"]
    written = 0
    with tarfile.open(fileobj=io.BytesIO(tar_bytes), mode="r:") as tar:
        members = tar.getmembers()
        if len(members) > MAX_MEMBERS:
            raise InvalidInput(f"the tree holds more than {MAX_MEMBERS} entries")
        for tree in TREES:
            staged = f".{tree}.new"
            _clear(base, staged)
            safefs.ensure_dir(base, staged, mode=0o755)
        for member in members:
            parts = Path(member.name).parts
            if not parts or parts[0] not in TREES or member.name.startswith("/"):
                raise InvalidInput(f"unexpected entry {member.name!r} in the tree")
            if any(p in ("..", ".", "") for p in parts):
                raise InvalidInput(f"unsafe entry {member.name!r} in the tree")
            rel = Path(f".{parts[0]}.new", *parts[1:])
            if member.isdir():
                safefs.ensure_dir(base, rel, mode=0o755)
            elif member.isreg():
                source = tar.extractfile(member)
                assert source is not None
                mode = 0o755 if member.mode & 0o111 else 0o644
                safefs.write_atomic(base, rel, source.read(), mode)
                written += 1
            else:
                raise InvalidInput(f"{member.name!r} is not a regular file or directory")
    for tree in TREES:
        _swap(base, f".{tree}.new", tree)
    return written


def _clear(base: Path, name: str) -> None:
    try:
        st = os.lstat(base / name)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(st.st_mode):
        shutil.rmtree(base / name)  # rmtree never follows a link
    else:
        os.unlink(base / name)


def _swap(base: Path, staged: str, final: str) -> None:
    """Put ``staged``'s entries into ``final`` in place (a running container binds it)."""
    safefs.ensure_dir(base, final, mode=0o755)
    for entry in os.listdir(base / final):
        _clear(base / final, entry)
    for entry in os.listdir(base / staged):
        os.rename(base / staged / entry, base / final / entry)
    os.rmdir(base / staged)


def status_json(status: ContainerStatus) -> dict[str, Any]:
    return {
        "name": status.name,
        "state": str(status.state),
        "pid": status.pid,
        "detail": status.detail,
    }


def read_request(limit: int = MAX_INPUT) -> tuple[dict[str, Any], bytes]:
    """The JSON line on stdin, and whatever bytes follow it (a tar, or nothing)."""
    raw = sys.stdin.buffer.read(limit + 1)
    if len(raw) > limit:
        raise InvalidInput(f"the request is over {limit} bytes")
    line, _, rest = raw.partition(b"\n")
    data = json.loads(line or b"{}")
    if not isinstance(data, dict):
        raise InvalidInput("the request is not a JSON object")
    return data, rest


async def run(ctx: Context) -> Output:
    """One operation; a failure of the host's file system is answered as an error too."""
    try:
        return await _run(ctx)
    except HyperhiveError:
        raise
    except OSError as exc:
        raise ContainerError(f"host-agent {ctx.args.op}: {exc}") from exc
    except (KeyError, ValueError, TypeError) as exc:
        raise InvalidInput(f"host-agent {ctx.args.op}: malformed request: {exc}") from exc


async def _run(ctx: Context) -> Output:
    from hyperhive.core.runner import ProcessRunner
    from hyperhive.core.runtimes.nspawn import NspawnRuntime

    args = ctx.args
    settings = replace(load_settings(args.config, state_dir=args.state_dir), runtime="nspawn")
    runtime = NspawnRuntime(settings, ProcessRunner())
    op = args.op
    if op == "list":
        return [
            status_json(s)
            | {"socket": str(host_paths(settings.state_dir, s.name)["socket_dir"] / "hive.sock")}
            for s in await runtime.list()
        ], ""
    if op in ("create", "start"):
        data, tar_bytes = read_request()
        spec = host_spec(settings.state_dir, data["spec"])
        files = unpack(tar_bytes, settings.state_dir, spec.name) if tar_bytes else 0
        await (runtime.create(spec) if op == "create" else runtime.start(spec))
        status = await runtime.status(spec.name)
        socket = spec.socket_dir / "hive.sock"
        return {"socket": str(socket), "files": files, "status": status_json(status)}, ""
    name = validate_agent_name(args.name or "")
    if op == "usage":
        return usage(settings.state_dir, name), ""
    if op == "purge":
        if (await runtime.status(name)).state is ContainerState.RUNNING:
            raise Refused(f"{name} is running on this host: destroy it first")
        purge(settings.state_dir, name)
        return {"purged": name}, ""
    if op == "clear-socket":
        runtime._require(name)  # only an agent this host runs
        clear_socket(settings.state_dir, name)
        return {"cleared": name}, ""
    if op == "own-socket":
        return {"owned": _own_socket(runtime, name)}, ""
    if op == "stop":
        await runtime.stop(name, timeout=args.timeout)
        return status_json(await runtime.status(name)), ""
    if op == "destroy":
        await runtime.destroy(name)
        return {"destroyed": name}, ""
    if op == "status":
        return status_json(await runtime.status(name)), ""
    if op == "exec":
        data, _ = read_request()
        done = await runtime.exec(
            name,
            [str(a) for a in data["argv"]],
            input=data.get("input"),
            timeout=data.get("timeout"),
        )
        return {"returncode": done.returncode, "stdout": done.stdout, "stderr": done.stderr}, ""
    if op == "pty":
        # the SSH channel's PTY is our stdin/out: become nsenter, as the local runtime's
        # PTY child does (same argv, same cgroups)
        argv = args.argv[1:] if args.argv[:1] == ["--"] else args.argv
        full = await runtime._inside(name, argv, {"TERM": os.environ.get("TERM", "xterm")})
        sys.stdout.flush()
        os.execvpe(full[0], full, runtime._host_env())
    raise InvalidInput(f"unknown host-agent op {op!r}")


def usage(state_dir: Path, name: str) -> dict[str, Any]:
    """Bytes ``name`` keeps here and whether it has creds (no link followed, walk bounded)."""
    paths = host_paths(state_dir, name)
    return {"size": dir_size(paths["base"]), "has_creds": has_entries(paths["creds_dir"])}


def purge(state_dir: Path, name: str) -> None:
    """Remove all ``name`` keeps here (config, state, creds), following no link in it."""
    base = host_paths(state_dir, name)["base"]
    safefs.remove(base.parent, base.name)


def clear_socket(state_dir: Path, name: str) -> None:
    """Remove what is at ``name``'s socket name (a stale socket, or what the agent put there).

    The socket dir is the agent's: the entry is unlinked, never followed nor opened.
    """
    safefs.remove(host_paths(state_dir, name)["socket_dir"], "hive.sock")


def _own_socket(runtime: Any, name: str) -> bool:
    """Give the forwarded socket to the container's root (sshd binds it 0600 as root).

    The socket dir is the agent's: opened without following links, the socket changed
    only if it is one (never a link or a file the agent planted there).
    """
    rec = runtime._require(name)
    if rec.uid_base is None:
        return False
    fd = safefs.open_dir(rec.spec.socket_dir)
    try:
        st = os.stat("hive.sock", dir_fd=fd, follow_symlinks=False)
        if not stat.S_ISSOCK(st.st_mode):
            raise Refused(f"{name}'s hive.sock is not a socket")
        os.chown("hive.sock", rec.uid_base, rec.uid_base, dir_fd=fd, follow_symlinks=False)
    finally:
        os.close(fd)
    return True


def _args(p: argparse.ArgumentParser) -> None:
    p.add_argument("op", choices=OPS)
    p.add_argument("name", nargs="?")
    p.add_argument("--timeout", type=float, default=10.0)
    p.add_argument("argv", nargs=argparse.REMAINDER)


VERBS = [Verb("host-agent", argparse.SUPPRESS, run, _args)]
