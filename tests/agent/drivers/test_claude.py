"""Claude Code driver: command lines, stream-json folding, and real CLI runs on a fake API."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hyperhive.agent.drivers.base import ExitClass
from hyperhive.agent.drivers.claude import (
    DEFAULT_ENV,
    ClaudeConfig,
    ClaudeDriver,
    CliRun,
    McpServer,
    allowed_tools,
    claude_argv,
    claude_env,
    has_credentials,
    mcp_config,
    summarise_event,
    turn_result,
)
from hyperhive.core.errors import InvalidInput
from tests.support.claude_cli import require_claude
from tests.support.fake_anthropic import (
    FakeAnthropic,
    prompt_too_long,
    reply,
    text,
    tool_use,
    unauthorized,
)

HIVE = McpServer("hyperhive", ("agent", "mcp"), {"HYPERHIVE_SOCKET": "/run/hive/hive.sock"})
BUILTINS = "Bash,Edit,Glob,Grep,Read,Write"


def config(**overrides: Any) -> ClaudeConfig:
    return ClaudeConfig(**{"cwd": Path("/state"), "hyperhive_mcp": HIVE, **overrides})


def argv_tail(**overrides: Any) -> list[str]:
    return claude_argv(config(**overrides), continue_session=True, mcp_config_path="/t/mcp.json")


# -- the command line ---------------------------------------------------------------


def test_argv_continues_the_session_with_every_builtin_and_hyperhive_tools() -> None:
    argv = claude_argv(
        config(model="sonnet"),
        continue_session=True,
        mcp_config_path="/t/mcp.json",
        system_prompt_path="/t/prompt.md",
    )
    assert argv == [
        "claude", "--print", "--verbose", "--output-format", "stream-json", "--continue",
        "--model", "sonnet",
        "--mcp-config", "/t/mcp.json", "--strict-mcp-config",
        "--setting-sources", "user",
        "--permission-mode", "dontAsk",
        "--tools", BUILTINS,
        "--allowedTools", "Bash", "Edit", "Glob", "Grep", "Read", "Write", "mcp__hyperhive__*",
        "--append-system-prompt-file", "/t/prompt.md",
    ]  # fmt: skip


def test_argv_for_a_new_session_does_not_continue() -> None:
    argv = claude_argv(config(), continue_session=False, mcp_config_path="/t/mcp.json")
    assert "--continue" not in argv
    assert "--model" not in argv  # no model configured: the CLI's default
    assert argv[:5] == ["claude", "--print", "--verbose", "--output-format", "stream-json"]


def test_argv_without_session_persistence_never_continues() -> None:
    argv = argv_tail(persist_session=False)
    assert "--no-session-persistence" in argv
    assert "--continue" not in argv


def test_allowed_bash_patterns_replace_plain_bash() -> None:
    argv = argv_tail(allowed_bash=["git *", "make test", "Bash(ls -la)"])
    rules = argv[argv.index("--allowedTools") + 1 :]
    assert rules == [
        "Bash(git *)", "Bash(make test)", "Bash(ls -la)",
        "Edit", "Glob", "Grep", "Read", "Write", "mcp__hyperhive__*",
    ]  # fmt: skip
    assert argv[argv.index("--tools") + 1] == BUILTINS  # the built-in set keeps plain Bash


def test_extra_servers_are_configured_and_allowed_by_their_tool_lists() -> None:
    github = McpServer("gh-mcp", ("--stdio",), {"TOKEN": "t"}, ("get_issue", "mcp__github__list"))
    search = McpServer("search", (), {}, ("*",))
    docs = McpServer("docs", (), {}, ())
    cfg = config(extra_mcp_servers={"github": github, "search": search, "docs": docs})
    assert allowed_tools(cfg)[-5:] == [
        "mcp__hyperhive__*",
        "mcp__github__get_issue",
        "mcp__github__list",
        "mcp__search__*",
        "mcp__docs__*",
    ]
    servers = mcp_config(cfg)["mcpServers"]
    assert list(servers) == ["hyperhive", "github", "search", "docs"]
    assert servers["hyperhive"] == {
        "type": "stdio",
        "command": "hyperhive",
        "args": ["agent", "mcp"],
        "env": {"HYPERHIVE_SOCKET": "/run/hive/hive.sock"},
    }
    assert servers["github"]["args"] == ["--stdio"]


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
    env = claude_env(config(env={"MCP_CONNECT_TIMEOUT_MS": "5"}), base={"PATH": "/bin", "X": "1"})
    assert env["PATH"] == "/bin" and env["X"] == "1"
    assert env["DISABLE_AUTOUPDATER"] == "1"
    assert env["MCP_CONNECTION_NONBLOCKING"] == "0"
    assert env["MCP_CONNECT_TIMEOUT_MS"] == "5"
    assert claude_env(config(inherit_env=False), base={"X": "1"}) == DEFAULT_ENV


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


# -- folding stream-json ------------------------------------------------------------

# Recorded from Claude Code 2.1.197 against the fake server (ids and noise trimmed): one
# model message calling three tools arrives as three assistant events with one message id
# and placeholder usage; Bash outside the allowed pattern is refused.
RECORDED_TURN = r"""
{"type":"system","subtype":"init","cwd":"/state","session_id":"s-1","tools":["Bash","Edit","mcp__hyperhive__send"],"mcp_servers":[{"name":"hyperhive","status":"connected"}],"model":"claude-test-1","permissionMode":"dontAsk","claude_code_version":"2.1.197"}
{"type":"assistant","message":{"id":"msg_0006","type":"message","role":"assistant","model":"claude-test-1","content":[{"type":"tool_use","id":"toolu_0001","name":"mcp__hyperhive__send","input":{"to":"bob","body":"x"}}],"stop_reason":null,"usage":{"input_tokens":100,"output_tokens":1}},"session_id":"s-1"}
{"type":"assistant","message":{"id":"msg_0006","type":"message","role":"assistant","model":"claude-test-1","content":[{"type":"tool_use","id":"toolu_0002","name":"mcp__hyperhive__send","input":{"to":"carol","body":"y"}}],"stop_reason":null,"usage":{"input_tokens":100,"output_tokens":1}},"session_id":"s-1"}
{"type":"assistant","message":{"id":"msg_0006","type":"message","role":"assistant","model":"claude-test-1","content":[{"type":"tool_use","id":"toolu_0003","name":"Bash","input":{"command":"touch /state/touched"}}],"stop_reason":null,"usage":{"input_tokens":100,"output_tokens":1}},"session_id":"s-1"}
{"type":"user","message":{"role":"user","content":[{"tool_use_id":"toolu_0001","type":"tool_result","content":[{"type":"text","text":"sent"}]}]},"session_id":"s-1"}
{"type":"user","message":{"role":"user","content":[{"tool_use_id":"toolu_0002","type":"tool_result","content":"carol is not in your allowed recipients: route through the manager","is_error":true}]},"session_id":"s-1"}
{"type":"user","message":{"role":"user","content":[{"type":"tool_result","content":"Permission to use Bash has been denied because Claude Code is running in don't ask mode.","is_error":true,"tool_use_id":"toolu_0003"}]},"session_id":"s-1"}
{"type":"assistant","message":{"id":"msg_0007","type":"message","role":"assistant","model":"claude-test-1","content":[{"type":"text","text":"done"}],"stop_reason":null,"usage":{"input_tokens":100,"output_tokens":1}},"session_id":"s-1"}
{"type":"result","subtype":"success","is_error":false,"api_error_status":null,"duration_ms":174,"num_turns":2,"result":"done","session_id":"s-1","total_cost_usd":0.002,"usage":{"input_tokens":200,"cache_creation_input_tokens":3,"cache_read_input_tokens":4,"output_tokens":40},"permission_denials":[{"tool_name":"Bash","tool_use_id":"toolu_0003","tool_input":{"command":"touch /state/touched"}}],"terminal_reason":"completed"}
"""  # noqa: E501

RATE_LIMITED = r"""
{"type":"assistant","message":{"id":"m","model":"<synthetic>","role":"assistant","content":[{"type":"text","text":"API Error: Request rejected (429) · Number of request tokens has exceeded your rate limit"}]},"error":"rate_limit"}
{"type":"result","subtype":"success","is_error":true,"api_error_status":429,"duration_ms":64,"num_turns":1,"result":"API Error: Request rejected (429) · Number of request tokens has exceeded your rate limit","total_cost_usd":0,"usage":{"input_tokens":0,"output_tokens":0},"permission_denials":[]}
"""  # noqa: E501

TOO_LONG = r"""
{"type":"system","subtype":"status","status":"compacting"}
{"type":"system","subtype":"status","status":null,"compact_result":"failed","compact_error":"too_few_groups"}
{"type":"assistant","message":{"id":"c","model":"<synthetic>","role":"assistant","content":[{"type":"text","text":"Prompt is too long"}]},"error":"invalid_request"}
{"type":"result","subtype":"success","is_error":true,"api_error_status":400,"duration_ms":66,"num_turns":1,"result":"Prompt is too long","total_cost_usd":0,"usage":{"input_tokens":0,"output_tokens":0},"permission_denials":[],"terminal_reason":"prompt_too_long"}
"""  # noqa: E501


def fold(lines: str) -> tuple[CliRun, list[dict[str, Any]]]:
    run = CliRun()
    events = [e for line in lines.strip().splitlines() for e in run.feed_line(line)]
    return run, events


def test_tool_calls_are_counted_from_blocks_and_usage_taken_from_the_result_event() -> None:
    run, _ = fold(RECORDED_TURN)
    result = turn_result([run], *run.outcome())
    assert result.exit_class is ExitClass.OK and result.error == ""
    assert result.tool_calls == 3
    assert result.tools == {"mcp__hyperhive__send": 2, "Bash": 1}
    # the assistant events carry placeholder usage (4 x 100 in): only the result counts
    assert (result.input_tokens, result.output_tokens) == (200, 40)
    assert (result.cache_creation_tokens, result.cache_read_tokens) == (3, 4)
    assert (result.cost_usd, result.num_turns, result.duration_ms) == (0.002, 2, 174.0)
    assert result.session_id == "s-1"


def test_refused_sends_are_not_messages_sent_and_denials_name_the_call() -> None:
    run, _ = fold(RECORDED_TURN)
    result = turn_result([run], *run.outcome())
    assert result.messages_sent == ["bob"]
    assert result.permission_denials == ["Bash(touch /state/touched)"]


def test_every_event_is_summarised_for_the_harness() -> None:
    _, events = fold(RECORDED_TURN)
    assert [e["type"] for e in events] == [
        "system", "tool_use", "tool_use", "tool_use",
        "tool_result", "tool_result", "tool_result", "text", "result",
    ]  # fmt: skip
    assert events[0]["mcp_servers"] == {"hyperhive": "connected"}
    assert events[3] == {
        "type": "tool_use",
        "tool": "Bash",
        "id": "toolu_0003",
        "input": {"command": "touch /state/touched"},
    }
    assert events[4] == {
        "type": "tool_result",
        "id": "toolu_0001",
        "is_error": False,
        "text": "sent",
    }
    assert events[6]["is_error"] is True
    assert events[-1]["cost_usd"] == 0.002 and events[-1]["is_error"] is False


def test_summaries_truncate_long_text_and_inputs() -> None:
    long = "x" * 5000
    event = {
        "type": "assistant",
        "message": {
            "content": [
                {"type": "text", "text": long},
                {
                    "type": "tool_use",
                    "id": "t",
                    "name": "Write",
                    "input": {"content": long, "n": 3},
                },
            ]
        },
    }
    text_event, call = summarise_event(event)
    assert len(text_event["text"]) == 500 and text_event["text"].endswith("…")
    assert len(call["input"]["content"]) == 200 and call["input"]["n"] == 3


def test_a_rate_limited_run_asks_the_harness_to_back_off() -> None:
    run, _ = fold(RATE_LIMITED)
    exit_class, error = run.outcome()
    assert exit_class is ExitClass.RATE_LIMITED
    assert "rate limit" in error


@pytest.mark.parametrize(
    ("status", "text", "expected"),
    [
        (401, "Invalid API key · Fix external API key", ExitClass.NEEDS_LOGIN),
        (None, "Invalid API key · Please run /login", ExitClass.NEEDS_LOGIN),
        (529, "API Error: 529 Overloaded.", ExitClass.RATE_LIMITED),
        (None, "Claude AI usage limit reached|1700000000", ExitClass.RATE_LIMITED),
        (500, "API Error: 500 boom.", ExitClass.FAILED),
    ],
)
def test_api_errors_are_classified(status: int | None, text: str, expected: ExitClass) -> None:
    run = CliRun()
    run.feed({"type": "result", "is_error": True, "api_error_status": status, "result": text})
    assert run.outcome() == (expected, text)


def test_a_full_context_is_recognised() -> None:
    run, events = fold(TOO_LONG)
    assert run.prompt_too_long
    assert run.compact_result == "failed"
    assert events[1] == {
        "type": "system",
        "subtype": "status",
        "status": None,
        "compact_result": "failed",
        "compact_error": "too_few_groups",
    }
    assert run.outcome()[0] is ExitClass.FAILED


def test_a_run_without_a_result_fails_with_its_stderr() -> None:
    run = CliRun(returncode=1, stderr="Error: boom\n")
    assert run.outcome() == (ExitClass.FAILED, "Error: boom")
    assert CliRun(returncode=1).outcome() == (ExitClass.FAILED, "claude exited 1 without a result")
    assert CliRun().feed_line("not json") == [
        {"type": "driver", "subtype": "stdout", "text": "not json"}
    ]


# -- a missing CLI ------------------------------------------------------------------


async def test_check_reports_a_missing_binary(tmp_path: Path) -> None:
    for binary in (str(tmp_path / "claude"), "no-such-claude"):
        driver = ClaudeDriver(config(binary=binary, env={"PATH": str(tmp_path)}))
        exit_class, reason = await driver.check()
        assert exit_class is ExitClass.DRIVER_MISSING
        assert "not found" in reason


async def test_a_turn_with_a_missing_binary_returns_driver_missing(tmp_path: Path) -> None:
    events: list[dict[str, Any]] = []

    async def on_event(event: dict[str, Any]) -> None:
        events.append(event)

    cfg = config(binary=str(tmp_path / "claude"), cwd=tmp_path)
    result = await ClaudeDriver(cfg).run_turn("hello", on_event=on_event)
    assert result.exit_class is ExitClass.DRIVER_MISSING
    assert "cannot start" in result.error
    assert events == [{"type": "driver", "subtype": "exit", "text": result.error}]


def test_a_cli_that_exits_without_reading_its_prompt_fails_the_turn_on_uvloop(
    tmp_path: Path,
) -> None:
    """The harness runs on uvloop, whose closed pipes raise RuntimeError, not BrokenPipe."""
    uvloop = pytest.importorskip("uvloop")
    binary = tmp_path / "claude"
    binary.write_text("#!/bin/sh\nexit 3\n")
    binary.chmod(0o755)

    async def on_event(event: dict[str, Any]) -> None:
        return None

    async def turn() -> Any:
        driver = ClaudeDriver(config(binary=str(binary), cwd=tmp_path))
        results = []
        for _ in range(3):  # the race (the CLI gone before the prompt is written) is likely
            results.append(await driver.run_turn("x" * 200_000, on_event=on_event))
        return results

    for result in uvloop.run(turn()):
        assert result.exit_class is ExitClass.FAILED


# -- the real CLI on a fake API -----------------------------------------------------

ECHO_SERVER = '''
import json, sys
from mcp.server.mcpserver import MCPServer

server = MCPServer("echo")


def log(entry):
    with open(sys.argv[1], "a") as f:
        f.write(json.dumps(entry) + "\\n")


@server.tool(structured_output=False)
async def echo(text: str) -> str:
    """Echo the text back."""
    log({"tool": "echo", "text": text})
    return f"echo: {text}"


@server.tool(structured_output=False)
async def send(to: str, body: str) -> str:
    """Send a message to another agent."""
    log({"tool": "send", "to": to, "body": body})
    return "sent"


server.run("stdio")
'''

# A stand-in MCP server that starts in milliseconds (the SDK takes a second to import),
# for the tests that need a connected server but not the SDK.
STUB_SERVER = """
import json, sys

TOOLS = [{"name": n, "description": n, "inputSchema": {"type": "object", "properties": {}}}
         for n in ("whoami", "forbidden")]
for line in sys.stdin:
    msg = json.loads(line)
    if "id" not in msg:
        continue
    method, reply = msg.get("method"), {"jsonrpc": "2.0", "id": msg["id"]}
    if method == "initialize":
        reply["result"] = {
            "protocolVersion": msg["params"]["protocolVersion"],
            "capabilities": {"tools": {}},
            "serverInfo": {"name": "stub", "version": "0"},
        }
    elif method == "tools/list":
        reply["result"] = {"tools": TOOLS}
    elif method == "tools/call":
        reply["result"] = {"content": [{"type": "text", "text": "stub: " + msg["params"]["name"]}]}
    elif method == "ping":
        reply["result"] = {}
    else:
        reply["error"] = {"code": -32601, "message": "no method " + str(method)}
    print(json.dumps(reply), flush=True)
"""


@pytest.fixture
def short_tmp() -> Iterator[Path]:
    # the CLI puts sockets under CLAUDE_CODE_TMPDIR: keep the path short
    path = Path(tempfile.mkdtemp(prefix="cc-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def stub(tmp_path: Path) -> McpServer:
    script = tmp_path / "stub_mcp.py"
    script.write_text(STUB_SERVER)
    return McpServer(sys.executable, ("-I", "-S", str(script)))


def cli_config(
    api: FakeAnthropic, tmp_path: Path, short_tmp: Path, mcp: McpServer, **overrides: Any
) -> ClaudeConfig:
    home, state = tmp_path / "home", tmp_path / "state"
    home.mkdir(exist_ok=True)
    state.mkdir(exist_ok=True)
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(home),
        "CLAUDE_CODE_TMPDIR": str(short_tmp),
        "DISABLE_TELEMETRY": "1",
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        "ANTHROPIC_BASE_URL": api.base_url,
        "ANTHROPIC_API_KEY": "test",
        "CLAUDE_CODE_MAX_RETRIES": "0",
    }
    fields: dict[str, Any] = {
        "cwd": state,
        "hyperhive_mcp": mcp,
        "binary": require_claude(),
        "model": "claude-test-1",
        "env": env,
        "inherit_env": False,
        **overrides,
    }
    return ClaudeConfig(**fields)


class Recorder:
    """Collects the events of a turn; optionally reacts to one."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    async def __call__(self, event: dict[str, Any]) -> None:
        self.events.append(event)

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["type"] == kind]


@pytest.mark.claude
async def test_a_turn_calls_the_hyperhive_tools_and_reports_the_result_event(
    tmp_path: Path, short_tmp: Path
) -> None:
    echo = tmp_path / "echo_mcp.py"
    echo.write_text(ECHO_SERVER)
    calls = tmp_path / "calls.jsonl"
    script = [
        reply(
            tool_use("mcp__hyperhive__echo", {"text": "hi"}).blocks[0],
            tool_use("mcp__hyperhive__send", {"to": "bob", "body": "hello"}).blocks[0],
            input_tokens=111,
            output_tokens=5,
        ),
        text("done", input_tokens=222, output_tokens=7),
    ]
    async with FakeAnthropic(script) as api:
        mcp = McpServer(sys.executable, (str(echo), str(calls)))
        cfg = cli_config(api, tmp_path, short_tmp, mcp, system_prompt="-You are agent bob.")
        recorder = Recorder()
        async with asyncio.timeout(60):
            result = await ClaudeDriver(cfg).run_turn("wake up", on_event=recorder)
    assert result.exit_class is ExitClass.OK, result.error
    assert [json.loads(line) for line in calls.read_text().splitlines()] == [
        {"tool": "echo", "text": "hi"},
        {"tool": "send", "to": "bob", "body": "hello"},
    ]
    assert result.tool_calls == 2
    assert result.tools == {"mcp__hyperhive__echo": 1, "mcp__hyperhive__send": 1}
    assert result.messages_sent == ["bob"]
    # usage from the result event: both API calls, never the per-block placeholders
    assert (result.input_tokens, result.output_tokens) == (333, 12)
    (result_event,) = recorder.of("result")
    assert result.cost_usd == result_event["cost_usd"]
    assert result.duration_ms == result_event["duration_ms"]
    first, second = api.main_requests
    assert first.tool_names == [
        *BUILTINS.split(","),
        "mcp__hyperhive__echo",
        "mcp__hyperhive__send",
    ]
    assert "-You are agent bob." in json.dumps(first.body["system"])
    assert "wake up" in json.dumps(first.body["messages"])
    assert [r["content"] for r in second.tool_results] == [
        [{"type": "text", "text": "echo: hi"}],
        [{"type": "text", "text": "sent"}],
    ]


@pytest.mark.claude
async def test_the_cli_refuses_calls_outside_the_allowed_rules(
    tmp_path: Path, short_tmp: Path, stub: McpServer
) -> None:
    state = tmp_path / "state"
    script = [
        reply(
            tool_use("Bash", {"command": f"touch {state}/touched"}).blocks[0],
            tool_use("Bash", {"command": f"git init -q {state}/repo"}).blocks[0],
            tool_use("mcp__ext__forbidden", {}).blocks[0],
            tool_use("mcp__ext__whoami", {}).blocks[0],
        ),
        text("done"),
    ]
    async with FakeAnthropic(script) as api:
        ext = McpServer(stub.command, stub.args, {}, ("whoami",))
        cfg = cli_config(
            api, tmp_path, short_tmp, stub, allowed_bash=["git *"], extra_mcp_servers={"ext": ext}
        )
        async with asyncio.timeout(60):
            result = await ClaudeDriver(cfg).run_turn("wake up", on_event=Recorder())
    assert result.exit_class is ExitClass.OK, result.error
    assert result.permission_denials == [f"Bash(touch {state}/touched)", "mcp__ext__forbidden"]
    assert not (state / "touched").exists()
    assert (state / "repo" / ".git").is_dir()
    results = api.main_requests[1].tool_results
    assert [bool(r.get("is_error")) for r in results] == [True, False, True, False]
    assert result.tools == {"Bash": 2, "mcp__ext__forbidden": 1, "mcp__ext__whoami": 1}


@pytest.mark.claude
async def test_a_full_context_is_compacted_and_the_turn_retried(
    tmp_path: Path, short_tmp: Path, stub: McpServer
) -> None:
    async with FakeAnthropic([text("first"), prompt_too_long(), text("after compact")]) as api:
        driver = ClaudeDriver(cli_config(api, tmp_path, short_tmp, stub))
        recorder = Recorder()
        async with asyncio.timeout(90):
            first = await driver.run_turn("turn one", on_event=recorder)
            assert first.exit_class is ExitClass.OK, first.error
            second = await driver.run_turn("turn two", on_event=recorder)
    assert second.exit_class is ExitClass.COMPACT_RETRY, second.error
    assert [e["subtype"] for e in recorder.of("driver")] == ["compact", "retry"]
    kinds = [r.kind for r in api.requests if r.kind in ("main", "compact")]
    assert kinds == ["main", "main", "compact", "main"]
    assert api.remaining == 0
    assert "turn two" in json.dumps(api.main_requests[-1].body["messages"][-1])


@pytest.mark.claude
async def test_an_authentication_failure_needs_login(
    tmp_path: Path, short_tmp: Path, stub: McpServer
) -> None:
    async with FakeAnthropic([unauthorized()]) as api:
        driver = ClaudeDriver(cli_config(api, tmp_path, short_tmp, stub))
        async with asyncio.timeout(60):
            assert (await driver.check())[0] is None
            result = await driver.run_turn("wake up", on_event=Recorder())
    assert result.exit_class is ExitClass.NEEDS_LOGIN
    assert "Invalid API key" in result.error


@pytest.mark.claude
async def test_cancel_interrupts_the_running_cli(
    tmp_path: Path, short_tmp: Path, stub: McpServer
) -> None:
    async with FakeAnthropic([tool_use("Bash", {"command": "sleep 60"}), text("late")]) as api:
        driver = ClaudeDriver(cli_config(api, tmp_path, short_tmp, stub))
        recorder = Recorder()

        async def on_event(event: dict[str, Any]) -> None:
            await recorder(event)
            if event["type"] == "tool_use":
                driver.cancel()

        async with asyncio.timeout(60):
            result = await driver.run_turn("wake up", on_event=on_event)
    assert result.exit_class is ExitClass.CANCELLED
    assert result.tools == {"Bash": 1}
    assert api.remaining == 1  # the model never saw the tool's result


@pytest.mark.claude
async def test_check_needs_login_without_credentials(
    tmp_path: Path, short_tmp: Path, stub: McpServer
) -> None:
    async with FakeAnthropic([]) as api:
        cfg = cli_config(api, tmp_path, short_tmp, stub)
    env = {k: v for k, v in cfg.env.items() if not k.startswith("ANTHROPIC_")}
    driver = ClaudeDriver(dataclasses.replace(cfg, env=env))
    exit_class, reason = await driver.check()
    assert exit_class is ExitClass.NEEDS_LOGIN
    assert "ANTHROPIC_API_KEY" in reason


@pytest.mark.claude
async def test_a_turn_that_cannot_be_compacted_fails_without_a_retry(
    tmp_path: Path, short_tmp: Path, stub: McpServer
) -> None:
    # a fresh session has nothing to compact: /compact fails and the turn is not retried
    async with FakeAnthropic([prompt_too_long(), text("never played")]) as api:
        driver = ClaudeDriver(cli_config(api, tmp_path, short_tmp, stub))
        recorder = Recorder()
        async with asyncio.timeout(60):
            result = await driver.run_turn("wake up", on_event=recorder)
    assert result.exit_class is ExitClass.FAILED
    assert "/compact failed" in result.error
    assert [e["subtype"] for e in recorder.of("driver")] == ["compact"]
    assert api.remaining == 1


@pytest.mark.claude
async def test_a_turn_past_its_timeout_is_stopped(
    tmp_path: Path, short_tmp: Path, stub: McpServer
) -> None:
    async with FakeAnthropic([tool_use("Bash", {"command": "sleep 60"})]) as api:
        cfg = cli_config(api, tmp_path, short_tmp, stub, turn_timeout_seconds=0.5)
        recorder = Recorder()
        async with asyncio.timeout(60):
            result = await ClaudeDriver(cfg).run_turn("wake up", on_event=recorder)
    assert result.exit_class is ExitClass.FAILED
    assert result.error == "the turn timed out after 0.5 s"
    assert recorder.of("driver")[0]["subtype"] == "timeout"
