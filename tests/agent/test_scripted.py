"""The scripted driver: scripts, the manager's commit step, and a conversation end to end."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from hyperhive.agent.drivers.base import ExitClass
from hyperhive.agent.drivers.scripted import (
    ScriptedDriver,
    demo_script,
    expand,
    load_script,
    matches,
    parse_script,
)
from hyperhive.agent.harness import wake_prompt
from hyperhive.agent.mcp_server import HiveLink, HiveTools, build_server
from hyperhive.core.agent_config import McpServer, default_files
from hyperhive.core.client import HiveClient
from hyperhive.core.errors import InvalidInput
from hyperhive.core.hive import Hive
from hyperhive.core.models import AgentState
from tests.support.harness import harness_env, harness_process


def test_scripts_are_validated_and_turns_match_on_sender_and_body() -> None:
    turns = parse_script(
        {
            "turns": [
                {"on": ["from:bob", "body:hi"], "steps": [{"send": {"to": "bob", "body": "x"}}]},
                {"on": "any", "once": True, "steps": []},
            ]
        }
    )
    assert matches(turns[0], "bob", "oh hi there")
    assert not matches(turns[0], "carol", "hi") and not matches(turns[0], "bob", "hello")
    assert matches(turns[1], "anyone", "") and turns[1].once
    with pytest.raises(InvalidInput, match='"on"'):
        parse_script([{"on": "sender:bob"}])
    with pytest.raises(InvalidInput, match="step"):
        parse_script([{"steps": ["send"]}])
    assert expand({"a": ["{sender} said {body}"]}, {"sender": "bob", "body": "hi"}) == {
        "a": ["bob said hi"]
    }


def test_the_demo_scripts_ship_with_the_package() -> None:
    for name in ("manager", "alice", "bob"):
        assert load_script(demo_script(name))


def manager_tools(hive: Hive, etc: Path) -> tuple[Any, HiveLink]:
    """The manager's tool server, in this process as in the harness, and its link."""
    link = HiveLink(hive.settings.agent_socket("manager"))
    return build_server(HiveTools(link, manager=True, etc_dir=etc)), link


async def test_the_manager_script_commits_a_change_and_asks_to_apply_it(
    hive: Hive, host: HiveClient, tmp_path: Path
) -> None:
    await hive.create_agent("alice")
    await hive.repos.create("alice", default_files("alice", "agent", with_nix=False))
    script = tmp_path / "manager.json"
    script.write_text(
        json.dumps(
            [
                {
                    "on": "from:alice",
                    "steps": [
                        {
                            "commit": {
                                "agent": "alice",
                                "files": {"prompt.md": "# alice\nWrite the README.\n"},
                                "message": "alice writes the README",
                            }
                        },
                        {"request_apply_commit": {"agent": "alice", "commit_ref": "{commit}"}},
                        {"send": {"to": "alice", "body": "proposed {commit}"}},
                    ],
                }
            ]
        )
    )
    server, link = manager_tools(hive, tmp_path / "etc")
    driver = ScriptedDriver(
        script,
        mcp=server,
        name="manager",
        state_dir=tmp_path / "state",
        agents_root=hive.settings.proposed_root,
        closing=[link],
    )
    assert (await driver.check())[0] is None
    events: list[dict[str, Any]] = []

    async def on_event(event: dict[str, Any]) -> None:
        events.append(event)

    prompt = wake_prompt({"id": 1, "sender": "alice", "body": "I need a prompt"}, 0)
    try:
        result = await driver.run_turn(prompt, on_event=on_event)
    finally:
        await driver.close()
    assert result.exit_class is ExitClass.OK, result.error
    assert result.tools == {
        "mcp__hyperhive__request_apply_commit": 1,
        "mcp__hyperhive__send": 1,
    }
    assert result.messages_sent == ["alice"]
    repo = hive.settings.proposed_dir("alice")
    log = subprocess.run(
        ["git", "-C", str(repo), "log", "--format=%H %s", "-1"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split(" ", 1)
    assert log[1].strip() == "alice writes the README"
    results = [e for e in events if e["type"] == "tool_result"]
    assert not results[0]["is_error"], results[0]["text"]
    assert results[0]["text"].startswith("approval #")
    approvals = (await host.call("approvals.list"))["approvals"]
    assert [(a["kind"], a["agent"]) for a in approvals] == [("apply_commit", "alice")]
    assert approvals[0]["fetched_sha"] == log[0]


async def test_a_fail_step_fails_the_turn_and_once_entries_play_once(
    hive: Hive, tmp_path: Path
) -> None:
    script = tmp_path / "s.json"
    script.write_text(
        json.dumps(
            [
                {"on": "body:go", "once": True, "steps": [{"fail": "not yet"}]},
                {"on": "body:go", "steps": [{"sleep": 0}]},
            ]
        )
    )
    driver = ScriptedDriver(
        script,
        mcp=McpServer(sys.executable, ("-I", "-c", "pass")),  # never started: no tool steps
        name="alice",
        state_dir=tmp_path / "state",
        agents_root=tmp_path,
    )

    async def ignore(event: dict[str, Any]) -> None:
        return None

    prompt = wake_prompt({"id": 1, "sender": "bob", "body": "go"}, 0)
    first = await driver.run_turn(prompt, on_event=ignore)
    second = await driver.run_turn(prompt, on_event=ignore)
    assert (first.exit_class, first.error) == (ExitClass.FAILED, "not yet")
    assert second.exit_class is ExitClass.OK
    missing = ScriptedDriver(
        tmp_path / "nope.json",
        mcp=McpServer(sys.executable, ("-I", "-c", "pass")),  # never started: no tool steps
        name="alice",
        state_dir=tmp_path,
        agents_root=tmp_path,
    )
    exit_class, reason = await missing.check()
    assert exit_class is ExitClass.DRIVER_MISSING and "does not exist" in reason


# --- end to end: two harness processes, a real daemon ----------------------------------

ALICE = [
    {"on": ["from:operator", "body:start"], "steps": [{"send": {"to": "bob", "body": "hi bob"}}]},
    {
        "on": "from:bob",
        "steps": [
            {"ask_operator": {"question": "alice: README in English?", "options": ["yes", "no"]}},
            {"send": {"to": "operator", "body": "bob said: {body}"}},
        ],
    },
]
BOB = [
    {"on": "body:hi", "once": True, "steps": [{"fail": "first try fails"}]},
    {
        "on": ["from:alice", "body:hi"],
        "steps": [{"send": {"to": "alice", "body": "hello back", "in_reply_to": "{message_id}"}}],
    },
]


async def test_two_scripted_agents_converse_through_the_daemon(
    hive: Hive, host: HiveClient, tmp_path: Path
) -> None:
    for name in ("alice", "bob"):
        await hive.create_agent(name)
        await hive.agents.set_state(name, AgentState.RUNNING)
    await host.subscribe(["message.sent", "turn.ended"])
    alice_env = harness_env(hive, tmp_path, "alice", ALICE)
    bob_env = harness_env(hive, tmp_path, "bob", BOB)
    async with (
        harness_process(alice_env, tmp_path / "alice.log"),
        harness_process(bob_env, tmp_path / "bob.log"),
    ):
        await host.call("messages.send", to="alice", body="start")
        ended: list[tuple[str, str]] = []
        reply = None
        async with asyncio.timeout(60):
            while reply is None or len(ended) < 4:
                event = await host.next_event()
                data = event["data"]
                if event["event"] == "turn.ended":
                    ended.append((data["agent"], data["exit_class"]))
                elif data["recipient"] == "operator":
                    reply = data
    assert reply["sender"] == "alice" and reply["body"] == "bob said: hello back"
    # the two harnesses run side by side: only each one's own order is fixed
    assert [c for a, c in ended if a == "alice"] == ["ok", "ok"]
    assert [c for a, c in ended if a == "bob"] == ["failed", "ok"]
    bob_events = (await host.call("turns.events", agent="bob"))["events"]
    starts = [e["data"] for e in bob_events if e["kind"] == "turn_start"]
    assert [s["redelivered"] for s in starts] == [False, True]
    alice_events = (await host.call("turns.events", agent="alice"))["events"]
    results = [e["data"] for e in alice_events if e["kind"] == "tool_result"]
    assert all(not r["is_error"] for r in results), results
    questions = (await host.call("questions.list"))["questions"]
    assert [q["question"] for q in questions] == ["alice: README in English?"]
    assert hive.broker.depth("alice") == 0 and hive.broker.inflight("bob") == 0
