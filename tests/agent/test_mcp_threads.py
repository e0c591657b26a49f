"""The loose-end tools over MCP (in process): ask, answer, remind, threads, logs."""

from __future__ import annotations

from pathlib import Path

from hyperhive.agent.tools_threads import TOOLS
from hyperhive.core.hive import Hive
from tests.support.mcp import call, session_on, write_allow


async def test_every_loose_end_tool_is_listed_with_a_complete_schema(
    hive: Hive, tmp_path: Path
) -> None:
    for name in ("alice", "manager"):
        async with session_on(hive, name, tmp_path / "etc") as session:
            listed = {t.name: t for t in (await session.list_tools()).tools}
        assert set(TOOLS) <= set(listed), name
        for tool in TOOLS:
            schema = listed[tool].input_schema
            assert listed[tool].description, tool
            assert schema["type"] == "object", tool
            for prop, spec in schema.get("properties", {}).items():
                assert spec.get("description"), f"{tool}.{prop} has no description"
    ask = listed["ask"].input_schema
    assert ask["required"] == ["question"]
    assert ask["properties"]["ttl_seconds"]["maximum"] == 6 * 3600
    assert listed["answer"].input_schema["required"] == ["id", "answer"]
    assert listed["remind"].input_schema["required"] == ["message"]
    assert "ask_operator" in listed  # the old name stays as an alias


async def test_peer_questions_go_round_trip_through_the_tools(hive: Hive, tmp_path: Path) -> None:
    await hive.create_agent("bob")
    async with session_on(hive, "alice", tmp_path / "etc") as alice:
        error, text = await call(
            alice, "ask", question="Which port?", to="bob", options=["80", "443"]
        )
        assert not error, text
        assert "queued for bob" in text
        qid = int(text.split("#")[1].split()[0])
        error, text = await call(alice, "ask", question="Me?", to="alice")
        assert error and "cannot ask yourself" in text
        error, text = await call(alice, "answer", id=qid, answer="80")
        assert error and "only bob answers it" in text
    async with session_on(hive, "bob", tmp_path / "etc") as bob:
        error, text = await call(bob, "recv", wait_seconds=5)
        assert f"[question #{qid} from alice]" in text and "\nWhich port?\n" in text
        error, text = await call(bob, "get_open_threads")
        assert not error and f"#{qid} from alice, for you to answer" in text
        assert "Which port?" in text and "<<<body-" in text  # the peer's text is fenced
        error, text = await call(bob, "answer", id=qid, answer="443")
        assert (error, text) == (False, f"answered question #{qid}; alice is told.")
    async with session_on(hive, "alice", tmp_path / "etc") as alice:
        error, text = await call(alice, "recv", wait_seconds=5)
        assert f"[answer to question #{qid} from bob]" in text and "\n443\n" in text


async def test_a_peer_question_keeps_to_the_send_allow_list(hive: Hive, tmp_path: Path) -> None:
    await hive.create_agent("bob")
    etc = tmp_path / "etc"
    write_allow(etc, ["manager"])
    async with session_on(hive, "alice", etc) as alice:
        error, text = await call(alice, "ask", question="Hi?", to="bob")
        assert error and "ask refused" in text
        error, text = await call(alice, "ask", question="Deploy?")  # the operator: always
        assert not error, text
    assert hive.broker.depth("bob") == 0


async def test_remind_lists_and_cancels_through_the_tools(hive: Hive, tmp_path: Path) -> None:
    async with session_on(hive, "alice", tmp_path / "etc") as alice:
        error, text = await call(alice, "remind", message="check CI", delay_seconds=600)
        assert not error and text.startswith("reminder #")
        rid = int(text.split("#")[1].split()[0])
        error, text = await call(alice, "get_open_threads")
        assert f"#{rid} due" in text and "check CI" in text
        error, text = await call(alice, "remind", message="x")
        assert error and "exactly one of" in text
        error, text = await call(alice, "cancel_reminder", id=rid)
        assert (error, text) == (False, f"reminder #{rid} is cancelled.")


async def test_get_logs_reads_the_own_log_and_the_manager_any(hive: Hive, tmp_path: Path) -> None:
    await hive.create_agent("bob")
    log = hive.settings.agent_dir("bob") / "harness.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text("boot\nturn 1 failed: \x1b[31mboom\n")
    async with session_on(hive, "bob", tmp_path / "etc") as bob:
        error, text = await call(bob, "get_logs", lines=1)
        assert not error and "turn 1 failed" in text and "boot" not in text
    async with session_on(hive, "alice", tmp_path / "etc") as alice:
        error, text = await call(alice, "get_logs", agent="bob")
        assert error and "only the manager" in text
    async with session_on(hive, "manager", tmp_path / "etc") as manager:
        error, text = await call(manager, "get_logs", agent="bob")
        assert not error and "boot" in text
        error, text = await call(manager, "get_open_threads")
        assert not error and text.startswith("open questions (0):")


async def test_whoami_names_the_version_and_the_operator(hive: Hive, tmp_path: Path) -> None:
    async with session_on(hive, "alice", tmp_path / "etc") as alice:
        error, text = await call(alice, "whoami")
    assert not error and "version: " in text and "name: alice" in text
