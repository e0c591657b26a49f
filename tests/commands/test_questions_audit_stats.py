"""The questions, answer, cancel-question, audit and stats verbs against a real daemon."""

from __future__ import annotations

import sqlite3
import time

import pytest

from hyperhive.commands.questions import choose
from hyperhive.commands.stats import parse_since
from hyperhive.core.client import HiveClient
from hyperhive.core.errors import InvalidInput
from tests.support.cli import cli, cli_json
from tests.support.daemon import DaemonProcess


def test_text_equal_to_an_option_selects_it_and_any_other_text_is_free_text() -> None:
    offered = ["yes", "no"]
    assert choose("yes", None, offered) == (["yes"], None)
    assert choose("Yes", None, offered) == ([], "Yes")
    assert choose("yes please", None, offered) == ([], "yes please")
    assert choose("yes", ["no"], offered) == (["no"], "yes")  # --option wins; TEXT is a note
    assert choose(None, ["yes", "no"], offered) == (["yes", "no"], None)


def test_since_reads_durations_ago_and_epoch_times() -> None:
    assert parse_since("30m", 10_000) == 10_000 - 1800
    assert parse_since("2d", 200_000) == 200_000 - 2 * 86400
    assert parse_since("1.5h", 10_000) == 10_000 - 5400
    assert parse_since("1700000000", 0) == 1_700_000_000
    with pytest.raises(InvalidInput, match="cannot read the time 'yesterday'"):
        parse_since("yesterday", 0)


async def test_an_operator_lists_answers_and_cancels_questions(
    daemon: DaemonProcess, alice: HiveClient
) -> None:
    s = daemon.settings
    first = (await alice.call("questions.ask", question="Ship it?", options=["yes", "no"]))["id"]
    second = (await alice.call("questions.ask", question="Which branch?"))["id"]
    listing = cli(s, "questions").stdout.splitlines()
    assert listing[0].split()[:5] == ["ID", "AGE", "ASKER", "TO", "STATUS"]
    assert "Ship it?" in listing[1] and "yes | no" in listing[1] and "Which branch?" in listing[2]
    answered = cli_json(s, "answer", str(first), "yes")
    assert answered["answer"] == {"options": ["yes"], "text": None}
    out = cli(s, "cancel-question", str(second))
    assert out.stdout.strip() == f"cancelled question #{second} from alice"
    got = (await alice.call("messages.recv", wait_seconds=5, max=5))["messages"]
    assert [m["body"].splitlines()[0] for m in got] == [
        f"[answer to question #{first}] yes",
        f"[question #{second} cancelled]",
    ]


async def test_audit_verify_passes_then_names_a_tampered_row(
    daemon: DaemonProcess, alice: HiveClient
) -> None:
    s = daemon.settings
    host = await HiveClient.connect(s.host_socket)
    for text in ("a", "b"):
        qid = (await alice.call("questions.ask", question=f"q {text}?"))["id"]
        await host.call("questions.answer", id=qid, text=text)
    await host.close()
    assert cli_json(s, "audit", "--verify") == {"ok": True, "problems": []}
    db = sqlite3.connect(s.db_path)
    with db:
        db.execute("UPDATE audit SET actor = 'mallory' WHERE id = 1")
    db.close()
    out = cli(s, "audit", "--verify")
    assert out.returncode == 1
    assert out.stderr.splitlines() == [
        "hyperhive audit: the audit chain is broken (1 problem(s)):",
        "  row #1: hash does not match its contents (the row was edited or moved)",
    ]
    rows = cli(s, "audit").stdout.splitlines()
    assert rows[0].split() == ["ID", "TIME", "ACTOR", "ACTION", "TARGET", "RESULT", "DETAIL"]
    assert "mallory" in rows[1] and "question.answer" in rows[2]


async def test_stats_lists_keys_then_prints_one_series(
    daemon: DaemonProcess, alice: HiveClient
) -> None:
    s = daemon.settings
    at = time.time() // 600 * 600  # one 10-minute bucket holds all three
    for ms in (100, 300, 200):
        await alice.call("stats.record", samples={"turn.duration_ms": ms, "cost.usd": 0.5}, ts=at)
    keys = cli_json(s, "stats", "alice")
    assert [(k["key"], k["value"]) for k in keys] == [("cost.usd", 0.5), ("turn.duration_ms", 200)]
    out = cli(s, "stats", "alice", "--key", "turn.duration_ms", "--since", "20m", "--points", "2")
    lines = out.stdout.splitlines()
    assert lines[0] == "alice turn.duration_ms: 1 bucket(s) of 600 s (1m)"
    assert lines[1].split() == ["TIME", "COUNT", "AVG", "MIN", "MAX", "P50", "P95", "SUM"]
    assert lines[2].split()[1:] == ["3", "200", "100", "300", "200", "300", "600"]
