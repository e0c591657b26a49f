"""The operator's model switch and the received-per-turn stat, on the real Claude CLI."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import pytest

from hyperhive.agent.drivers.base import ExitClass, TurnResult
from hyperhive.agent.harness import Harness, turn_samples
from hyperhive.core.client import HiveClient
from hyperhive.core.hive import Hive
from tests.support.harness import agent_env, capture_stats, claude_config, prepare, running
from tests.support.waiting import next_named, wait_for


def test_turn_samples_count_the_messages_a_turn_received_by_sender_class() -> None:
    samples = turn_samples(
        TurnResult(ExitClass.OK),
        wall_ms=1,
        inbox_depth=0,
        notes_bytes=0,
        received=["operator", "bob", "carol", "system"],
    )
    assert samples["turn.received"] == 4
    assert samples["turn.received.peer"] == 2
    assert samples["turn.received.operator"] == 1
    assert samples["turn.received.system"] == 1


@pytest.mark.claude
async def test_a_model_switch_reaches_the_next_turn_and_recv_counts_as_received(
    hive: Hive, host: HiveClient, tmp_path: Path
) -> None:
    """The operator switches alice's model while her harness runs; the next request to
    the model API names it, and a turn that takes a second message with recv records
    two messages received."""
    from hyperhive.agent.drivers.claude import ClaudeDriver
    from tests.support.claude_cli import require_claude
    from tests.support.fake_anthropic import FakeAnthropic, text, tool_use

    binary = require_claude()
    await prepare(hive)
    seen = capture_stats(hive)
    env = agent_env(hive, tmp_path)
    env.state_dir.mkdir(parents=True, exist_ok=True)
    short_tmp = Path(tempfile.mkdtemp(prefix="cc-", dir="/tmp"))
    script = [
        tool_use("mcp__hyperhive__recv", {"wait_seconds": 0, "max": 5}),
        text("took both"),
        text("second turn"),
    ]
    await host.subscribe(["turn.ended"])
    try:
        async with FakeAnthropic(script) as api:
            links: list = []
            config = claude_config(binary, api, env, links, tmp_path / "home", short_tmp)
            harness = Harness(
                env,
                ClaudeDriver(config, closing=links),
                tools=[config.hyperhive_server.hive_tools],
            )
            async with running(hive, harness):
                await host.call("messages.send", to="alice", body="first")
                await host.call("messages.send", to="alice", body="second")
                ended = await next_named(host, "turn.ended", timeout=90)
                assert ended["exit_class"] == "ok", ended["error"]
                await host.call("agents.set_model", name="alice", model="claude-override-2")
                await wait_for(lambda: harness._model == "claude-override-2")
                await host.call("messages.send", to="alice", body="third")
                ended = await next_named(host, "turn.ended", timeout=90)
                assert ended["exit_class"] == "ok", ended["error"]
            first, _, third = api.main_requests
    finally:
        shutil.rmtree(short_tmp, ignore_errors=True)
    assert first.body["model"] == "claude-test-1"
    assert third.body["model"] == "claude-override-2"
    assert seen[0]["turn.received"] == 2 and seen[0]["turn.received.operator"] == 2
    assert seen[1]["turn.received"] == 1


@pytest.mark.claude
async def test_peer_questions_go_end_to_end_between_two_real_harnesses(
    hive: Hive, host: HiveClient, tmp_path: Path
) -> None:
    """alice's model asks bob; bob's harness wakes with the question and his model
    answers it; alice's harness wakes with the answer."""
    from contextlib import AsyncExitStack

    from hyperhive.agent.drivers.claude import ClaudeDriver
    from tests.support.claude_cli import require_claude
    from tests.support.fake_anthropic import FakeAnthropic, text, tool_use

    binary = require_claude()
    scripts = {
        "alice": [
            tool_use("mcp__hyperhive__ask", {"question": "Which port?", "to": "bob"}),
            text("asked bob"),
            text("bob says 443"),
        ],
        "bob": [tool_use("mcp__hyperhive__answer", {"id": 1, "answer": "443"}), text("done")],
    }
    await host.subscribe(["turn.ended"])
    short_tmp = Path(tempfile.mkdtemp(prefix="cc-", dir="/tmp"))
    apis = {}
    try:
        async with AsyncExitStack() as stack:
            for name, script in scripts.items():
                await prepare(hive, name)
                env = agent_env(hive, tmp_path, name)
                env.state_dir.mkdir(parents=True, exist_ok=True)
                api = apis[name] = await stack.enter_async_context(FakeAnthropic(script))
                home = tmp_path / f"home-{name}"
                links: list = []
                config = claude_config(binary, api, env, links, home, short_tmp)
                harness = Harness(
                    env,
                    ClaudeDriver(config, closing=links),
                    tools=[config.hyperhive_server.hive_tools],
                )
                await stack.enter_async_context(running(hive, harness))
            await host.call("messages.send", to="alice", body="ask bob which port")
            ended = []
            while len(ended) < 3:  # alice asks, bob answers, alice reads the answer
                got = await next_named(host, "turn.ended", timeout=90)
                assert got["exit_class"] == "ok", got["error"]
                ended.append(got)
            # alice asks first; bob's answer wakes alice, whose second turn may end before
            # bob's own turn does
            assert ended[0]["agent"] == "alice"
            assert sorted(e["agent"] for e in ended) == ["alice", "alice", "bob"]
    finally:
        shutil.rmtree(short_tmp, ignore_errors=True)
    question = json.dumps(apis["bob"].main_requests[0].body["messages"])
    assert "[question #1 from alice]" in question and "Which port?" in question
    answered = apis["bob"].main_requests[1].tool_results[0]["content"][0]["text"]
    assert answered == "answered question #1; alice is told."
    wake = json.dumps(apis["alice"].main_requests[2].body["messages"])
    assert "[answer to question #1 from bob]" in wake and "443" in wake
    [q] = await hive.questions.list()
    assert (q.asker, q.target, q.status, q.answerer) == ("alice", "bob", "answered", "bob")
