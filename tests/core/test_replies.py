"""The reply shapes of core/replies.py match what a real daemon answers, key for key."""

from __future__ import annotations

import time

from hyperhive.core import replies
from hyperhive.core.client import HiveClient
from hyperhive.core.hive import Hive
from tests.support.shapes import mismatches


async def test_agent_lifecycle_and_kept_state_replies_have_exactly_their_typed_fields(
    swarm: Hive, op: HiveClient, manager: HiveClient
) -> None:
    spawned = await op.call("lifecycle.spawn", name="alice")
    assert mismatches(spawned, replies.SpawnReply) == []
    assert mismatches(await op.call("agents.list"), replies.AgentsReply) == []
    assert mismatches(await manager.call("agent.whoami"), replies.WhoamiReply) == []
    notes = await op.call("agents.notes", name="alice")
    assert mismatches(notes, replies.NotesReply) == []
    set_ = await op.call("agents.set_model", name="alice", model="claude-opus-4")
    cleared = await op.call("agents.set_model", name="alice", model=None)
    assert mismatches(set_, replies.ModelReply) == []
    assert mismatches(cleared, replies.ModelReply) == [] and cleared["cleared"] is True
    assert mismatches(await op.call("daemon.status"), replies.DaemonStatus) == []
    assert mismatches(await op.call("lifecycle.kill", name="alice"), replies.AgentRow) == []
    await op.call("lifecycle.destroy", name="alice")
    kept = await op.call("kept.list")
    assert [k["name"] for k in kept["kept"]] == ["alice"]
    assert mismatches(kept, replies.KeptReply) == []


async def test_approval_replies_have_exactly_their_typed_fields(
    swarm: Hive, op: HiveClient, manager: HiveClient
) -> None:
    asked = await manager.call("approvals.request_spawn", name="bob")
    assert mismatches(asked, replies.ApprovalRow) == []
    assert mismatches(await op.call("approvals.get", id=asked["id"]), replies.ApprovalDetail) == []
    assert mismatches(await op.call("approvals.deny", id=asked["id"]), replies.ApprovalRow) == []
    listed = await op.call("approvals.list")
    assert len(listed["approvals"]) == 1
    assert mismatches(listed, replies.ApprovalsReply) == []


async def test_question_reminder_thread_and_log_replies_have_exactly_their_typed_fields(
    swarm: Hive, op: HiveClient, manager: HiveClient
) -> None:
    first = await manager.call("questions.ask", question="Ship it?", options=["yes", "no"])
    second = await manager.call("questions.ask", question="Why?")
    answered = await op.call("questions.answer", id=first["id"], options=["yes"])
    assert mismatches(answered, replies.QuestionRow) == [] and answered["answer"] is not None
    threads = await op.call("threads.get", agent="manager")
    assert [q["role"] for q in threads["questions"]] == ["asked"]
    cancelled = await op.call("questions.cancel", id=second["id"])
    assert mismatches(cancelled, replies.QuestionRow) == []
    assert mismatches(await op.call("questions.list"), replies.QuestionsReply) == []
    made = await manager.call("reminders.create", message="look again", delay_seconds=3600)
    assert mismatches(made, replies.ReminderRow) == []
    assert mismatches(await op.call("reminders.list"), replies.RemindersReply) == []
    threads = await op.call("threads.get", agent="manager")
    assert mismatches(threads, replies.ThreadsReply) == [] and threads["reminders"]
    assert mismatches(await op.call("threads.get"), replies.ThreadsReply) == []
    gone = await op.call("reminders.cancel", id=made["id"])
    assert mismatches(gone, replies.ReminderRow) == []
    assert mismatches(await op.call("logs.tail", name="manager"), replies.LogsReply) == []


async def test_stats_replies_have_exactly_their_typed_fields(
    swarm: Hive, op: HiveClient, manager: HiveClient
) -> None:
    await manager.call("stats.record", samples={"turn.duration_ms": 1200.0})
    keys = await op.call("stats.keys")
    assert [s["key"] for s in keys["series"]] == ["turn.duration_ms"]
    assert mismatches(keys, replies.StatsKeysReply) == []
    series = await op.call(
        "stats.query", agent="manager", key="turn.duration_ms", since=time.time() - 60
    )
    assert series["buckets"]
    assert mismatches(series, replies.SeriesReply) == []


def test_the_shape_check_names_a_renamed_field_on_both_sides() -> None:
    row = {
        "name": "alice",
        "role": "agent",
        "state": "destroyed",
        "runtime": "process",
        "incarnation": 1,
        "applied_sha": None,
        "created_at": 1.0,
        "updated_at": 2.0,
        "state_reason": "",
        "stale": False,
        "last_turn_at": None,
        "sha": None,
        "destroyed_at": 2.0,
        "size_bytes": 4096,  # the field the TUI once read, renamed by the daemon
        "has_creds": "yes",
    }
    assert mismatches({"kept": [row]}, replies.KeptReply) == [
        "reply.kept[0].size: missing",
        "reply.kept[0].size_bytes: not in KeptRow",
        "reply.kept[0].has_creds: 'yes', not bool",
    ]
