"""The `config` half of the NixOS modules, evaluated against the lib shim (no nixpkgs here)."""

from __future__ import annotations

from typing import Any

from hyperhive.core.agent_config import parse_agent_toml, render_etc
from tests.nix.conftest import REPO, NixEval

PKGS = """{
  git = "/nix/store/git"; bash = "/nix/store/bash"; coreutils = "/nix/store/coreutils";
  procps = "/nix/store/procps"; claude-code = "/nix/store/claude-code";
  util-linux = "/nix/store/util-linux"; nixos-container = "/nix/store/nixos-container";
  formats.toml = { }: { type = "toml"; generate = name: value: "/nix/store/${name}"; };
}"""


def _harness_base(nix_eval: NixEval, hyperhive: str) -> Any:
    """harness-base.nix's config for ``config.hyperhive = <hyperhive>``, as JSON."""
    expr = f"""
      let
        lib = import ./tests/nix/lib.nix;
        module = import ./nix/harness-base.nix {{
          inherit lib;
          pkgs = {PKGS};
          # the option defaults, as the module system would fill them in
          config.hyperhive = import ./nix/defaults.nix // {{
            package = "/nix/store/hyperhive"; agentName = "alice"; role = "agent";
            driver = "claude"; claudePackage = "/nix/store/claude-code"; user = "root";
            gitIdentity = {{ name = "alice"; email = "alice@hyperhive.invalid"; }};
          }} // {hyperhive};
        }};
        c = module.config;
      in {{
        inherit (c) assertions;
        etc = lib.mapAttrs (_: file: file.text) c.environment.etc;
        service = c.systemd.services.hyperhive-harness;
        git = c.programs.git.config.user;
        options = builtins.attrNames module.options.hyperhive;
      }}
    """
    return nix_eval(expr)


def test_harness_base_writes_the_policy_files_python_renders(nix_eval: NixEval) -> None:
    hyperhive = """{
      allowedRecipients = [ "manager" "bob" ];
      allowedBashPatterns = [ "git *" ];
      extraMcpServers.search = {
        command = "s"; args = [ "-v" ]; env = { }; allowedTools = [ "q" ];
      };
    }"""
    got = _harness_base(nix_eval, hyperhive)
    config = parse_agent_toml(
        'allowed_recipients = ["manager", "bob"]\nallowed_bash = ["git *"]\n'
        '[extra_mcp_servers.search]\ncommand = "s"\nargs = ["-v"]\nallowed_tools = ["q"]\n'
    )
    want = {f"hyperhive/{name}": data.decode() for name, data in render_etc(config).items()}
    assert got["etc"] == want
    assert all(a["assertion"] for a in got["assertions"])


def test_harness_base_refuses_an_extra_mcp_server_named_hyperhive(nix_eval: NixEval) -> None:
    got = _harness_base(nix_eval, '{ extraMcpServers.hyperhive = { command = "x"; }; }')
    failed = [a["message"] for a in got["assertions"] if not a["assertion"]]
    assert len(failed) == 1 and 'the key "hyperhive" is reserved' in failed[0]


def test_harness_base_runs_the_harness_as_the_agent_with_its_git_identity(
    nix_eval: NixEval,
) -> None:
    got = _harness_base(nix_eval, '{ user = "worker"; model = "opus"; }')
    service = got["service"]
    assert service["serviceConfig"]["ExecStart"] == "/nix/store/hyperhive/bin/hyperhive agent serve"
    assert service["serviceConfig"]["User"] == "worker"
    assert service["serviceConfig"]["EnvironmentFile"] == "-/run/hive/harness.env"
    env = service["environment"]
    assert env["HYPERHIVE_MODEL"] == "opus" and env["HYPERHIVE_AGENT"] == "alice"
    assert env["GIT_AUTHOR_NAME"] == env["GIT_COMMITTER_NAME"] == "alice"
    assert env["GIT_COMMITTER_EMAIL"] == "alice@hyperhive.invalid"
    # /etc/gitconfig too, for every other user of the container
    assert got["git"]["name"] == {"_type": "override", "priority": 1000, "content": "alice"}
    assert "/nix/store/claude-code" in service["path"]
    for option in ("allowedRecipients", "allowedBashPatterns", "extraMcpServers", "model"):
        assert option in got["options"]


def test_the_host_module_runs_the_daemon_with_kept_runtime_dir(nix_eval: NixEval) -> None:
    expr = f"""
      let
        lib = import ./tests/nix/lib.nix;
        cfg = {{
          enable = true; package = "/nix/store/hyperhive"; flake = "path:/nix/store/src";
          stateDir = "/var/lib/hyperhive"; runtime = "nixos"; settings = {{ }};
          agentMemoryMax = "2G"; agentCpuQuota = "200%";
          ssh = {{ enable = true; listen = "0.0.0.0:2222"; openFirewall = true;
                  authorizedKeysFile = "/etc/hh/keys"; }};
        }};
        module = import ./nix/module.nix {{
          inherit lib;
          pkgs = {PKGS};
          config = {{
            services.hyperhive = cfg; boot.enableContainers = true;
            nix.package = "/nix/store/nix"; systemd.package = "/nix/store/systemd";
          }};
        }};
        c = module.config.content;
      in {{
        inherit (c) assertions;
        service = c.systemd.services.hyperhive;
        ports = c.networking.firewall.allowedTCPPorts;
        settings = c.services.hyperhive.settings;
        experimental = c.nix.settings.experimental-features.content;
      }}
    """
    got = nix_eval(expr)
    assert all(a["assertion"] for a in got["assertions"])
    service = got["service"]
    config = service["serviceConfig"]
    assert config["ExecStart"] == "/nix/store/hyperhive/bin/hyperhive daemon"
    assert (config["StateDirectory"], config["RuntimeDirectory"]) == ("hyperhive", "hyperhive")
    assert config["RuntimeDirectoryPreserve"] == "yes"
    assert config["LoadCredential"] == ["authorized_keys:/etc/hh/keys"]
    assert {"/nix/store/nixos-container", "/nix/store/nix", "/nix/store/git"} <= set(
        service["path"]
    )
    env = service["environment"]
    assert env["HYPERHIVE_FLAKE"] == "path:/nix/store/src"
    assert env["HYPERHIVE_CONFIG"] == "/nix/store/hyperhive.toml"
    assert env["HYPERHIVE_SSH_AUTHORIZED_KEYS"] == "%d/authorized_keys"
    assert got["ports"] == [2222]
    assert got["settings"]["runtime"]["content"] == "nixos"
    assert got["experimental"] == ["nix-command", "flakes"]
    assert (REPO / "nix" / "module.nix").is_file()
