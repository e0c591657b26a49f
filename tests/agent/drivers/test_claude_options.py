"""What the Claude driver asks of the CLI: config checks, rules, tool policy, environment."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from hyperhive.agent.drivers.claude_options import (
    DEFAULT_ENV,
    ClaudeConfig,
    ToolPolicy,
    allowed_tools,
    bundled_cli,
    claude_env,
    has_credentials,
    mcp_servers,
    permission_rules,
    sdk_options,
)
from hyperhive.agent.drivers.claude_session import WarmPool
from hyperhive.core.agent_config import McpServer
from hyperhive.core.errors import InvalidInput

HIVE = McpServer("hyperhive", ("agent", "mcp"), {"HYPERHIVE_SOCKET": "/run/hive/hive.sock"})


def config(**overrides: Any) -> ClaudeConfig:
    return ClaudeConfig(**{"cwd": Path("/state"), "hyperhive_mcp": HIVE, **overrides})


async def allow_all(tool: str, tool_input: dict[str, Any], context: Any) -> Any:
    return None


def test_the_default_cli_is_the_one_bundled_with_the_sdk() -> None:
    bundled = bundled_cli()
    assert bundled is not None and bundled.endswith("/_bundled/claude")
    assert config().cli_path == bundled
    assert config(binary="/opt/claude").cli_path == "/opt/claude"


def test_only_narrow_bash_patterns_are_cli_rules_the_rest_is_asked() -> None:
    cfg = config(allowed_bash=["git *", "Bash(ls -la)"])
    assert permission_rules(cfg) == ["Bash(git *)", "Bash(ls -la)"]
    assert permission_rules(config()) == []  # plain Bash is the policy's to allow
    options = sdk_options(cfg, can_use_tool=allow_all)
    assert options.allowed_tools == ["Bash(git *)", "Bash(ls -la)"]
    assert options.tools == ["Bash", "Edit", "Glob", "Grep", "Read", "Write"]
    assert options.permission_mode == "default"
    assert options.setting_sources == ["user"]
    assert options.strict_mcp_config is True


def test_options_resume_append_the_prompt_from_a_file_and_never_bypass_permissions() -> None:
    options = sdk_options(
        config(model="sonnet"),
        can_use_tool=allow_all,
        resume="s-1",
        system_prompt_path="/t/prompt.md",
    )
    assert options.resume == "s-1"
    assert options.model == "sonnet"
    assert options.system_prompt == {"type": "preset", "preset": "claude_code"}
    assert options.extra_args == {"append-system-prompt-file": "/t/prompt.md"}
    assert options.permission_mode != "bypassPermissions"
    once = sdk_options(config(persist_session=False), can_use_tool=allow_all)
    assert once.extra_args == {"no-session-persistence": None}
    assert once.resume is None


def test_extra_servers_are_configured_and_their_tool_lists_kept() -> None:
    github = McpServer("gh-mcp", ("--stdio",), {"TOKEN": "t"}, ("get_issue", "mcp__github__list"))
    search = McpServer("search", (), {}, ("*",))
    cfg = config(extra_mcp_servers={"github": github, "search": search})
    assert allowed_tools(cfg)[-4:] == [
        "mcp__hyperhive__*",
        "mcp__github__get_issue",
        "mcp__github__list",
        "mcp__search__*",
    ]
    servers = mcp_servers(cfg)
    assert list(servers) == ["hyperhive", "github", "search"]
    assert servers["github"] == {
        "type": "stdio",
        "command": "gh-mcp",
        "args": ["--stdio"],
        "env": {"TOKEN": "t"},
    }


def test_an_in_process_tool_server_is_served_through_the_sdk() -> None:
    from mcp.server.mcpserver import MCPServer

    server = MCPServer("hyperhive")
    servers = mcp_servers(ClaudeConfig(cwd=Path("/state"), hyperhive_server=server))
    assert servers["hyperhive"]["type"] == "sdk"
    assert servers["hyperhive"]["instance"] is server._lowlevel_server


def test_config_needs_exactly_one_way_to_the_hyperhive_tools() -> None:
    with pytest.raises(InvalidInput, match="exactly one"):
        ClaudeConfig(cwd=Path("/state"))
    with pytest.raises(InvalidInput, match="exactly one"):
        ClaudeConfig(cwd=Path("/state"), hyperhive_mcp=HIVE, hyperhive_server=object())


def test_config_refuses_an_extra_server_named_hyperhive() -> None:
    with pytest.raises(InvalidInput, match="reserved"):
        config(extra_mcp_servers={"hyperhive": McpServer("x")})


@pytest.mark.parametrize("key", ["", "a b", "a__b", "-x", "ü"])
def test_config_refuses_malformed_server_keys(key: str) -> None:
    with pytest.raises(InvalidInput, match="MCP server key"):
        config(extra_mcp_servers={key: McpServer("x")})


@pytest.mark.parametrize("pattern", ["", "  ", "git\n*"])
def test_config_refuses_blank_or_multiline_bash_patterns(pattern: str) -> None:
    with pytest.raises(InvalidInput, match="allowed_bash"):
        config(allowed_bash=[pattern])


def test_env_sets_cli_defaults_under_the_config_env() -> None:
    env = claude_env(config(env={"DISABLE_AUTOUPDATER": "0"}), base={"PATH": "/bin", "X": "1"})
    assert env == {**DEFAULT_ENV, "PATH": "/bin", "X": "1", "DISABLE_AUTOUPDATER": "0"}
    assert env["MCP_CONNECTION_NONBLOCKING"] == "0"
    assert claude_env(config(inherit_env=False), base={"X": "1"}) == DEFAULT_ENV


def test_auto_compact_off_turns_the_clis_compaction_off() -> None:
    assert "DISABLE_AUTO_COMPACT" not in claude_env(config(), base={})
    assert claude_env(config(auto_compact=False), base={})["DISABLE_AUTO_COMPACT"] == "1"


def test_without_inherit_env_the_harness_environment_never_reaches_the_cli() -> None:
    os.environ["HH_TEST_SECRET"] = "leak"
    try:
        options = sdk_options(config(inherit_env=False, env={"A": "1"}), can_use_tool=allow_all)
    finally:
        del os.environ["HH_TEST_SECRET"]
    # the SDK lays options.env over our own environment: every other variable is blanked
    assert options.env["HH_TEST_SECRET"] == "" and options.env["A"] == "1"


def test_credentials_come_from_env_a_saved_login_or_an_api_key_helper(tmp_path: Path) -> None:
    home = tmp_path / "home"
    assert not has_credentials({"HOME": str(home)})
    assert not has_credentials({})
    assert has_credentials({"HOME": str(home), "ANTHROPIC_API_KEY": "k"})
    assert has_credentials({"HOME": str(home), "ANTHROPIC_BASE_URL": "http://gw"})
    assert has_credentials({"CLAUDE_CODE_OAUTH_TOKEN": "t"})
    (home / ".claude").mkdir(parents=True)
    (home / ".claude" / ".credentials.json").write_text("{}")
    assert has_credentials({"HOME": str(home)})
    elsewhere = tmp_path / "creds"
    elsewhere.mkdir()
    assert not has_credentials({"HOME": str(home), "CLAUDE_CONFIG_DIR": str(elsewhere)})
    (elsewhere / "settings.json").write_text('{"apiKeyHelper": "/bin/key"}')
    assert has_credentials({"HOME": str(home), "CLAUDE_CONFIG_DIR": str(elsewhere)})


# -- the tool policy ------------------------------------------------------------------


def test_the_policy_allows_hyperhive_reads_and_any_bash_without_an_allow_list(
    tmp_path: Path,
) -> None:
    policy = ToolPolicy(config(cwd=tmp_path))
    assert policy.refusal("mcp__hyperhive__send", {"to": "bob"}) is None
    assert policy.refusal("Read", {"file_path": "/etc/passwd"}) is None
    assert policy.refusal("Bash", {"command": "rm -rf x"}) is None
    assert "not one of your tools" in (policy.refusal("WebFetch", {}) or "")


def test_a_bash_call_the_rules_left_open_is_refused_with_the_allow_list(tmp_path: Path) -> None:
    policy = ToolPolicy(config(cwd=tmp_path, allowed_bash=["git *"]))
    assert "Bash allow-list (git *)" in (policy.refusal("Bash", {"command": "curl x"}) or "")


def test_writes_stay_inside_the_agents_own_dirs(tmp_path: Path) -> None:
    state, agents, outside = tmp_path / "state", tmp_path / "agents", tmp_path / "etc"
    for d in (state, agents, outside):
        d.mkdir()
    policy = ToolPolicy(config(cwd=state, write_dirs=(state, agents)))
    assert policy.refusal("Write", {"file_path": "notes.md"}) is None
    assert policy.refusal("Edit", {"file_path": str(agents / "bob" / "prompt.md")}) is None
    assert "outside" in (policy.refusal("Write", {"file_path": str(outside / "x")}) or "")
    assert "outside" in (policy.refusal("Write", {"file_path": "../etc/x"}) or "")
    assert "no file path" in (policy.refusal("Write", {}) or "")


def test_a_link_in_the_agents_dir_does_not_carry_a_write_out_of_it(tmp_path: Path) -> None:
    state, outside = tmp_path / "state", tmp_path / "outside"
    state.mkdir()
    outside.mkdir()
    (state / "escape").symlink_to(outside)
    policy = ToolPolicy(config(cwd=state))
    assert "outside" in (policy.refusal("Write", {"file_path": "escape/owned"}) or "")


def test_extra_server_tools_follow_their_allowed_lists(tmp_path: Path) -> None:
    ext = McpServer("x", (), {}, ("whoami",))
    policy = ToolPolicy(config(cwd=tmp_path, extra_mcp_servers={"ext": ext}))
    assert policy.refusal("mcp__ext__whoami", {}) is None
    assert "not among the allowed tools" in (policy.refusal("mcp__ext__forbidden", {}) or "")
    assert "no MCP server" in (policy.refusal("mcp__other__x", {}) or "")


# -- the warm pool ------------------------------------------------------------------


class _Session:
    def __init__(self, busy: bool = False) -> None:
        self.busy = busy


def test_the_pool_closes_the_least_recently_used_idle_session_past_its_cap() -> None:
    pool = WarmPool(cap=2)
    a, b, c = _Session(), _Session(), _Session()
    assert pool.touch(a) == [] and pool.touch(b) == []  # type: ignore[arg-type]
    assert pool.touch(a) == []  # type: ignore[arg-type]
    assert pool.touch(c) == [b]  # type: ignore[arg-type]
    assert len(pool) == 2


def test_the_pool_never_closes_a_session_inside_a_turn() -> None:
    pool = WarmPool(cap=1)
    busy, new = _Session(busy=True), _Session()
    pool.touch(busy)  # type: ignore[arg-type]
    assert pool.touch(new) == []  # type: ignore[arg-type]
    assert len(pool) == 2  # over the cap until the busy one is idle again
