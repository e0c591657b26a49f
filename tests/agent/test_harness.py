"""The harness turn loop against a real daemon (in-process hive), with a fake driver."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from hyperhive.agent.config import AgentEnv
from hyperhive.agent.drivers.base import ExitClass, OnEvent, TurnResult
from hyperhive.agent.harness import (
    Harness,
    IdleDriver,
    make_driver,
    parse_wake,
    system_prompt,
    turn_samples,
    wake_prompt,
)
from hyperhive.core.client import HiveClient
from hyperhive.core.hive import Hive
from hyperhive.core.models import Role
from tests.support.harness import agent_env, capture_stats, claude_harness, prepare, running
from tests.support.waiting import next_named, wait_for

BLOCK = "block"


class FakeDriver:
    """Plays canned results; ``BLOCK`` waits until `cancel`."""

    def __init__(
        self, results: list[Any], checks: tuple[tuple[ExitClass | None, str], ...] = ()
    ) -> None:
        self.results = list(results)
        self.checks = list(checks)
        self.prompts: list[str] = []
        self.new_sessions: list[bool] = []
        self.running = asyncio.Event()
        self._cancelled = asyncio.Event()

    async def check(self) -> tuple[ExitClass | None, str]:
        return self.checks.pop(0) if self.checks else (None, "fake 1.0")

    async def run_turn(
        self, prompt: str, *, on_event: OnEvent, new_session: bool = False
    ) -> TurnResult:
        self.prompts.append(prompt)
        self.new_sessions.append(new_session)
        await on_event({"type": "text", "text": "working on it"})
        await on_event({"type": "tool_use", "tool": "mcp__hyperhive__send", "id": "t1"})
        step = self.results.pop(0) if self.results else TurnResult(ExitClass.OK)
        if step == BLOCK:
            self.running.set()
            await self._cancelled.wait()
            return TurnResult(ExitClass.CANCELLED, error="cancelled by the operator")
        assert isinstance(step, TurnResult)
        return step

    def cancel(self) -> None:
        self._cancelled.set()


# --- pure parts ------------------------------------------------------------------------


def test_the_wake_prompt_names_sender_class_pending_and_redelivery() -> None:
    msg = {"id": 7, "sender": "bob", "body": "hi\n\nthere", "redelivered": True, "in_reply_to": 3}
    prompt = wake_prompt(msg, 2)
    assert prompt.startswith("You have a new message (#7) from bob (peer), in reply to #3.")
    assert "2 more messages are waiting" in prompt
    assert "delivered before" in prompt
    wake = parse_wake(prompt)
    assert wake is not None
    assert (wake.message_id, wake.sender, wake.sender_class, wake.body) == (
        7,
        "bob",
        "peer",
        "hi\n\nthere",
    )
    plain = wake_prompt({"id": 1, "sender": "operator", "body": "go"}, 0)
    assert "(operator)" in plain and "waiting" not in plain and "delivered before" not in plain
    assert parse_wake("something else") is None


def test_turn_samples_come_from_the_result_and_group_recipients() -> None:
    result = TurnResult(
        ExitClass.COMPACT_RETRY,
        duration_ms=1200,
        tool_calls=3,
        tools={"Bash": 1, "mcp__hyperhive__send": 2},
        input_tokens=10,
        output_tokens=5,
        cost_usd=0.25,
        messages_sent=["bob", "operator", "bob", "*"],
    )
    samples = turn_samples(result, wall_ms=1500, inbox_depth=4, notes_bytes=99)
    assert samples["turn.duration_ms"] == 1200
    assert samples["turn.exit.compact_retry"] == 1
    assert samples["turn.tool.bash"] == 1 and samples["turn.tool.mcp__hyperhive__send"] == 2
    assert samples["turn.sent.peer"] == 2 and samples["turn.sent.operator"] == 1
    assert samples["turn.sent.broadcast"] == 1
    assert samples["inbox.depth"] == 4 and samples["notes.bytes"] == 99
    assert samples["tokens.input"] == 10 and samples["cost.usd"] == 0.25


def test_the_system_prompt_holds_the_role_prompt_and_the_agents_own(tmp_path: Path) -> None:
    env = AgentEnv(
        name="alice",
        role=Role.AGENT,
        socket=tmp_path / "s",
        state_dir=tmp_path,
        etc_dir=tmp_path,
        prompt_extra="Write the README.",
    )
    text = system_prompt(env)
    assert "hyperhive agent `alice`" in text and text.rstrip().endswith("Write the README.")
    manager = system_prompt(replace(env, name="manager", role=Role.MANAGER, prompt_extra=""))
    assert "deployed/<id>" in manager and "denied/<id>" in manager


async def test_a_scripted_agent_without_a_script_is_idle_not_broken(tmp_path: Path) -> None:
    env = AgentEnv(
        name="alice",
        role=Role.AGENT,
        socket=tmp_path / "s",
        state_dir=tmp_path,
        etc_dir=tmp_path,
        driver="scripted",
    )
    driver, notes = make_driver(env)
    assert isinstance(driver, IdleDriver) and notes is None
    assert (await driver.check())[0] is None
    result = await driver.run_turn("wake", on_event=None)
    assert result.exit_class is ExitClass.OK


async def test_a_broken_driver_config_becomes_a_driver_that_explains(tmp_path: Path) -> None:
    env = AgentEnv(
        name="alice",
        role=Role.AGENT,
        socket=tmp_path / "s",
        state_dir=tmp_path,
        etc_dir=tmp_path,
        driver="scripted",
        script=tmp_path / "missing.json",
    )
    driver, notes = make_driver(env)
    assert notes is None
    state, reason = await driver.check()
    assert state is ExitClass.DRIVER_MISSING and "does not exist" in reason
    claude, claude_notes = make_driver(replace(env, driver="claude"))
    assert type(claude).__name__ == "ClaudeDriver" and claude_notes is not None


# --- the loop against a daemon ---------------------------------------------------------


async def test_a_failed_turn_is_requeued_and_redelivered_flagged(
    hive: Hive, host: HiveClient, tmp_path: Path
) -> None:
    await prepare(hive)
    stats = capture_stats(hive)
    driver = FakeDriver([TurnResult(ExitClass.FAILED, error="boom"), TurnResult(ExitClass.OK)])
    harness = Harness(agent_env(hive, tmp_path), driver)
    await host.subscribe(["turn.ended"])
    async with running(hive, harness):
        await host.call("messages.send", to="alice", body="do the thing")
        first = await next_named(host, "turn.ended")
        second = await next_named(host, "turn.ended")
    assert (first["exit_class"], first["error"]) == ("failed", "boom")
    assert second["exit_class"] == "ok"
    assert "delivered before" not in driver.prompts[0]
    assert "delivered before" in driver.prompts[1]
    assert first["message_id"] == second["message_id"]
    assert hive.broker.depth("alice") == 0 and hive.broker.inflight("alice") == 0
    assert [s.get("turn.exit.failed", 0) for s in stats] == [1, 0]
    assert stats[1]["turn.exit.ok"] == 1
    assert hive.agents.get("alice").last_turn_at is not None
    events = (await host.call("turns.events", agent="alice"))["events"]
    kinds = [(e["turn"], e["kind"]) for e in events]
    assert kinds == [
        (1, "turn_start"),
        (1, "text"),
        (1, "tool_use"),
        (1, "turn_end"),
        (2, "turn_start"),
        (2, "text"),
        (2, "tool_use"),
        (2, "turn_end"),
    ]
    assert events[4]["data"]["redelivered"] is True


async def test_a_driver_without_login_is_a_visible_state_until_it_can_run(
    hive: Hive, host: HiveClient, tmp_path: Path
) -> None:
    await prepare(hive)
    driver = FakeDriver(
        [],
        checks=(
            (ExitClass.DRIVER_MISSING, "'claude' not found"),
            (ExitClass.NEEDS_LOGIN, "login!"),
        ),
    )
    harness = Harness(agent_env(hive, tmp_path), driver)
    await host.subscribe(["agent.changed"])
    seen: list[tuple[str, str]] = []
    async with running(hive, harness):
        while ("running", "") not in seen[1:]:
            data = await next_named(host, "agent.changed")
            seen.append((data["state"], data["state_reason"]))
    assert seen == [
        ("driver_missing", "'claude' not found"),
        ("needs_login", "login!"),
        ("running", ""),
    ]


async def test_a_turn_that_needs_login_requeues_and_waits_for_credentials(
    hive: Hive, host: HiveClient, tmp_path: Path
) -> None:
    await prepare(hive)
    driver = FakeDriver(
        [TurnResult(ExitClass.NEEDS_LOGIN, error="401 please run /login")],
        checks=((None, "ok"), (ExitClass.NEEDS_LOGIN, "still no login"), (None, "ok")),
    )
    harness = Harness(agent_env(hive, tmp_path), driver)
    await host.subscribe(["turn.ended", "agent.changed"])
    async with running(hive, harness):
        await host.call("messages.send", to="alice", body="hello")
        states = []
        ended = []
        while len(ended) < 2:
            async with asyncio.timeout(10):
                event = await host.next_event()
            if event["event"] == "turn.ended":
                ended.append(event["data"]["exit_class"])
            else:
                states.append(event["data"]["state"])
    assert ended == ["needs_login", "ok"]
    assert "needs_login" in states and states[-1] == "running"
    assert len(driver.prompts) == 2 and "delivered before" in driver.prompts[1]


async def test_rate_limits_back_off_with_a_visible_state(
    hive: Hive, host: HiveClient, tmp_path: Path
) -> None:
    await prepare(hive)
    driver = FakeDriver([TurnResult(ExitClass.RATE_LIMITED, error="429", retry_after_s=0.01)])
    harness = Harness(agent_env(hive, tmp_path), driver)
    await host.subscribe(["agent.changed"])
    states: list[tuple[str, str]] = []
    async with running(hive, harness):
        await host.call("messages.send", to="alice", body="hello")
        while len(states) < 2 or states[-1][0] != "running":
            data = await next_named(host, "agent.changed")
            state = (data["state"], data["state_reason"])
            if state[0] == "rate_limited" or (states and states[-1] != state):
                states.append(state)
        await wait_for(lambda: len(driver.prompts) == 2)
    assert states[0][0] == "rate_limited" and "retrying at" in states[0][1]
    assert states[1] == ("running", "")


async def test_the_operator_cancels_a_turn_and_asks_for_a_new_session(
    hive: Hive, host: HiveClient, tmp_path: Path
) -> None:
    await prepare(hive)
    driver = FakeDriver([BLOCK, TurnResult(ExitClass.OK)])
    harness = Harness(agent_env(hive, tmp_path), driver)
    await host.subscribe(["turn.ended"])
    async with running(hive, harness):
        with pytest.raises(Exception, match="not running a turn"):
            await host.call("harness.cancel", agent="alice")
        await host.call("messages.send", to="alice", body="long job")
        async with asyncio.timeout(10):
            await driver.running.wait()
        await host.call("harness.cancel", agent="alice")
        cancelled = await next_named(host, "turn.ended")
        await host.call("harness.new_session", agent="alice")
        await wait_for(lambda: harness._new_session)
        await host.call("messages.send", to="alice", body="next")
        await next_named(host, "turn.ended")
    assert cancelled["exit_class"] == "cancelled"
    assert driver.new_sessions == [False, True]
    # a cancelled turn is not retried
    assert hive.broker.depth("alice") == 0 and hive.broker.inflight("alice") == 0


class CompactingDriver(FakeDriver):
    """A FakeDriver that can compact; records whether a turn was running meanwhile."""

    def __init__(self, results: list[Any]) -> None:
        super().__init__(results)
        self.compactions: list[bool] = []
        self.closed = False
        self.in_turn = False

    async def run_turn(
        self, prompt: str, *, on_event: OnEvent, new_session: bool = False
    ) -> TurnResult:
        self.in_turn = True
        try:
            return await super().run_turn(prompt, on_event=on_event, new_session=new_session)
        finally:
            self.in_turn = False

    async def compact(self, *, on_event: OnEvent) -> TurnResult:
        self.compactions.append(self.in_turn)
        await on_event({"type": "driver", "subtype": "compacted", "text": "context compacted"})
        return TurnResult(ExitClass.OK)

    async def close(self) -> None:
        self.closed = True


async def test_compact_now_waits_for_the_running_turn_and_the_driver_closes_at_the_end(
    hive: Hive, host: HiveClient, tmp_path: Path
) -> None:
    await prepare(hive)
    driver = CompactingDriver([BLOCK])
    harness = Harness(agent_env(hive, tmp_path), driver)
    await host.subscribe(["turn.ended"])
    async with running(hive, harness):
        await host.call("messages.send", to="alice", body="long job")
        async with asyncio.timeout(10):
            await driver.running.wait()
        await host.call("harness.compact", agent="alice")
        await asyncio.sleep(0.3)
        assert driver.compactions == []  # not while the turn runs
        await host.call("harness.cancel", agent="alice")
        await next_named(host, "turn.ended")
        await wait_for(lambda: len(driver.compactions) == 1)
        await wait_for(lambda: not harness._side)
    assert driver.compactions == [False]
    assert driver.closed
    events = (await host.call("turns.events", agent="alice"))["events"]
    subtypes = [e["data"].get("subtype") for e in events if e["kind"] == "driver"]
    assert subtypes == ["compacted", "compact_ok"]


async def test_a_restarted_harness_gets_back_what_was_in_flight(
    hive: Hive, host: HiveClient, tmp_path: Path
) -> None:
    await prepare(hive)
    driver = FakeDriver([BLOCK])
    harness = Harness(agent_env(hive, tmp_path), driver)
    async with running(hive, harness):
        await host.call("messages.send", to="alice", body="work")
        async with asyncio.timeout(10):
            await driver.running.wait()
    assert hive.broker.inflight("alice") == 1
    again = FakeDriver([TurnResult(ExitClass.OK)])
    await host.subscribe(["turn.ended"])
    harness2 = Harness(agent_env(hive, tmp_path), again)
    async with running(hive, harness2):
        ended = await next_named(host, "turn.ended")
    assert ended["turn"] == 2  # numbering goes on from the stored turns
    assert "delivered before" in again.prompts[0]


@pytest.mark.claude
async def test_the_real_claude_cli_runs_a_full_turn_with_in_process_tools_and_the_daemon(
    hive: Hive, host: HiveClient, tmp_path: Path
) -> None:
    """Harness + Claude Code (SDK) + in-harness MCP tools + daemon, model faked."""
    from tests.support.fake_anthropic import reply, text, tool_use

    await hive.create_agent("bob")
    forbidden = agent_env(hive, tmp_path).state_dir / "forbidden"
    script = [
        reply(
            tool_use("mcp__hyperhive__send", {"to": "bob", "body": "hi from claude"}).blocks[0],
            tool_use("Bash", {"command": f"touch {forbidden}"}).blocks[0],
        ),
        text("ok"),
    ]
    await host.subscribe(["turn.ended"])
    async with claude_harness(hive, tmp_path, script, allowed_bash=("git *",)) as api:
        await host.call("messages.send", to="alice", body="greet bob")
        ended = await next_named(host, "turn.ended", timeout=90)
    (first, second) = api.main_requests
    assert ended["exit_class"] == "ok", ended["error"]
    assert "You have a new message" in json.dumps(first.body["messages"])
    assert "mcp__hyperhive__ask_operator" in first.tool_names
    sent, refused = second.tool_results
    assert sent["content"][0]["text"].startswith("sent #")
    assert refused.get("is_error") and not forbidden.exists()
    [message] = await hive.broker.recv("bob", 0, 1)
    assert (message.sender, message.body) == ("alice", "hi from claude")
    events = (await host.call("turns.events", agent="alice"))["events"]
    kinds = {e["kind"] for e in events}
    assert {"tool_use", "result"} <= kinds, kinds
    keys = {s["key"] for s in (await host.call("stats.keys", agent="alice"))["series"]}
    assert {"turn.duration_ms", "turn.exit.ok", "turn.tool_calls", "turn.sent.peer"} <= keys


@pytest.mark.claude
async def test_a_full_context_in_a_harness_turn_is_compacted_and_retried(
    hive: Hive, host: HiveClient, tmp_path: Path
) -> None:
    from tests.support.fake_anthropic import prompt_too_long, text

    await host.subscribe(["turn.ended"])
    script = [text("first"), prompt_too_long(), text("after compact")]
    async with claude_harness(hive, tmp_path, script) as api:
        await host.call("messages.send", to="alice", body="turn one")
        first = await next_named(host, "turn.ended", timeout=90)
        await host.call("messages.send", to="alice", body="turn two")
        second = await next_named(host, "turn.ended", timeout=90)
    assert first["exit_class"] == "ok", first["error"]
    assert second["exit_class"] == "compact_retry", second["error"]
    assert api.remaining == 0
    keys = {s["key"] for s in (await host.call("stats.keys", agent="alice"))["series"]}
    assert "turn.exit.compact_retry" in keys
