"""Settings: directories, the TOML file, environment overrides, validation."""

from __future__ import annotations

from pathlib import Path

import pytest

from hyperhive.core.errors import InvalidInput
from hyperhive.core.names import validate_agent_name
from hyperhive.core.settings import load_settings


def test_env_overrides_choose_the_state_and_run_dirs(tmp_path: Path) -> None:
    env = {"HYPERHIVE_STATE_DIR": str(tmp_path / "s"), "HYPERHIVE_RUN_DIR": str(tmp_path / "r")}
    s = load_settings(env=env)
    assert (s.state_dir, s.run_dir) == (tmp_path / "s", tmp_path / "r")
    assert s.agent_socket("alice") == tmp_path / "r" / "agents" / "alice" / "hive.sock"
    assert s.agent_socket("manager") == tmp_path / "r" / "manager" / "hive.sock"


def test_a_toml_file_sets_limits_and_runtime(tmp_path: Path) -> None:
    cfg = tmp_path / "hyperhive.toml"
    cfg.write_text(
        'runtime = "nspawn"\n[limits]\nmessage_body_bytes = 8192\nrecv_wait_seconds = 60\n'
    )
    s = load_settings(cfg, env={"HYPERHIVE_STATE_DIR": str(tmp_path)})
    assert s.runtime == "nspawn"
    assert s.limits.message_body_bytes == 8192
    assert s.limits.recv_wait_seconds == 60.0


def test_the_state_dir_config_file_is_read_when_present(tmp_path: Path) -> None:
    (tmp_path / "hyperhive.toml").write_text("[container]\nprivate_users = false\n")
    s = load_settings(env={"HYPERHIVE_STATE_DIR": str(tmp_path)})
    assert s.container.private_users is False


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("bogus = 1\n", "unknown setting bogus"),
        ("[limits]\nrecv_max = 'many'\n", "limits.recv_max must be a int"),
        ("[limits]\nrecv_max = -1\n", "must not be negative"),
        ("runtime = 'docker'\n", "unknown runtime 'docker'"),
        ("[container]\nprivate_users = 1\n", "must be true or false"),
        ("this is not toml", "not valid TOML"),
    ],
)
def test_a_bad_config_file_names_the_problem(tmp_path: Path, text: str, message: str) -> None:
    cfg = tmp_path / "bad.toml"
    cfg.write_text(text)
    with pytest.raises(InvalidInput, match=message):
        load_settings(cfg, env={"HYPERHIVE_STATE_DIR": str(tmp_path)})


@pytest.mark.parametrize("name", ["a/b", "..", "Alice", "toolongname", "", "1abc", "operator"])
def test_invalid_agent_names_are_refused(name: str) -> None:
    with pytest.raises(InvalidInput):
        validate_agent_name(name)


def test_valid_agent_names_pass() -> None:
    assert validate_agent_name("web-2") == "web-2"
    assert validate_agent_name("abcdefghi") == "abcdefghi"
