"""Tests for the meta flake of the nixos runtime: names, agent files, the rendered flake."""

from __future__ import annotations

from pathlib import Path

import pytest

from hyperhive.core.agent_config import default_files
from hyperhive.core.errors import InvalidInput
from hyperhive.core.runtimes.nixos_meta import (
    MetaAgent,
    agent_of,
    container_flake,
    nix_string,
    render_meta_flake,
    scan_meta_agents,
    write_agent_files,
)


def write_repo(path: Path, files: dict[str, bytes]) -> Path:
    for rel, data in files.items():
        (path / rel).parent.mkdir(parents=True, exist_ok=True)
        (path / rel).write_bytes(data)
    return path


def test_nix_strings_escape_what_nix_would_interpolate() -> None:
    assert nix_string('a "b" \\ ${c} $d\n') == '"a \\"b\\" \\\\ \\${c} $d\\n"'


def test_only_hyperhive_containers_belong_to_an_agent() -> None:
    assert agent_of("hm1nd") == "manager"
    assert agent_of("h-bob") == "bob"
    assert agent_of("h-Bob") is None
    assert agent_of("web") is None
    assert container_flake(Path("/m"), "bob") == "path:/m#h-bob"


def test_agent_files_replace_the_old_copy_and_fill_in_the_template(tmp_path: Path) -> None:
    meta = tmp_path / "meta"
    files = default_files("bob", "agent")
    applied = write_repo(tmp_path / "applied", {"agent.toml": files["agent.toml"]})
    (meta / "agents" / "bob").mkdir(parents=True)
    (meta / "agents" / "bob" / "stale.txt").write_text("old deploy")

    got = write_agent_files(meta, "bob", applied)

    assert got == MetaAgent("bob", has_prompt=False, script=None)
    assert sorted(p.name for p in (meta / "agents" / "bob").iterdir()) == [
        "agent.nix",
        "agent.toml",
    ]
    assert (meta / "agents" / "bob" / "agent.nix").read_bytes() == files["agent.nix"]
    assert scan_meta_agents(meta) == [got]
    assert [p.name for p in (meta / "agents").iterdir()] == ["bob"]  # no temp dirs left


def test_a_script_the_repo_lacks_is_refused(tmp_path: Path) -> None:
    toml = b'driver = "scripted"\nscript = "scripts/go.json"\n'
    applied = write_repo(tmp_path / "applied", {"agent.toml": toml})
    with pytest.raises(InvalidInput, match="not in the repo"):
        write_agent_files(tmp_path / "meta", "bob", applied)


def test_the_meta_flake_holds_one_configuration_per_agent_in_name_order() -> None:
    agents = [MetaAgent("bob", script="scripts/go.json"), MetaAgent("manager", has_prompt=True)]
    text = render_meta_flake("path:/nix/store/hh", agents[::-1], "x86_64-linux")
    assert text.index('"h-bob"') < text.index('"hm1nd"')
    assert 'inputs.hyperhive.url = "path:/nix/store/hh";' in text
    assert 'script = (./agents/bob + "/scripts/go.json");' in text
    assert "prompt = ./agents/manager/prompt.md;" in text
    assert 'role = "manager";' in text and 'system = "x86_64-linux";' in text
