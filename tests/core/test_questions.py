"""Operator questions through the protocol: ask, answer, cancel, expire, and damaged rows."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from hyperhive.core.client import HiveClient
from hyperhive.core.errors import InvalidInput, NotFound, Refused
from hyperhive.core.hive import Hive
from tests.conftest import agent_client


async def _ask(hive: Hive, name: str = "alice", **params: Any) -> tuple[HiveClient, int]:
    client = await agent_client(hive, name)
    params.setdefault("question", "Deploy now?")
    got = await client.call("questions.ask", **params)
    return client, int(got["id"])


async def _inbox(client: HiveClient) -> list[dict[str, Any]]:
    got = await client.call("messages.recv", wait_seconds=5, max=10)
    await client.call("messages.ack", ids=[m["id"] for m in got["messages"]])
    return list(got["messages"])


async def test_an_asked_question_is_listed_pending_for_the_operator(
    hive: Hive, host: HiveClient
) -> None:
    await host.subscribe(["question.*"])
    alice, qid = await _ask(hive, options=["yes", "no"], ttl_seconds=600)
    [listed] = (await host.call("questions.list", status="pending"))["questions"]
    assert (listed["id"], listed["asker"], listed["status"]) == (qid, "alice", "pending")
    assert listed["options"] == ["yes", "no"] and listed["broken"] == ""
    event = await host.next_event(5)
    assert event["event"] == "question.asked" and event["data"]["id"] == qid
    await alice.close()


async def test_an_answer_reaches_the_asker_as_a_system_message(
    hive: Hive, host: HiveClient
) -> None:
    alice, qid = await _ask(hive, options=["yes", "no"])
    answered = await host.call("questions.answer", id=qid, options=["yes"])
    assert (answered["status"], answered["answerer"]) == ("answered", "operator")
    [msg] = await _inbox(alice)
    assert msg["sender"] == "system"
    assert msg["body"].splitlines() == [
        f"[answer to question #{qid}] yes",
        '(question: "Deploy now?")',
    ]
    await alice.close()


async def test_a_multi_question_takes_several_options_in_the_order_offered(
    hive: Hive, host: HiveClient
) -> None:
    alice, qid = await _ask(hive, options=["a", "b", "c"], multi=True)
    await host.call("questions.answer", id=qid, options=["c", "a"], text="and hurry")
    [msg] = await _inbox(alice)
    assert msg["body"].startswith(f"[answer to question #{qid}] a, c\nand hurry\n")
    await alice.close()


async def test_free_text_answers_a_question_without_options(hive: Hive, host: HiveClient) -> None:
    alice, qid = await _ask(hive, question="What is the API key name?")
    await host.call("questions.answer", id=qid, text="HIVE_KEY")
    [msg] = await _inbox(alice)
    assert msg["body"].startswith(f"[answer to question #{qid}] HIVE_KEY")
    await alice.close()


@pytest.mark.parametrize(
    ("params", "needle"),
    [
        ({"options": ["maybe"]}, "does not offer 'maybe'"),
        ({"options": ["yes", "no"]}, "exactly one option"),
        ({}, "give an option or a text answer"),
        ({"options": [], "text": "   "}, "give an option or a text answer"),
    ],
)
async def test_an_invalid_answer_is_refused_and_leaves_the_question_pending(
    hive: Hive, host: HiveClient, params: dict[str, Any], needle: str
) -> None:
    alice, qid = await _ask(hive, options=["yes", "no"])
    with pytest.raises(InvalidInput, match=needle):
        await host.call("questions.answer", id=qid, **params)
    [listed] = (await host.call("questions.list"))["questions"]
    assert listed["status"] == "pending"
    await alice.close()


async def test_answering_twice_is_refused_and_changes_nothing(hive: Hive, host: HiveClient) -> None:
    alice, qid = await _ask(hive, options=["yes", "no"])
    await host.call("questions.answer", id=qid, options=["no"])
    with pytest.raises(Refused, match=f"question #{qid} was already answered by operator"):
        await host.call("questions.answer", id=qid, options=["yes"])
    with pytest.raises(Refused, match="already answered"):
        await host.call("questions.cancel", id=qid)
    [listed] = (await host.call("questions.list"))["questions"]
    assert listed["answer"] == {"options": ["no"], "text": None}
    assert len(await _inbox(alice)) == 1
    await alice.close()


async def test_a_cancelled_question_tells_the_asker_and_cannot_be_answered(
    hive: Hive, host: HiveClient
) -> None:
    alice, qid = await _ask(hive)
    await host.call("questions.cancel", id=qid)
    with pytest.raises(Refused, match="was cancelled by operator"):
        await host.call("questions.answer", id=qid, text="too late")
    [msg] = await _inbox(alice)
    assert msg["sender"] == "system" and msg["body"].startswith(f"[question #{qid} cancelled]")
    await alice.close()


async def test_of_a_concurrent_answer_and_cancel_exactly_one_wins(hive: Hive) -> None:
    await hive.create_agent("alice")
    for _ in range(5):
        asked = await hive.questions.ask("alice", "Go?", ["yes"])
        results = await asyncio.gather(
            hive.questions.answer(asked.id, ["yes"], None, "op1"),
            hive.questions.cancel(asked.id, "op2"),
            return_exceptions=True,
        )
        assert sum(isinstance(r, Refused) for r in results) == 1, results
    got = await hive.broker.recv("alice", 0, 32)
    assert len(got) == 5  # one message per question: the winner's


async def test_an_overdue_question_expires_on_read_and_tells_the_asker(
    hive: Hive, host: HiveClient
) -> None:
    alice, qid = await _ask(hive, ttl_seconds=60)
    await host.subscribe(["question.expired"])
    start = hive.questions.clock()
    hive.questions.clock = lambda: start + 61
    with pytest.raises(Refused, match=f"question #{qid} has expired"):
        await host.call("questions.answer", id=qid, text="late")
    [listed] = (await host.call("questions.list"))["questions"]
    assert listed["status"] == "expired"
    assert (await host.next_event(5))["data"]["id"] == qid
    [msg] = await _inbox(alice)
    assert msg["body"].startswith(f"[answer to question #{qid}] [expired]")
    await alice.close()


async def test_the_sweep_expires_only_questions_past_their_deadline(hive: Hive) -> None:
    await hive.create_agent("alice")
    short = await hive.questions.ask("alice", "short?", ttl_seconds=10)
    long = await hive.questions.ask("alice", "long?", ttl_seconds=1000)
    expired = await hive.questions.expire_due(hive.questions.clock() + 11)
    assert [q.id for q in expired] == [short.id]
    assert (await hive.questions.get(long.id)).pending
    assert await hive.questions.expire_due(hive.questions.clock() + 11) == []


@pytest.mark.parametrize(
    ("params", "needle"),
    [
        ({"question": " "}, "must not be empty"),
        ({"question": "x" * 5000}, "5000 bytes; the limit is 4096"),
        ({"options": [f"o{i}" for i in range(17)]}, "17 options; the limit is 16"),
        ({"options": ["a", "a"]}, "listed twice"),
        ({"options": ["a", ""]}, "non-empty string"),
        ({"options": ["a", 3]}, "non-empty string"),
        ({"multi": True}, "needs options"),
        ({"ttl_seconds": 6 * 3600 + 1}, "between 1 and 21600"),
        ({"ttl_seconds": 0}, "between 1 and 21600"),
    ],
)
async def test_ask_rejects_bad_input(hive: Hive, params: dict[str, Any], needle: str) -> None:
    alice = await agent_client(hive, "alice")
    with pytest.raises(InvalidInput, match=needle):
        await alice.call("questions.ask", **{"question": "ok?", **params})
    await alice.close()


async def test_answering_an_unknown_question_is_not_found(host: HiveClient) -> None:
    with pytest.raises(NotFound, match="no question #99"):
        await host.call("questions.answer", id=99, text="hi")


async def test_only_the_operator_answers_and_a_viewer_cannot(hive: Hive, host: HiveClient) -> None:
    alice, qid = await _ask(hive)
    with pytest.raises(Exception, match="unknown method 'questions.answer'"):
        await alice.call("questions.answer", id=qid, text="self-approved")
    await host.call("session.hello", who="guest", role="viewer")
    with pytest.raises(Refused, match="viewer"):
        await host.call("questions.cancel", id=qid)
    await alice.close()


async def test_decisions_are_recorded_in_the_audit_log_with_who_made_them(
    hive: Hive, host: HiveClient
) -> None:
    alice, first = await _ask(hive, options=["yes"])
    bob, second = await _ask(hive, "bob")
    await host.call("session.hello", who="ada")
    await host.call("questions.answer", id=first, options=["yes"])
    await host.call("questions.cancel", id=second)
    entries = (await host.call("audit.list"))["entries"]
    assert [(e["actor"], e["action"], e["target"]) for e in entries] == [
        ("ada", "question.answer", f"question/{first}"),
        ("ada", "question.cancel", f"question/{second}"),
    ]
    assert entries[0]["detail"] == {"asker": "alice", "options": ["yes"], "text": None}
    await alice.close()
    await bob.close()


async def test_a_damaged_row_is_listed_as_broken_and_logged_never_dropped(
    hive: Hive, host: HiveClient, caplog: pytest.LogCaptureFixture
) -> None:
    alice = await agent_client(hive, "alice")
    good, bad, odd = [
        (await alice.call("questions.ask", question="Deploy now?", options=o))["id"]
        for o in (["yes"], ["a", "b"], None)
    ]
    await hive.store.write(
        lambda db: db.execute("UPDATE questions SET options_json = '[oops' WHERE id = ?", (bad,))
    )
    await hive.store.write(
        lambda db: db.execute("UPDATE questions SET status = 'weird' WHERE id = ?", (odd,))
    )
    with caplog.at_level(logging.ERROR, logger="hyperhive.core.questions"):
        for status in (None, "pending"):
            listed = (await host.call("questions.list", status=status))["questions"]
            assert [q["id"] for q in listed] == [good, bad, odd]
    by_id = {q["id"]: q for q in listed}
    assert by_id[good]["broken"] == ""
    assert by_id[bad]["broken"].startswith("options_json: Expecting value")
    assert by_id[bad]["question"] == "Deploy now?" and by_id[bad]["asker"] == "alice"
    assert by_id[odd]["broken"] == "status: unknown value 'weird'"
    assert f"question #{bad} is damaged" in caplog.text
    # the damaged question can still be answered in free text, or cancelled
    with pytest.raises(Refused, match="damaged"):
        await host.call("questions.answer", id=bad, options=["a"])
    await host.call("questions.answer", id=bad, text="a, I suppose")
    await alice.close()
