"""The module list lib.mkAgent hands to nixosSystem (nix/agent-modules.nix: harness-base,
the module made from agent.toml, agent.nix), evaluated by the real module system."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from hyperhive.core.agent_config import default_files, parse_agent_toml, render_etc
from hyperhive.core.models import Role
from tests.nix.conftest import REPO, NixError, NixEval, system_expr

EXAMPLE = REPO / "tests" / "nix" / "example-agent.toml"
STORE = "/nix/store/00000000000000000000000000000000-"
SELECT = """{
  hyperhive = removeAttrs config.hyperhive [ "package" "claudePackage" ];
  etc = lib.mapAttrs (_: file: file.text) config.environment.etc;
  service = config.systemd.services.hyperhive-harness;
  users = config.users.users;
  tmpfiles = config.systemd.tmpfiles.rules;
  git = config.programs.git.config.user;
  hostName = config.networking.hostName;
  platform = config.nixpkgs.hostPlatform;
  container = config.boot.isContainer;
  warnings = config.warnings;
}"""


def _write(directory: Path, files: dict[str, bytes]) -> None:
    for rel, data in files.items():
        (directory / rel).parent.mkdir(parents=True, exist_ok=True)
        (directory / rel).write_bytes(data)


def agent_system(
    nix_eval: NixEval,
    directory: Path,
    name: str = "alice",
    *,
    toml: bytes | None = None,
    nix: bytes | None = None,
    script: str | None = None,
    extra: str = "",
) -> Any:
    """Evaluate the modules mkAgent would build ``name`` from, with its files in ``directory``.

    The default agent.toml / agent.nix / prompt.md are those a new agent gets.
    """
    role = Role.MANAGER if name == "manager" else Role.AGENT
    files = default_files(name.lower(), role)  # (the files of a valid name)
    if toml is not None:
        files["agent.toml"] = toml
    if nix is not None:
        files["agent.nix"] = nix
    _write(directory, files)
    script_arg = f"({json.dumps(str(directory / script))})" if script else "null"
    modules = f"""{{
      imports = import ./nix/agent-modules.nix {{
        inherit lib;
        harnessBase = ./nix/harness-base.nix;
        name = "{name}";
        role = "{role}";
        system = "aarch64-linux";
        host = "myhost";
        agentToml = {directory}/agent.toml;
        agentNix = {directory}/agent.nix;
        prompt = {directory}/prompt.md;
        script = {script_arg};
      }};
    }}
    # what the flake's nixosModules.harness-base adds
    {{ hyperhive.package = lib.mkDefault pkgs.hyperhive; }}
    {extra}"""
    return nix_eval(system_expr(modules, SELECT))


def test_an_agent_gets_its_options_policy_files_and_harness_from_agent_toml(
    nix_eval: NixEval, tmp_path: Path
) -> None:
    got = agent_system(
        nix_eval,
        tmp_path,
        toml=EXAMPLE.read_bytes(),
        script="scripts/demo.json",
        extra='{ environment.etc."hyperhive/scripts".text = "unrelated"; }',
    )
    config = parse_agent_toml(EXAMPLE.read_bytes())
    options = got["hyperhive"]
    assert (options["agentName"], options["role"], options["driver"]) == (
        "alice",
        "agent",
        "scripted",
    )
    assert (options["model"], options["autoCompact"], options["notesCompactBytes"]) == (
        "claude-sonnet-4-5",
        False,
        32768,
    )
    assert options["allowedRecipients"] == ["manager", "operator", "bob", "*"]
    assert sorted(options["extraMcpServers"]) == ["plain", "search"]
    # the three policy files, byte for byte what the other runtimes write
    want = {f"hyperhive/{name}": data.decode() for name, data in render_etc(config).items()}
    assert {k: v for k, v in got["etc"].items() if k in want} == want
    service = got["service"]
    assert service["serviceConfig"]["ExecStart"] == f"{STORE}hyperhive/bin/hyperhive agent serve"
    assert service["serviceConfig"]["User"] == "root"
    assert service["serviceConfig"]["EnvironmentFile"] == "-/run/hive/harness.env"
    assert service["serviceConfig"]["WorkingDirectory"] == "/state"
    env = service["environment"]
    assert env["HYPERHIVE_AGENT"] == "alice" and env["HYPERHIVE_DRIVER"] == "scripted"
    assert env["HYPERHIVE_NOTES_COMPACT_BYTES"] == "32768"
    assert env["HYPERHIVE_SCRIPT"] == str(tmp_path / "scripts" / "demo.json")
    assert env["HYPERHIVE_PROMPT_FILE"].endswith("-prompt.md")
    assert env["HOME"] == "/creds" and "HYPERHIVE_AGENTS" not in env
    assert "HYPERHIVE_CLAUDE_BIN" not in env  # the SDK's bundled CLI
    # the git identity of docs/nixos.md: <name> / <name>@<host>.hyperhive
    assert (env["GIT_AUTHOR_NAME"], env["GIT_AUTHOR_EMAIL"]) == ("alice", "alice@myhost.hyperhive")
    assert (env["GIT_COMMITTER_NAME"], env["GIT_COMMITTER_EMAIL"]) == (
        "alice",
        "alice@myhost.hyperhive",
    )
    assert got["git"] == {"name": "alice", "email": "alice@myhost.hyperhive"}
    assert got["hostName"] == "h-alice" and got["platform"] == "aarch64-linux"
    assert got["container"] is True and got["users"] == {} and got["tmpfiles"] == []
    assert got["warnings"] == []


def test_the_manager_gets_its_container_name_and_paths(nix_eval: NixEval, tmp_path: Path) -> None:
    got = agent_system(nix_eval, tmp_path, "manager")
    assert got["hyperhive"]["role"] == "manager" and got["hostName"] == "hm1nd"
    env = got["service"]["environment"]
    assert (env["HYPERHIVE_AGENTS"], env["HYPERHIVE_APPLIED_ROOT"], env["HYPERHIVE_META"]) == (
        "/agents",
        "/applied",
        "/meta",
    )
    assert env["HYPERHIVE_ROLE"] == "manager" and env["HYPERHIVE_DRIVER"] == "claude"
    assert got["git"]["email"] == "manager@myhost.hyperhive"
    # the claude driver has a CLI on PATH for logins
    assert f"{STORE}claude-code" in got["service"]["path"]


def test_agent_nix_wins_over_agent_toml_and_may_name_another_user(
    nix_eval: NixEval, tmp_path: Path
) -> None:
    got = agent_system(
        nix_eval,
        tmp_path,
        toml=b'model = "opus"\ngit_name = "Alice A."\ngit_email = "alice@example.org"\n',
        nix=b"""{ pkgs, ... }: {
          environment.systemPackages = [ pkgs.ripgrep ];
          hyperhive.model = "haiku";
          hyperhive.user = "worker";
          hyperhive.claudeBin = "/run/current-system/sw/bin/claude";
        }""",
    )
    assert got["hyperhive"]["model"] == "haiku"
    env = got["service"]["environment"]
    assert env["HYPERHIVE_MODEL"] == "haiku"
    assert env["HYPERHIVE_CLAUDE_BIN"] == "/run/current-system/sw/bin/claude"
    # agent.toml git_name / git_email
    assert (env["GIT_AUTHOR_NAME"], env["GIT_COMMITTER_EMAIL"]) == ("Alice A.", "alice@example.org")
    assert got["git"] == {"name": "Alice A.", "email": "alice@example.org"}
    assert got["service"]["serviceConfig"]["User"] == "worker"
    assert got["users"]["worker"]["isNormalUser"] is True
    assert got["tmpfiles"] == ["Z /state - worker - - -", "Z /creds - worker - - -"]


def test_the_old_git_identity_names_still_work_with_a_warning(
    nix_eval: NixEval, tmp_path: Path
) -> None:
    got = agent_system(
        nix_eval,
        tmp_path,
        nix=b'{ hyperhive.gitIdentity = { name = "Old"; email = "old@example.org"; }; }',
    )
    assert got["git"] == {"name": "Old", "email": "old@example.org"}
    assert any(
        "hyperhive.gitIdentity.name' defined in" in w and "renamed to `hyperhive.gitName'" in w
        for w in got["warnings"]
    ), got["warnings"]


def test_an_extra_mcp_server_named_hyperhive_fails_the_system(
    nix_eval: NixEval, tmp_path: Path
) -> None:
    nix = b'{ hyperhive.extraMcpServers.hyperhive.command = "evil"; }'
    with pytest.raises(NixError) as caught:
        agent_system(nix_eval, tmp_path, nix=nix)
    assert "Failed assertions:" in str(caught.value)
    assert 'hyperhive.extraMcpServers.hyperhive: the key "hyperhive" is reserved' in str(
        caught.value
    )


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        (
            b'auto_compact = "yes"\n',
            r"A definition for option `hyperhive\.autoCompact' is not of type `boolean'",
        ),
        (
            b"notes_compact_bytes = 0\n",
            r"A definition for option `hyperhive\.notesCompactBytes' is not of type "
            r"`null or \(positive integer, meaning >0\)'",
        ),
        (
            b'driver = "gpt"\n',
            r"A definition for option `hyperhive\.driver' is not of type `one of \"claude\", "
            r"\"scripted\"'",
        ),
        (
            b"[extra_mcp_servers.s]\nargs = []\n",
            r"The option `hyperhive\.extraMcpServers\.s\.command' was accessed but has no value",
        ),
        (b"git_name = 7\n", r"A definition for option `hyperhive\.gitName' is not of type"),
        (b"bogus = 1\n", r"agent\.toml: unknown key bogus"),
    ],
)
def test_a_wrong_agent_toml_fails_with_the_module_systems_message(
    nix_eval: NixEval, tmp_path: Path, toml: bytes, message: str
) -> None:
    with pytest.raises(NixError) as caught:
        agent_system(nix_eval, tmp_path, toml=toml)
    assert re.search(message, str(caught.value)), str(caught.value)


def test_a_bad_agent_name_is_refused_by_its_option_type(nix_eval: NixEval, tmp_path: Path) -> None:
    with pytest.raises(NixError, match=r"`hyperhive\.agentName' is not of type `string matching"):
        agent_system(nix_eval, tmp_path, "Alice")


def test_the_docs_agent_nix_and_its_agent_toml_give_the_same_agent(
    nix_eval: NixEval, tmp_path: Path
) -> None:
    text = (REPO / "docs" / "nixos.md").read_text()
    [agent_nix] = re.findall(r"```nix\n# agent.nix\n(.*?)```", text, flags=re.S)
    [agent_toml] = re.findall(
        r"The same settings in `agent.toml`:\n\n```toml\n(.*?)```", text, flags=re.S
    )
    from_nix = agent_system(nix_eval, tmp_path / "nix", nix=agent_nix.encode())
    from_toml = agent_system(nix_eval, tmp_path / "toml", toml=agent_toml.encode())
    for got in (from_nix, from_toml):
        got["service"]["environment"].pop("HYPERHIVE_PROMPT_FILE")
    assert from_nix["etc"] == from_toml["etc"]
    assert from_nix["service"]["environment"] == from_toml["service"]["environment"]
    assert from_nix["git"] == from_toml["git"]
    # (the policy files do not depend on the git identity, which agent_config learns on
    # another branch of this wave)
    config = parse_agent_toml(re.sub(r"(?m)^git_(name|email) = .*\n", "", agent_toml))
    want = {f"hyperhive/{name}": data.decode() for name, data in render_etc(config).items()}
    assert from_toml["etc"] == want
