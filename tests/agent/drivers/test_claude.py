"""The Claude driver on the real bundled CLI, driven by the SDK, against the scripted API."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import shutil
import signal
import sys
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from hyperhive.agent.drivers.base import ExitClass
from hyperhive.agent.drivers.claude import ClaudeConfig, ClaudeDriver
from hyperhive.agent.drivers.claude_session import WarmPool
from hyperhive.core.agent_config import McpServer
from tests.support.claude_cli import require_claude
from tests.support.fake_anthropic import (
    FakeAnthropic,
    prompt_too_long,
    rate_limited,
    reply,
    text,
    tool_use,
    unauthorized,
)

BUILTINS = ["Bash", "Edit", "Glob", "Grep", "Read", "Write"]


def tool_server(calls: list[tuple[str, str]]) -> Any:
    """An in-process stand-in for hyperhive's tools that records its calls."""
    from mcp.server.mcpserver import MCPServer

    server: Any = MCPServer("hyperhive")

    @server.tool(structured_output=False)
    async def echo(text: str) -> str:
        """Echo the text back."""
        calls.append(("echo", text))
        return f"echo: {text}"

    @server.tool(structured_output=False)
    async def send(to: str, body: str) -> str:
        """Send a message to another agent."""
        calls.append(("send", to))
        return "sent"

    return server


@pytest.fixture
def short_tmp() -> Iterator[Path]:
    # the CLI puts sockets under CLAUDE_CODE_TMPDIR: keep the path short
    path = Path(tempfile.mkdtemp(prefix="cc-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


class Recorder:
    """Collects the events of a turn."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    async def __call__(self, event: dict[str, Any]) -> None:
        self.events.append(event)

    def of(self, kind: str, subtype: str | None = None) -> list[dict[str, Any]]:
        return [
            e
            for e in self.events
            if e["type"] == kind and (subtype is None or e.get("subtype") == subtype)
        ]


class Rig:
    """The scripted API, a config for the real CLI against it, and the drivers made."""

    def __init__(self, api: FakeAnthropic, tmp_path: Path, short_tmp: Path) -> None:
        self.api = api
        self.state = tmp_path / "state"
        self.home = tmp_path / "home"
        self.short_tmp = short_tmp
        self.calls: list[tuple[str, str]] = []
        self.drivers: list[ClaudeDriver] = []
        self.pool = WarmPool(cap=0)

    def config(self, **overrides: Any) -> ClaudeConfig:
        self.state.mkdir(exist_ok=True)
        self.home.mkdir(exist_ok=True)
        env = {
            "PATH": os.environ["PATH"],
            "HOME": str(self.home),
            "CLAUDE_CODE_TMPDIR": str(self.short_tmp),
            "DISABLE_TELEMETRY": "1",
            "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
            "ANTHROPIC_BASE_URL": self.api.base_url,
            "ANTHROPIC_API_KEY": "test",
            "CLAUDE_CODE_MAX_RETRIES": "0",
        }
        fields: dict[str, Any] = {
            "cwd": self.state,
            "hyperhive_server": tool_server(self.calls),
            "binary": require_claude(),
            "model": "claude-test-1",
            "env": env,
            "inherit_env": False,
            **overrides,
        }
        return ClaudeConfig(**fields)

    def driver(self, **overrides: Any) -> ClaudeDriver:
        driver = ClaudeDriver(self.config(**overrides), pool=self.pool)
        self.drivers.append(driver)
        return driver


@pytest.fixture
async def rig(tmp_path: Path, short_tmp: Path) -> AsyncIterator[Any]:
    made: list[Rig] = []

    def make(script: list[Any]) -> Any:
        return _RigContext(script, tmp_path, short_tmp, made)

    yield make
    for r in made:
        for driver in r.drivers:
            await driver.close()


class _RigContext:
    def __init__(self, script: list[Any], tmp_path: Path, short_tmp: Path, made: list[Rig]):
        self.api = FakeAnthropic(script)
        self.tmp_path, self.short_tmp, self.made = tmp_path, short_tmp, made

    async def __aenter__(self) -> Rig:
        await self.api.__aenter__()
        rig = Rig(self.api, self.tmp_path, self.short_tmp)
        self.made.append(rig)
        return rig

    async def __aexit__(self, *exc: object) -> None:
        for driver in self.made[-1].drivers:
            await driver.close()
        await self.api.__aexit__(*exc)


def history(request: Any) -> str:
    return json.dumps(request.body["messages"])


@pytest.mark.claude
async def test_a_turn_calls_the_hyperhive_tools_in_process_and_reports_the_result(
    rig: Any,
) -> None:
    script = [
        reply(
            tool_use("mcp__hyperhive__echo", {"text": "hi"}).blocks[0],
            tool_use("mcp__hyperhive__send", {"to": "bob", "body": "hello"}).blocks[0],
            input_tokens=111,
            output_tokens=5,
        ),
        text("done", input_tokens=222, output_tokens=7),
    ]
    async with rig(script) as r:
        driver = r.driver(system_prompt="-You are agent bob.")
        recorder = Recorder()
        async with asyncio.timeout(60):
            result = await driver.run_turn("wake up", on_event=recorder)
    assert result.exit_class is ExitClass.OK, result.error
    assert r.calls == [("echo", "hi"), ("send", "bob")]  # served here, in this process
    assert result.tools == {"mcp__hyperhive__echo": 1, "mcp__hyperhive__send": 1}
    assert result.messages_sent == ["bob"]
    assert (result.input_tokens, result.output_tokens) == (333, 12)
    (result_event,) = recorder.of("result")
    assert result.cost_usd == result_event["cost_usd"] > 0
    assert result.session_id
    first, second = r.api.main_requests
    assert first.tool_names[:6] == BUILTINS
    assert {"mcp__hyperhive__echo", "mcp__hyperhive__send"} <= set(first.tool_names[6:])
    assert "-You are agent bob." in json.dumps(first.body["system"])
    assert [r["content"] for r in second.tool_results] == [
        [{"type": "text", "text": "echo: hi"}],
        [{"type": "text", "text": "sent"}],
    ]


@pytest.mark.claude
async def test_calls_outside_the_allow_list_or_the_agents_dirs_are_refused(
    rig: Any, tmp_path: Path
) -> None:
    outside = tmp_path / "outside.txt"
    async with rig([]) as r:
        state = r.state
        r.api.script += [
            reply(
                tool_use("Bash", {"command": f"touch {state}/touched"}).blocks[0],
                tool_use("Bash", {"command": f"git init -q {state}/repo"}).blocks[0],
                tool_use("Write", {"file_path": str(outside), "content": "x"}).blocks[0],
                tool_use("Write", {"file_path": f"{state}/mine.txt", "content": "ok"}).blocks[0],
            ),
            text("done"),
        ]
        driver = r.driver(allowed_bash=["git *"])
        recorder = Recorder()
        async with asyncio.timeout(60):
            result = await driver.run_turn("wake up", on_event=recorder)
    assert result.exit_class is ExitClass.OK, result.error
    assert not (state / "touched").exists() and not outside.exists()
    assert (state / "repo" / ".git").is_dir()
    assert (state / "mine.txt").read_text() == "ok"
    results = r.api.main_requests[1].tool_results
    assert [bool(x.get("is_error")) for x in results] == [True, False, True, False]
    assert "Bash allow-list (git *)" in json.dumps(results[0]["content"])
    assert result.permission_denials == [f"Bash(touch {state}/touched)", f"Write({outside})"]
    denied = recorder.of("driver", "denied")
    assert [e["tool"] for e in denied] == ["Bash", "Write"]


# A stdio MCP server that starts in milliseconds, standing in for an agent's extra server.
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


@pytest.mark.claude
async def test_extra_servers_run_beside_the_in_process_tools_within_their_allowed_list(
    rig: Any, tmp_path: Path
) -> None:
    stub = tmp_path / "stub_mcp.py"
    stub.write_text(STUB_SERVER)
    ext = McpServer(sys.executable, ("-I", "-S", str(stub)), {}, ("whoami",))
    script = [
        reply(
            tool_use("mcp__ext__forbidden", {}).blocks[0],
            tool_use("mcp__ext__whoami", {}).blocks[0],
            tool_use("mcp__hyperhive__echo", {"text": "x"}).blocks[0],
        ),
        text("done"),
    ]
    async with rig(script) as r:
        driver = r.driver(extra_mcp_servers={"ext": ext})
        async with asyncio.timeout(60):
            result = await driver.run_turn("wake up", on_event=Recorder())
    assert result.exit_class is ExitClass.OK, result.error
    assert result.permission_denials == ["mcp__ext__forbidden"]
    results = r.api.main_requests[1].tool_results
    assert [bool(x.get("is_error")) for x in results] == [True, False, False]
    assert "stub: whoami" in json.dumps(results[1]["content"])
    assert r.calls == [("echo", "x")]


@pytest.mark.claude
async def test_a_second_turn_runs_warm_on_the_same_session(rig: Any) -> None:
    async with rig([text("first answer"), text("second answer")]) as r:
        driver = r.driver()
        async with asyncio.timeout(60):
            first = await driver.run_turn("turn one", on_event=Recorder())
            assert driver.warm
            second = await driver.run_turn("turn two", on_event=Recorder())
    assert first.exit_class is second.exit_class is ExitClass.OK
    assert driver.cold_starts == 1
    assert first.session_id == second.session_id
    assert "turn one" in history(r.api.main_requests[1])
    assert "first answer" in history(r.api.main_requests[1])
    # the CLI sums its cost over the process: each turn reports its own
    assert second.cost_usd == pytest.approx(first.cost_usd)


@pytest.mark.claude
async def test_an_idle_session_closes_and_the_next_turn_resumes_it(rig: Any) -> None:
    async with rig([text("first answer"), text("second answer")]) as r:
        driver = r.driver(idle_seconds=0.2)
        recorder = Recorder()
        async with asyncio.timeout(60):
            first = await driver.run_turn("turn one", on_event=recorder)
            while driver.warm:
                await asyncio.sleep(0.05)
            second = await driver.run_turn("turn two", on_event=recorder)
    assert second.exit_class is ExitClass.OK, second.error
    assert driver.cold_starts == 2
    assert second.session_id == first.session_id
    assert [e["text"] for e in recorder.of("driver", "session")] == [
        "new session",
        f"resumed {first.session_id}",
    ]
    assert "first answer" in history(r.api.main_requests[1])


@pytest.mark.claude
async def test_a_cli_that_died_between_turns_is_resumed_not_a_failed_turn(rig: Any) -> None:
    async with rig([text("first answer"), text("second answer")]) as r:
        driver = r.driver()
        recorder = Recorder()
        async with asyncio.timeout(60):
            first = await driver.run_turn("turn one", on_event=recorder)
            assert driver._session is not None
            pid = driver._session.client._transport._process.pid
            os.kill(pid, signal.SIGKILL)  # as the OOM killer would
            while driver.warm:
                await asyncio.sleep(0.05)
            second = await driver.run_turn("turn two", on_event=recorder)
    assert second.exit_class is ExitClass.OK, second.error
    assert driver.cold_starts == 2
    assert second.session_id == first.session_id
    assert "first answer" in history(r.api.main_requests[1])
    assert recorder.of("driver", "exit")


@pytest.mark.claude
async def test_a_new_session_forgets_the_conversation(rig: Any) -> None:
    async with rig([text("first answer"), text("second answer")]) as r:
        driver = r.driver()
        async with asyncio.timeout(60):
            first = await driver.run_turn("turn one", on_event=Recorder())
            second = await driver.run_turn("turn two", on_event=Recorder(), new_session=True)
    assert second.exit_class is ExitClass.OK
    assert second.session_id != first.session_id
    assert "turn one" not in history(r.api.main_requests[1])


@pytest.mark.claude
async def test_cancel_interrupts_the_turn_and_the_session_stays_warm(rig: Any) -> None:
    script = [tool_use("Bash", {"command": "tail -f /dev/null"}), text("late"), text("after")]
    async with rig(script) as r:
        driver = r.driver()

        async def on_event(event: dict[str, Any]) -> None:
            if event["type"] == "tool_use":
                driver.cancel()

        async with asyncio.timeout(60):
            result = await driver.run_turn("wake up", on_event=on_event)
            assert result.exit_class is ExitClass.CANCELLED
            assert r.api.remaining == 2  # the model never saw the tool's result
            after = await driver.run_turn("next", on_event=Recorder())
    assert result.tools == {"Bash": 1}
    assert after.exit_class is ExitClass.OK, after.error
    assert driver.cold_starts == 1


@pytest.mark.claude
async def test_a_cancel_while_the_cli_starts_never_sends_the_prompt(rig: Any) -> None:
    async with rig([text("never")]) as r:
        driver = r.driver()

        async def on_event(event: dict[str, Any]) -> None:
            if event.get("subtype") == "session":  # connected, the prompt not yet sent
                driver.cancel()

        async with asyncio.timeout(60):
            result = await driver.run_turn("wake up", on_event=on_event)
    assert result.exit_class is ExitClass.CANCELLED
    assert r.api.main_requests == []


@pytest.mark.claude
async def test_a_rate_limit_asks_the_harness_to_back_off(rig: Any) -> None:
    async with rig([rate_limited(), text("later")]) as r:
        driver = r.driver(rate_limit_backoff_seconds=7)
        async with asyncio.timeout(60):
            result = await driver.run_turn("wake up", on_event=Recorder())
            again = await driver.run_turn("wake up", on_event=Recorder())
    assert result.exit_class is ExitClass.RATE_LIMITED
    assert result.retry_after_s == 7
    assert again.exit_class is ExitClass.OK


@pytest.mark.claude
async def test_an_authentication_failure_needs_login(rig: Any) -> None:
    async with rig([unauthorized()]) as r:
        driver = r.driver()
        async with asyncio.timeout(60):
            assert (await driver.check())[0] is None
            result = await driver.run_turn("wake up", on_event=Recorder())
    assert result.exit_class is ExitClass.NEEDS_LOGIN
    assert "Invalid API key" in result.error


@pytest.mark.claude
async def test_check_needs_login_without_credentials(rig: Any) -> None:
    async with rig([]) as r:
        cfg = r.config()
    env = {k: v for k, v in cfg.env.items() if not k.startswith("ANTHROPIC_")}
    exit_class, reason = await ClaudeDriver(dataclasses.replace(cfg, env=env)).check()
    assert exit_class is ExitClass.NEEDS_LOGIN
    assert "ANTHROPIC_API_KEY" in reason


@pytest.mark.claude
async def test_a_full_context_is_compacted_by_the_cli_and_recorded(rig: Any) -> None:
    async with rig([text("first"), prompt_too_long(), text("after compact")]) as r:
        driver = r.driver()
        recorder = Recorder()
        async with asyncio.timeout(90):
            first = await driver.run_turn("turn one", on_event=recorder)
            assert first.exit_class is ExitClass.OK, first.error
            second = await driver.run_turn("turn two", on_event=recorder)
    assert second.exit_class is ExitClass.COMPACT_RETRY, second.error
    # the CLI compacts and retries on its own; the driver records it
    assert [e["subtype"] for e in recorder.of("driver") if e["subtype"] != "session"] == [
        "compacted"
    ]
    kinds = [x.kind for x in r.api.requests if x.kind in ("main", "compact")]
    assert kinds == ["main", "main", "compact", "main"]
    assert "turn two" in history(r.api.main_requests[-1])


@pytest.mark.claude
async def test_with_auto_compact_off_a_full_context_fails_the_turn(rig: Any) -> None:
    async with rig([text("first"), prompt_too_long(), text("never")]) as r:
        driver = r.driver(auto_compact=False)
        async with asyncio.timeout(60):
            await driver.run_turn("turn one", on_event=Recorder())
            result = await driver.run_turn("turn two", on_event=Recorder())
    assert result.exit_class is ExitClass.FAILED
    assert "too long" in result.error.lower()
    assert not [x for x in r.api.requests if x.kind == "compact"]


@pytest.mark.claude
async def test_the_operator_compacts_the_conversation_between_turns(rig: Any) -> None:
    async with rig([text("first"), text("second")]) as r:
        driver = r.driver()
        recorder = Recorder()
        async with asyncio.timeout(60):
            nothing = await driver.compact(on_event=recorder)
            await driver.run_turn("turn one", on_event=recorder)
            done = await driver.compact(on_event=recorder)
            await driver.run_turn("turn two", on_event=recorder)
    assert nothing.exit_class is ExitClass.FAILED and "no conversation" in nothing.error
    assert done.exit_class is ExitClass.OK, done.error
    assert [x.kind for x in r.api.requests if x.kind in ("main", "compact")] == [
        "main",
        "compact",
        "main",
    ]
    assert recorder.of("driver", "compacted")
    assert "Earlier work, summarised" in history(r.api.main_requests[-1])


@pytest.mark.claude
async def test_a_turn_past_its_timeout_is_stopped_and_the_next_one_resumes(rig: Any) -> None:
    async with rig([tool_use("Bash", {"command": "tail -f /dev/null"}), text("next")]) as r:
        driver = r.driver(turn_timeout_seconds=5)
        recorder = Recorder()
        async with asyncio.timeout(60):
            result = await driver.run_turn("wake up", on_event=recorder)
            assert not driver.warm
            after = await driver.run_turn("again", on_event=Recorder())
    assert result.exit_class is ExitClass.FAILED
    assert result.error == "the turn timed out after 5 s"
    assert recorder.of("driver", "timeout")
    assert after.exit_class is ExitClass.OK, after.error


async def test_a_missing_binary_is_driver_missing(tmp_path: Path) -> None:
    cfg = ClaudeConfig(
        cwd=tmp_path, hyperhive_server=tool_server([]), binary=str(tmp_path / "claude")
    )
    driver = ClaudeDriver(cfg, pool=WarmPool(cap=0))
    exit_class, reason = await driver.check()
    assert exit_class is ExitClass.DRIVER_MISSING and "not found" in reason
    recorder = Recorder()
    result = await driver.run_turn("hello", on_event=recorder)
    assert result.exit_class is ExitClass.DRIVER_MISSING
    assert recorder.of("driver", "exit")
