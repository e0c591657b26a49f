"""agent.toml: parsing and validation, the policy files, the templates a new agent starts from."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hyperhive.core.agent_config import (
    AGENT_NIX_TEMPLATE,
    ETC_FILES,
    MANAGER_NIX_TEMPLATE,
    AgentConfig,
    AgentLimits,
    McpServer,
    canonical_json,
    config_env,
    default_files,
    parse_agent_toml,
    render_etc,
    write_etc,
)
from hyperhive.core.errors import InvalidInput

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "tests" / "nix" / "example-agent.toml"


def test_an_empty_agent_toml_means_every_default() -> None:
    assert parse_agent_toml("") == AgentConfig()


def test_every_field_of_the_example_is_read() -> None:
    config = parse_agent_toml(EXAMPLE.read_bytes())
    assert config.driver == "scripted"
    assert config.model == "claude-sonnet-4-5"
    assert config.allowed_recipients == ("manager", "operator", "bob", "*")
    assert config.allowed_bash[0] == "git *"
    assert config.auto_compact is False
    assert config.script == "scripts/demo.json"
    assert config.notes_compact_bytes == 32768
    assert config.limits == AgentLimits(memory_max="4G", cpu_quota="150%")
    assert config.extra_mcp_servers["plain"] == McpServer(command="plain-mcp")
    search = config.extra_mcp_servers["search"]
    assert search.args == ("--root", "/state", "--pattern=${x}")
    assert dict(search.env) == {"SEARCH_TOKEN_FILE": "/creds/search", "EMPTY": ""}
    assert search.allowed_tools == ("query", "fetch_*")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("driver = \n", "not valid TOML"),
        ("modle = 'x'\n", "unknown key modle"),
        ("driver = 'gpt'\n", "driver must be one of claude, scripted"),
        ("model = ''\n", "model must be a non-empty string"),
        ("model = 'two words'\n", "is not a model name"),
        ("allowed_recipients = 'bob'\n", "allowed_recipients must be a list of strings"),
        ("allowed_recipients = [1]\n", "allowed_recipients must be a list of strings"),
        ("allowed_recipients = ['Bob']\n", "allowed_recipients: invalid agent name 'Bob'"),
        ("allowed_recipients = ['all']\n", "reserved"),
        ("allowed_recipients = ['bob', 'bob']\n", "lists 'bob' twice"),
        ("allowed_bash = ['  ']\n", "allowed_bash has an empty pattern"),
        ('allowed_bash = ["git\\n*"]\n', "allowed_bash contains a control character"),
        ("auto_compact = 'yes'\n", "auto_compact must be true or false"),
        ("notes_compact_bytes = 0\n", "notes_compact_bytes must be a positive integer"),
        ("notes_compact_bytes = true\n", "notes_compact_bytes must be a positive integer"),
        ("script = 'demo.json'\n", 'script is only used with driver = "scripted"'),
        ("driver = 'scripted'\nscript = '../x.json'\n", "must be a path inside the repo"),
        ("driver = 'scripted'\nscript = '/etc/x.json'\n", "must be a path inside the repo"),
        ("limits = 3\n", "limits must be a table"),
        ("[limits]\nmemory = '2G'\n", "unknown key limits.memory"),
        ("[limits]\nmemory_max = 'lots'\n", "limits.memory_max must be like"),
        ("[limits]\ncpu_quota = 2\n", "limits.cpu_quota must be like"),
        ("extra_mcp_servers = []\n", "extra_mcp_servers must be a table"),
        ("[extra_mcp_servers.hyperhive]\ncommand = 'x'\n", "reserved for hyperhive's own"),
        ("[extra_mcp_servers.HyperHive]\ncommand = 'x'\n", "reserved for hyperhive's own"),
        ("[extra_mcp_servers.'a b']\ncommand = 'x'\n", "use 1-64 letters"),
        ("extra_mcp_servers.s = 1\n", "extra_mcp_servers.s must be a table"),
        ("[extra_mcp_servers.s]\nargs = []\n", "extra_mcp_servers.s.command is missing"),
        (
            "[extra_mcp_servers.s]\ncommand = 'x'\nport = 1\n",
            "unknown key extra_mcp_servers.s.port",
        ),
        ("[extra_mcp_servers.s]\ncommand = 'x'\nargs = 'a'\n", "s.args must be a list of strings"),
        ("[extra_mcp_servers.s]\ncommand = 'x'\nenv = {A = 1}\n", "s.env must be a table"),
        ("[extra_mcp_servers.s]\ncommand = 'x'\nenv = {'1A' = 'v'}\n", "not a variable name"),
        ("[extra_mcp_servers.s]\ncommand = 'x'\nallowed_tools = ['a b']\n", "not a tool name"),
    ],
)
def test_a_bad_field_is_refused_with_a_message_naming_it(text: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message.replace("(", r"\(").replace("*", r"\*")):
        parse_agent_toml(text)


def test_agent_toml_that_is_not_utf8_is_refused() -> None:
    with pytest.raises(InvalidInput, match="not UTF-8"):
        parse_agent_toml(b"model = '\xff'\n")


def test_render_etc_gives_exactly_the_three_policy_files() -> None:
    files = render_etc(parse_agent_toml(EXAMPLE.read_bytes()))
    assert tuple(files) == ETC_FILES
    assert json.loads(files["send-allow.json"]) == ["manager", "operator", "bob", "*"]
    assert json.loads(files["extra-mcp.json"])["plain"] == {
        "command": "plain-mcp",
        "args": [],
        "env": {},
        "allowed_tools": ["*"],
    }


def test_the_policy_files_of_the_defaults_are_empty_and_canonical() -> None:
    assert render_etc(AgentConfig()) == {
        "send-allow.json": b"[]\n",
        "bash-allow.json": b"[]\n",
        "extra-mcp.json": b"{}\n",
    }
    assert (
        canonical_json({"b": ["é"], "a": {}})
        == b'{\n  "a": {},\n  "b": [\n    "\xc3\xa9"\n  ]\n}\n'
    )


def test_write_etc_leaves_read_only_files_and_rewrites_them(tmp_path: Path) -> None:
    etc = tmp_path / "etc"
    write_etc(AgentConfig(allowed_recipients=("bob",)), etc)
    write_etc(AgentConfig(allowed_recipients=("carol",)), etc)
    assert sorted(p.name for p in etc.iterdir()) == sorted(ETC_FILES)
    for name in ETC_FILES:
        assert stat.S_IMODE((etc / name).stat().st_mode) == 0o444
    assert json.loads((etc / "send-allow.json").read_text()) == ["carol"]


def test_config_env_carries_the_portable_settings() -> None:
    assert config_env(AgentConfig()) == {
        "HYPERHIVE_DRIVER": "claude",
        "HYPERHIVE_MODEL": "sonnet",
        "HYPERHIVE_AUTO_COMPACT": "1",
    }
    env = config_env(AgentConfig(auto_compact=False, notes_compact_bytes=100))
    assert env["HYPERHIVE_AUTO_COMPACT"] == "0"
    assert env["HYPERHIVE_NOTES_COMPACT_BYTES"] == "100"


@pytest.mark.parametrize("role", ["agent", "manager"])
def test_the_default_files_parse_to_the_defaults(role: str) -> None:
    name = "manager" if role == "manager" else "alice"
    files = default_files(name, role)
    assert set(files) == {"agent.toml", "prompt.md", "agent.nix"}
    assert parse_agent_toml(files["agent.toml"]) == AgentConfig()
    assert set(default_files(name, role, with_nix=False)) == {"agent.toml", "prompt.md"}


def test_the_default_files_refuse_a_bad_name() -> None:
    with pytest.raises(InvalidInput):
        default_files("manager", "agent")
    with pytest.raises(InvalidInput):
        default_files("Alice", "agent")


def test_the_nix_templates_are_the_ones_new_agents_get() -> None:
    assert (REPO / "nix/templates/agent.nix").read_text() == AGENT_NIX_TEMPLATE
    assert (REPO / "nix/templates/manager.nix").read_text() == MANAGER_NIX_TEMPLATE
    assert default_files("alice", "agent")["agent.nix"] == AGENT_NIX_TEMPLATE.encode()
    assert default_files("manager", "manager")["agent.nix"] == MANAGER_NIX_TEMPLATE.encode()


_text = st.text(st.characters(blacklist_categories=("Cc", "Cs")), min_size=1, max_size=12).filter(
    str.strip
)


@given(
    bash=st.lists(_text, max_size=4, unique=True),
    args=st.lists(_text, max_size=3),
    env=st.dictionaries(st.from_regex(r"[A-Z_][A-Z0-9_]{0,6}", fullmatch=True), _text, max_size=3),
)
def test_any_valid_config_survives_toml_and_json(
    bash: list[str], args: list[str], env: dict[str, str]
) -> None:
    # a TOML basic string is a JSON string without control characters
    q = lambda s: json.dumps(s, ensure_ascii=False)  # noqa: E731
    env_table = ", ".join(f"{k} = {q(v)}" for k, v in env.items())
    text = (
        f"allowed_bash = [{', '.join(map(q, bash))}]\n"
        "[extra_mcp_servers.s]\n"
        f"command = {q('cmd')}\nargs = [{', '.join(map(q, args))}]\nenv = {{ {env_table} }}\n"
    )
    config = parse_agent_toml(text)
    assert config.allowed_bash == tuple(bash)
    served = json.loads(render_etc(config)["extra-mcp.json"])["s"]
    assert (served["args"], served["env"]) == (args, env)
