"""services.hyperhive (nix/module.nix) evaluated by the real module system."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from hyperhive.core.settings import load_settings
from tests.nix.conftest import REPO, NixError, NixEval, system_expr

HOST = "./nix/module.nix"
STORE = "/nix/store/00000000000000000000000000000000-"
# the host of docs/nixos.md, with the package the flake would set
ENABLED = """{
  boot.enableContainers = true;
  services.hyperhive = {
    enable = true;
    package = pkgs.hyperhive;
    flake = "path:/nix/store/src";
    ssh = { enable = true; authorizedKeysFile = "/etc/hh/keys"; openFirewall = true; };
  };
}"""
SELECT = """{
  service = config.systemd.services.hyperhive or null;
  ports = config.networking.firewall.allowedTCPPorts;
  settings = config.services.hyperhive.settings;
  experimental = config.nix.settings.experimental-features;
  packages = map (p: p.name) config.environment.systemPackages;
  assertions = config.assertions;
}"""


def _host(nix_eval: NixEval, *modules: str, check: bool = True) -> Any:
    return nix_eval(system_expr(" ".join((HOST, *modules)), SELECT, check=check))


def _toml(table: dict[str, Any], prefix: str = "") -> str:
    """A TOML document for nested tables of strings, numbers and booleans."""
    lines, tables = [], []
    for key, value in table.items():
        if isinstance(value, dict):
            tables.append((f"{prefix}{key}", value))
        else:
            lines.append(f"{key} = {json.dumps(value)}")
    text = "\n".join(lines) + "\n"
    for name, sub in tables:
        text += f"[{name}]\n" + _toml(sub, f"{name}.")
    return text


def test_the_daemon_unit_has_the_command_credentials_and_directories_the_docs_promise(
    nix_eval: NixEval,
) -> None:
    got = _host(nix_eval, ENABLED)
    service = got["service"]
    config = service["serviceConfig"]
    assert config["ExecStart"] == f"{STORE}hyperhive/bin/hyperhive daemon"
    assert config["User"] == "root"
    # the state is private; the sockets' directory outlives a restart (binds hold it)
    assert (config["StateDirectory"], config["StateDirectoryMode"]) == ("hyperhive", "0700")
    assert (config["RuntimeDirectory"], config["RuntimeDirectoryPreserve"]) == ("hyperhive", "yes")
    assert config["KillMode"] == "mixed" and config["Restart"] == "on-failure"
    # the keys are a credential: readable by root only is enough
    assert config["LoadCredential"] == ["authorized_keys:/etc/hh/keys"]
    env = service["environment"]
    assert env["HYPERHIVE_SSH_AUTHORIZED_KEYS"] == "%d/authorized_keys"
    assert env["HYPERHIVE_SSH_LISTEN"] == "0.0.0.0:2222"
    assert env["HYPERHIVE_FLAKE"] == "path:/nix/store/src"
    assert env["HYPERHIVE_CONFIG"] == f"{STORE}hyperhive.toml"
    assert (env["HYPERHIVE_STATE_DIR"], env["HYPERHIVE_RUN_DIR"]) == (
        "/var/lib/hyperhive",
        "/run/hyperhive",
    )
    assert {f"{STORE}{tool}" for tool in ("nixos-container", "nix", "git", "systemd")} <= set(
        service["path"]
    )
    assert service["wantedBy"] == ["multi-user.target"]
    assert got["ports"] == [2222]
    assert got["experimental"] == ["nix-command", "flakes"]
    assert "hyperhive" in got["packages"]


def test_a_disabled_service_defines_nothing(nix_eval: NixEval) -> None:
    got = _host(nix_eval, "{ services.hyperhive.package = pkgs.hyperhive; }")
    assert got["service"] is None and got["ports"] == [] and got["assertions"] == []
    assert got["experimental"] == [] and got["packages"] == []


def test_another_runtime_needs_no_flake_and_no_nix_features(nix_eval: NixEval) -> None:
    got = _host(
        nix_eval,
        "{ services.hyperhive = { enable = true; package = pkgs.hyperhive; "
        'runtime = "process"; }; }',
    )
    env = got["service"]["environment"]
    assert env["HYPERHIVE_RUNTIME"] == "process" and "HYPERHIVE_FLAKE" not in env
    assert (
        "HYPERHIVE_SSH_LISTEN" not in env
        and got["service"]["serviceConfig"]["LoadCredential"] == []
    )
    assert got["experimental"] == [] and got["ports"] == []


def test_the_settings_file_is_one_the_daemon_loads(nix_eval: NixEval, tmp_path: Path) -> None:
    # the documented example of `settings`, merged with what the module sets itself
    got = _host(
        nix_eval,
        ENABLED,
        """{ services.hyperhive = {
          agentMemoryMax = "8G"; agentCpuQuota = "400%";
          settings = { limits.message_body_bytes = 8192; container.private_users = true; };
          settings.container.memory_max = "6G";
        }; }""",
    )
    settings = got["settings"]
    # an explicit setting beats the option's mkDefault; the other option fills in
    assert settings["container"] == {
        "memory_max": "6G",
        "cpu_quota": "400%",
        "private_users": True,
    }
    path = tmp_path / "hyperhive.toml"
    path.write_text(_toml(settings))
    loaded = load_settings(path, env={}, state_dir=tmp_path / "s", run_dir=tmp_path / "r")
    assert loaded.runtime == "nixos" and loaded.limits.message_body_bytes == 8192
    assert loaded.container.memory_max == "6G" and loaded.container.cpu_quota == "400%"


BROKEN = {
    "stateDir": (
        '{ services.hyperhive.stateDir = "/srv/hive"; }',
        "services.hyperhive.stateDir must be below /var/lib",
    ),
    "containers": (
        "{ boot.enableContainers = lib.mkForce false; }",
        'services.hyperhive.runtime = "nixos" needs boot.enableContainers = true.',
    ),
    "flake": (
        '{ services.hyperhive.flake = lib.mkForce ""; }',
        "services.hyperhive.flake is empty: the nixos runtime builds agents from a flake",
    ),
    "ssh": (
        "{ services.hyperhive.ssh.authorizedKeysFile = lib.mkForce null; }",
        "services.hyperhive.ssh.enable needs ssh.authorizedKeysFile.",
    ),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_each_host_assertion_fails_the_system_with_its_message(
    nix_eval: NixEval, case: str
) -> None:
    module, message = BROKEN[case]
    with pytest.raises(NixError) as caught:
        _host(nix_eval, ENABLED, module)
    text = str(caught.value)
    assert "Failed assertions:" in text and message in text, text
    # exactly this one
    assert len(re.findall(r"^\s*- ", text, flags=re.M)) == 1, text


def test_the_docs_host_configuration_evaluates(nix_eval: NixEval) -> None:
    text = (REPO / "docs" / "nixos.md").read_text()
    [configuration] = re.findall(r"```nix\n# configuration.nix\n(.*?)```", text, flags=re.S)
    # what the flake's nixosModules.default sets, as the docs say
    flake = '{ services.hyperhive = { package = pkgs.hyperhive; flake = "path:/nix/store/src"; }; }'
    got = _host(nix_eval, f"({configuration.strip()})", flake)
    assert got["service"]["serviceConfig"]["LoadCredential"] == [
        "authorized_keys:/etc/hyperhive/authorized_keys"
    ]
    assert got["settings"]["limits"] == {"message_body_bytes": 8192}
