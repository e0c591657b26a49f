"""The host-side command's unpacking of an agent's tree: what it writes, what it refuses."""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

import pytest

from hyperhive.commands.hostside import clear_socket, host_paths, host_spec, purge, unpack, usage
from hyperhive.core.errors import InvalidInput, Refused
from hyperhive.core.models import Role
from hyperhive.core.runtimes.base import AgentSpec
from hyperhive.core.runtimes.supervisor import spec_to_json


def tar_of(*members: tuple[str, bytes | None, str]) -> bytes:
    """(name, data, kind) with kind "file", "dir" or "symlink" (data = the target)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:") as tar:
        for name, data, kind in members:
            info = tarfile.TarInfo(name)
            if kind == "dir":
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            elif kind == "symlink":
                info.type = tarfile.SYMTYPE
                info.linkname = (data or b"").decode()
                tar.addfile(info)
            else:
                info.size = len(data or b"")
                tar.addfile(info, io.BytesIO(data or b""))
    return buf.getvalue()


def test_the_tree_lands_in_applied_and_etc_replacing_the_last_one(tmp_path: Path) -> None:
    first = tar_of(("applied/agent.toml", b"a", "file"), ("applied/old.md", b"x", "file"))
    assert unpack(first, tmp_path, "alpha") == 2
    second = tar_of(
        ("applied/agent.toml", b"b", "file"),
        ("applied/sub", None, "dir"),
        ("applied/sub/p.md", b"p", "file"),
        ("etc/send-allow.json", b"[]", "file"),
    )
    assert unpack(second, tmp_path, "alpha") == 3
    base = tmp_path / "agents" / "alpha"
    assert (base / "applied" / "agent.toml").read_bytes() == b"b"
    assert (base / "applied" / "sub" / "p.md").read_bytes() == b"p"
    assert not (base / "applied" / "old.md").exists()
    assert (base / "etc" / "send-allow.json").read_bytes() == b"[]"


@pytest.mark.parametrize(
    "member",
    [
        ("applied/evil", b"/etc/shadow", "symlink"),
        ("applied/../../escape", b"x", "file"),
        ("/etc/cron.d/evil", b"x", "file"),
        ("state/notes.md", b"x", "file"),
    ],
)
def test_links_escapes_and_other_trees_are_refused_and_nothing_is_written_outside(
    tmp_path: Path, member: tuple[str, bytes, str]
) -> None:
    with pytest.raises(InvalidInput):
        unpack(tar_of(("applied/agent.toml", b"a", "file"), member), tmp_path, "alpha")
    assert not (tmp_path / "escape").exists()
    assert not (tmp_path / "agents" / "alpha" / "state").exists()


def test_a_link_planted_where_the_tree_goes_is_not_followed(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    base = tmp_path / "agents" / "alpha"
    base.mkdir(parents=True)
    os.symlink(outside, base / ".applied.new")
    os.symlink(outside, base / "applied")
    with pytest.raises((Refused, OSError)):
        unpack(tar_of(("applied/agent.toml", b"a", "file")), tmp_path, "alpha")
    assert list(outside.iterdir()) == []


def test_the_host_decides_every_path_and_never_runs_the_manager(tmp_path: Path) -> None:
    daemon = Path("/var/lib/hyperhive")
    spec = AgentSpec(
        name="alpha",
        role=Role.AGENT,
        socket_dir=daemon / "run",
        state_dir=Path("/etc"),
        creds_dir=daemon / "creds",
        etc_dir=daemon / "etc",
        applied_dir=daemon / "applied",
        agents_root=Path("/"),
    )
    mine = host_spec(tmp_path, spec_to_json(spec))
    for path in (mine.socket_dir, mine.state_dir, mine.creds_dir, mine.etc_dir, mine.applied_dir):
        assert path.is_relative_to(tmp_path / "agents" / "alpha")
    assert mine.agents_root is None
    manager = spec_to_json(AgentSpec(**{**spec.__dict__, "name": "manager", "role": Role.MANAGER}))
    with pytest.raises(Refused):
        host_spec(tmp_path, manager)


def test_clearing_a_socket_name_unlinks_what_the_agent_put_there_and_follows_nothing(
    tmp_path: Path,
) -> None:
    run = host_paths(tmp_path, "alpha")["socket_dir"]
    run.mkdir(parents=True)
    precious = tmp_path / "precious"
    precious.write_text("host file")
    (run / "hive.sock").symlink_to(precious)
    clear_socket(tmp_path, "alpha")
    assert not (run / "hive.sock").is_symlink() and precious.read_text() == "host file"
    os.mkfifo(run / "hive.sock")  # never opened: clearing it does not block
    clear_socket(tmp_path, "alpha")
    assert not (run / "hive.sock").exists()
    clear_socket(tmp_path, "alpha")  # nothing there: nothing to do


def test_a_purge_removes_all_an_agent_kept_here_and_nothing_its_links_point_at(
    tmp_path: Path,
) -> None:
    paths = host_paths(tmp_path, "alpha")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep.txt").write_text("not the agent's")
    (outside / "big.bin").write_bytes(b"x" * 100_000)
    paths["creds_dir"].mkdir(parents=True)
    (paths["creds_dir"] / ".credentials.json").write_text("{}")
    paths["state_dir"].mkdir()
    (paths["state_dir"] / "escape").symlink_to(outside)
    got = usage(tmp_path, "alpha")
    assert got["has_creds"] is True and 0 < got["size"] < 1000  # the link is not walked
    purge(tmp_path, "alpha")
    assert not paths["base"].exists()
    assert (outside / "keep.txt").read_text() == "not the agent's"
    assert usage(tmp_path, "alpha") == {"size": 0, "has_creds": False}
