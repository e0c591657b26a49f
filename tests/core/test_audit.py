"""The hash-chained audit log: appends, listing, and the chain check against tampering."""

from __future__ import annotations

import asyncio
import hashlib
import json
import sqlite3

import pytest

from hyperhive.core.audit import GENESIS, AuditLog, row_hash
from hyperhive.core.client import HiveClient
from hyperhive.core.errors import InvalidInput
from hyperhive.core.hive import Hive


async def _fill(hive: Hive, n: int = 5) -> None:
    for i in range(n):
        await hive.audit.record("ada", "approval.approve", f"approval/{i + 1}", {"note": f"n{i}"})


async def _sql(hive: Hive, sql: str) -> None:
    await hive.store.write(lambda db: db.execute(sql))


async def test_each_row_chains_to_the_one_before(hive: Hive) -> None:
    first = await hive.audit.record("ada", "agent.spawn", "bob")
    second = await hive.audit.record("manager", "approval.request", "bob", {"sha": "abc"})
    assert first.prev_hash == GENESIS and second.prev_hash == first.hash
    fields = {
        "id": second.id,
        "ts": second.ts,
        "actor": "manager",
        "action": "approval.request",
        "target": "bob",
        "detail": '{"sha":"abc"}',
        "result": "ok",
    }
    canonical = json.dumps(fields, sort_keys=True, separators=(",", ":"))
    assert second.hash == hashlib.sha256((first.hash + canonical).encode()).hexdigest()
    assert await hive.audit.verify() == (True, [])


async def test_concurrent_appends_form_one_unbroken_chain(hive: Hive) -> None:
    await asyncio.gather(*(hive.audit.record(f"a{i}", "x.y") for i in range(50)))
    entries = await hive.audit.list(limit=100)
    assert [e.id for e in entries] == list(range(1, 51))
    assert all(b.prev_hash == a.hash for a, b in zip(entries, entries[1:], strict=False))
    assert (await hive.audit.verify())[0]


async def test_verify_names_an_edited_row(hive: Hive) -> None:
    await _fill(hive)
    await _sql(hive, "UPDATE audit SET actor = 'mallory' WHERE id = 3")
    assert await hive.audit.verify() == (
        False,
        ["row #3: hash does not match its contents (the row was edited or moved)"],
    )


async def test_verify_notices_an_edit_even_when_the_rows_hash_was_recomputed(hive: Hive) -> None:
    await _fill(hive)
    [_, second, *_] = await hive.audit.list()
    forged = row_hash(
        second.prev_hash,
        2,
        second.ts,
        "ada",
        "approval.approve",
        "approval/2",
        '{"note":"n1"}',
        "failed",
    )
    await _sql(hive, f"UPDATE audit SET result = 'failed', hash = '{forged}' WHERE id = 2")
    assert await hive.audit.verify() == (
        False,
        ["row #3: prev_hash does not match row #2 (a row was deleted, inserted or moved)"],
    )


async def test_verify_names_a_deleted_row(hive: Hive) -> None:
    await _fill(hive)
    await _sql(hive, "DELETE FROM audit WHERE id = 2")
    ok, problems = await hive.audit.verify()
    assert not ok
    assert problems == [
        "row #2 missing: rows were deleted before row #3",
        "row #3: prev_hash does not match row #1 (a row was deleted, inserted or moved)",
    ]


async def test_verify_notices_reordered_rows(hive: Hive) -> None:
    await _fill(hive)
    await _sql(hive, "UPDATE audit SET id = -id WHERE id IN (2, 3)")
    await _sql(hive, "UPDATE audit SET id = CASE id WHEN -2 THEN 3 ELSE 2 END WHERE id < 0")
    ok, problems = await hive.audit.verify()
    assert not ok
    assert [p.split(":")[0] for p in problems] == ["row #2", "row #2", "row #3", "row #3", "row #4"]
    assert "row #3: hash does not match its contents (the row was edited or moved)" in problems


async def test_verify_notices_rows_deleted_from_the_end(hive: Hive) -> None:
    await _fill(hive)
    await _sql(hive, "DELETE FROM audit WHERE id >= 4")
    ok, problems = await hive.audit.verify()
    assert not ok
    assert problems == [
        "the log ends at row #3, but row #5 was written (rows were deleted from the end)"
    ]


async def test_a_fresh_log_remembers_the_newest_row_from_the_database(hive: Hive) -> None:
    await _fill(hive, 3)
    reopened = AuditLog(hive.store, hive.events)
    await reopened.load()
    await _sql(hive, "DELETE FROM audit WHERE id = 3")
    assert not (await reopened.verify())[0]


async def test_list_pages_back_and_filters(hive: Hive) -> None:
    await _fill(hive, 4)
    await hive.audit.record("bob", "question.cancel", "question/1")
    assert [e.id for e in await hive.audit.list(limit=2)] == [4, 5]
    assert [e.id for e in await hive.audit.list(limit=2, before_id=4)] == [2, 3]
    assert [e.id for e in await hive.audit.list(actor="bob")] == [5]
    assert [e.id for e in await hive.audit.list(action="approval.approve", limit=50)] == [
        1,
        2,
        3,
        4,
    ]


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (("", "x.y"), "actor must be a non-empty string"),
        (("ada", ""), "action must be a non-empty string"),
        (("ada", "x.y", "", {"v": float("nan")}), "not JSON"),
        (("ada", "x.y", "", {"big": "x" * 70_000}), "over 65536 bytes"),
    ],
)
async def test_record_rejects_bad_fields_and_writes_nothing(
    hive: Hive, args: tuple[object, ...], needle: str
) -> None:
    with pytest.raises(InvalidInput, match=needle):
        await hive.audit.record(*args)  # type: ignore[arg-type]
    assert await hive.audit.list() == []


async def test_a_detail_value_json_cannot_express_is_recorded_as_text(hive: Hive) -> None:
    entry = await hive.audit.record("ada", "repos.gc", "", {"path": hive.settings.state_dir})
    assert entry.detail == {"path": str(hive.settings.state_dir)}


async def test_the_host_socket_lists_verifies_and_pushes_appends(
    hive: Hive, host: HiveClient
) -> None:
    await host.subscribe(["audit.appended"])
    await _fill(hive, 2)
    event = await host.next_event(5)
    assert (event["data"]["id"], event["data"]["actor"]) == (1, "ada")
    entries = (await host.call("audit.list", limit=10))["entries"]
    assert [e["target"] for e in entries] == ["approval/1", "approval/2"]
    assert await host.call("audit.verify") == {"ok": True, "problems": []}


async def test_a_row_with_undecodable_detail_is_still_listed(hive: Hive) -> None:
    await _fill(hive, 2)
    await _sql(hive, "UPDATE audit SET detail_json = '{nope' WHERE id = 1")
    first, _ = await hive.audit.list()
    assert first.broken.startswith("detail_json:") and first.detail == {"raw": "{nope"}


def test_the_chain_can_be_checked_without_hyperhive(tmp_path: object) -> None:
    # an auditor needs only sqlite and sha256: recompute the chain by hand
    from hyperhive.core.store import audit as q

    db = sqlite3.connect(":memory:")
    db.execute(
        "CREATE TABLE audit (id INTEGER PRIMARY KEY, ts REAL, actor TEXT, action TEXT, "
        "target TEXT, detail_json TEXT, result TEXT, prev_hash TEXT, hash TEXT)"
    )
    q.append(db, 1.5, "ada", "x.y", "", "{}", "ok")
    row = db.execute("SELECT * FROM audit").fetchone()
    payload = {
        "id": 1,
        "ts": 1.5,
        "actor": "ada",
        "action": "x.y",
        "target": "",
        "detail": "{}",
        "result": "ok",
    }
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"))
    assert row[-1] == hashlib.sha256((GENESIS + text).encode()).hexdigest()
