"""The nix rendering of agent.toml (what a NixOS container gets, through the real module
system) equals the Python one."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from hyperhive.core.agent_config import (
    CONFIG_ENV_KEYS,
    AgentConfig,
    config_env,
    parse_agent_toml,
    render_etc,
)
from hyperhive.core.models import Role
from hyperhive.core.runtimes.base import AgentSpec
from hyperhive.core.runtimes.nixos import container_env
from tests.nix.conftest import REPO, NixError, NixEval

RENDER = REPO / "tests" / "nix" / "render.nix"
EXAMPLE = REPO / "tests" / "nix" / "example-agent.toml"
# characters that need escaping somewhere between TOML, nix and JSON
TRICKY = " \"\\${}'/*#=:[]é✓🐝\u2028"
ASCII = "abcdefghijklmnopqrstuvwxyz0123456789-_"


def _q(text: str) -> str:
    # a JSON string without control characters is a TOML basic string
    return json.dumps(text, ensure_ascii=False)


def _word(rng: random.Random, pool: str = ASCII + TRICKY, size: int = 8) -> str:
    return "".join(rng.choice(pool) for _ in range(rng.randint(1, size))).strip() or "x"


def _random_toml(rng: random.Random) -> str:
    """An agent.toml drawing each field (or leaving it out) at random."""
    lines: list[str] = []
    if rng.random() < 0.5:
        lines.append(f"model = {_q(rng.choice(['opus', 'haiku', 'claude-opus-4-1']))}")
    if rng.random() < 0.3:
        lines.append(f"auto_compact = {rng.choice(['true', 'false'])}")
    if rng.random() < 0.3:
        lines.append(f"notes_compact_bytes = {rng.randint(1, 10**9)}")
    if rng.random() < 0.7:
        names = rng.sample(["manager", "operator", "*", "bob", "c-3po", "x1"], rng.randint(0, 4))
        lines.append(f"allowed_recipients = [{', '.join(map(_q, names))}]")
    if rng.random() < 0.7:
        patterns = list(dict.fromkeys(_word(rng) for _ in range(rng.randint(0, 4))))
        lines.append(f"allowed_bash = [{', '.join(map(_q, patterns))}]")
    for i in range(rng.randint(0, 3)):
        lines.append(f"[extra_mcp_servers.{_q(_word(rng, ASCII) + str(i))}]")
        lines.append(f"command = {_q(_word(rng))}")
        if rng.random() < 0.6:
            lines.append(f"args = [{', '.join(_q(_word(rng)) for _ in range(rng.randint(0, 3)))}]")
        if rng.random() < 0.6:
            env = {_word(rng, "ABCXYZ_") + str(n): _word(rng) for n in range(rng.randint(0, 3))}
            lines.append(f"env = {{ {', '.join(f'{k} = {_q(v)}' for k, v in env.items())} }}")
        if rng.random() < 0.5:
            tools = list(dict.fromkeys(_word(rng, ASCII + "*") for _ in range(rng.randint(0, 3))))
            lines.append(f"allowed_tools = [{', '.join(map(_q, tools))}]")
    return "\n".join(lines) + "\n"


def test_the_example_renders_to_the_same_bytes_in_nix_and_python(nix_eval: NixEval) -> None:
    config = parse_agent_toml(EXAMPLE.read_bytes())
    [nix] = nix_eval(RENDER, files=json.dumps([str(EXAMPLE)]))
    assert {k: v.encode() for k, v in nix["etc"].items()} == render_etc(config)


def test_random_configs_render_to_the_same_bytes_in_nix_and_python(
    nix_eval: NixEval, tmp_path: Path
) -> None:
    rng = random.Random(20260524)
    files = []
    for i in range(150):
        path = tmp_path / f"{i}.toml"
        path.write_text(_random_toml(rng))
        files.append(path)
    rendered = nix_eval(RENDER, files=json.dumps([str(p) for p in files]))
    for path, nix in zip(files, rendered, strict=True):
        config = parse_agent_toml(path.read_bytes())
        want = render_etc(config)
        got = {k: v.encode() for k, v in nix["etc"].items()}
        assert got == want, path.read_text()
        portable = {k: v for k, v in nix["env"].items() if k in CONFIG_ENV_KEYS}
        assert portable == config_env(config), path.read_text()


def test_the_nix_defaults_are_the_python_defaults(nix_eval: NixEval) -> None:
    nix = nix_eval(REPO / "nix" / "defaults.nix")
    default = AgentConfig()
    assert (nix["driver"], nix["model"], nix["autoCompact"]) == (
        default.driver,
        default.model,
        default.auto_compact,
    )
    assert nix["notesCompactBytes"] == default.notes_compact_bytes
    assert nix["allowedRecipients"] == list(default.allowed_recipients)
    assert nix["allowedBashPatterns"] == list(default.allowed_bash)
    assert nix["mcpServer"]["allowedTools"] == ["*"]


@pytest.mark.parametrize("role", [Role.AGENT, Role.MANAGER])
def test_the_nix_harness_env_has_the_paths_the_runtime_writes(
    nix_eval: NixEval, tmp_path: Path, role: Role
) -> None:
    name = "manager" if role is Role.MANAGER else "alice"
    extras = {"agents_root": tmp_path, "applied_root": tmp_path, "meta_dir": tmp_path}
    spec = AgentSpec(
        name=name,
        role=role,
        socket_dir=tmp_path,
        state_dir=tmp_path,
        creds_dir=tmp_path,
        etc_dir=tmp_path,
        applied_dir=tmp_path,
        **(extras if role is Role.MANAGER else {}),  # type: ignore[arg-type]
    )
    empty = tmp_path / "agent.toml"
    empty.write_text("")
    [nix] = nix_eval(RENDER, files=json.dumps([str(empty)]), role=str(role))
    # the git identity comes from the `hyperhive.gitIdentity` option (harness-base.nix)
    runtime = {k: v for k, v in container_env(spec).items() if not k.startswith("GIT_")}
    assert {k: v for k, v in nix["env"].items() if k not in CONFIG_ENV_KEYS} == runtime


def test_agent_toml_nix_refuses_an_unknown_key(nix_eval: NixEval) -> None:
    with pytest.raises(NixError, match="agent.toml: unknown key bogus"):
        nix_eval('import ./nix/agent-toml.nix { model = "x"; bogus = 1; }')


def test_render_etc_nix_fills_the_server_defaults(nix_eval: NixEval) -> None:
    expr = (
        "{ nixpkgsLib }: (import ./nix/render-etc.nix { lib = import nixpkgsLib; "
        'cfg = { extraMcpServers.s.command = "c"; }; })."extra-mcp.json"'
    )
    assert json.loads(nix_eval(expr)) == {
        "s": {"command": "c", "args": [], "env": {}, "allowed_tools": ["*"]}
    }


def test_a_wrong_value_in_a_random_config_fails_with_the_module_systems_message(
    nix_eval: NixEval, tmp_path: Path
) -> None:
    path = tmp_path / "agent.toml"
    path.write_text('allowed_bash = ["git *", 7]\n')
    with pytest.raises(NixError) as caught:
        nix_eval(RENDER, files=json.dumps([str(path)]))
    assert (
        'A definition for option `hyperhive.allowedBashPatterns."[definition 1-entry 2]"\' '
        "is not of type `string'"
    ) in str(caught.value)
