"""flake.nix itself: its outputs function called with the real nixpkgs lib as `nixpkgs`
(nixosSystem = lib.evalModules over the NixOS stand-in), so the flake's wiring of
nixosModules.default, nixosModules.harness-base and lib.mkAgent is evaluated too."""

from __future__ import annotations

from pathlib import Path

import pytest

from hyperhive.core.agent_config import default_files, parse_agent_toml, render_etc
from hyperhive.core.models import Role
from tests.nix.conftest import REPO, NixError, NixEval

EXAMPLE = REPO / "tests" / "nix" / "example-agent.toml"
STORE = "/nix/store/00000000000000000000000000000000-"

FLAKE = """{{ nixpkgsLib }}:
  let
    lib = import nixpkgsLib;
    nixos = import ./tests/nix/nixos.nix {{ inherit lib; }};
    system = "x86_64-linux";
    nixpkgs = {{
      lib = lib // {{ nixosSystem = args: nixos.eval args.modules; }};
      legacyPackages.${{system}} = nixos.pkgs // {{
        callPackage = file: args: nixos.pkgs.hyperhive;
      }};
    }};
    # the flake's own outputs, with its inputs given by hand (self is the source)
    self = (import ./flake.nix).outputs {{ inherit self nixpkgs; }} // {{
      outPath = "/nix/store/11111111111111111111111111111111-source";
    }};
  in
  {select}
"""


def test_the_flakes_host_module_sets_the_package_and_the_flake_itself(nix_eval: NixEval) -> None:
    select = """
      let
        host = nixpkgs.lib.nixosSystem {
          modules = [
            self.nixosModules.default
            { boot.enableContainers = true; services.hyperhive.enable = true; }
          ];
        };
      in host.config.systemd.services.hyperhive
    """
    service = nix_eval(FLAKE.format(select=select))
    assert service["serviceConfig"]["ExecStart"] == f"{STORE}hyperhive/bin/hyperhive daemon"
    assert service["environment"]["HYPERHIVE_FLAKE"] == (
        "path:/nix/store/11111111111111111111111111111111-source"
    )


def test_the_flakes_mk_agent_builds_the_agent_from_its_files(
    nix_eval: NixEval, tmp_path: Path
) -> None:
    for rel, data in default_files("alice", Role.AGENT).items():
        (tmp_path / rel).write_bytes(data)
    (tmp_path / "agent.toml").write_bytes(EXAMPLE.read_bytes())
    (tmp_path / "demo.json").write_text("[]\n")
    select = f"""
      let
        agent = self.lib.mkAgent {{
          name = "alice"; inherit system; host = "myhost";
          agentToml = {tmp_path}/agent.toml; agentNix = {tmp_path}/agent.nix;
          prompt = null; script = {tmp_path}/demo.json;
          extraModules = [ {{ hyperhive.model = lib.mkForce "haiku"; }} ];
        }};
        c = agent.config;
      in {{
        etc = lib.mapAttrs (_: f: f.text) c.environment.etc;
        env = c.systemd.services.hyperhive-harness.environment;
        exec = c.systemd.services.hyperhive-harness.serviceConfig.ExecStart;
      }}
    """
    got = nix_eval(FLAKE.format(select=select))
    want = render_etc(parse_agent_toml(EXAMPLE.read_bytes()))
    assert {k: v for k, v in got["etc"].items() if k.startswith("hyperhive/")} == {
        f"hyperhive/{name}": data.decode() for name, data in want.items()
    }
    assert got["exec"] == f"{STORE}hyperhive/bin/hyperhive agent serve"
    assert got["env"]["HYPERHIVE_MODEL"] == "haiku"  # extraModules come last
    assert got["env"]["GIT_AUTHOR_EMAIL"] == "alice@myhost.hyperhive"


def test_mk_agent_refuses_an_argument_it_does_not_know(nix_eval: NixEval) -> None:
    select = """(self.lib.mkAgent {
      name = "alice"; inherit system; agentToml = ./tests/nix/example-agent.toml;
      agentNix = { }; scirpt = null;
    }).config.hyperhive.agentName"""
    with pytest.raises(NixError, match="called with unexpected argument 'scirpt'"):
        nix_eval(FLAKE.format(select=select))
