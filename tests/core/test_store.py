"""The store: migrations, group commit, and clear errors from sqlite."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from hyperhive.core.errors import StoreError
from hyperhive.core.models import Message
from hyperhive.core.store import SCHEMA_VERSION, Store
from hyperhive.core.store import messages as q


async def test_a_new_database_is_created_at_the_latest_schema(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "hive.sqlite")
    assert await store.schema_version() == SCHEMA_VERSION
    mode = await store.read(lambda db: db.execute("PRAGMA journal_mode").fetchone()[0])
    assert mode == "wal"
    await store.close()


async def test_a_database_created_by_schema_v1_opens_and_migrates(tmp_path: Path) -> None:
    path = tmp_path / "hive.sqlite"
    old = await Store.open(path, migrate_to=1)
    assert await old.schema_version() == 1
    await old.write(
        lambda db: db.execute(
            "INSERT INTO messages (id, ts, sender, recipient, body) VALUES (1, 1.0, 'a', 'b', 'hi')"
        )
    )
    await old.close()
    store = await Store.open(path)
    assert await store.schema_version() == SCHEMA_VERSION
    [m] = await store.read(q.unacked)
    assert (m.body, m.deliveries, m.redelivered) == ("hi", 0, False)
    await store.close()


async def test_concurrent_writes_share_commits_and_all_become_durable(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "hive.sqlite")
    commits = 0

    def insert(db: sqlite3.Connection, i: int) -> int:
        q.insert(db, [Message(i, 0.0, "a", "b", f"m{i}", None, None, None)])
        return i

    import hyperhive.core.store as store_module

    original = store_module._run_batch

    def counting(db, batch):  # type: ignore[no-untyped-def]
        nonlocal commits
        commits += 1
        return original(db, batch)

    store_module._run_batch = counting  # type: ignore[assignment]
    results = await asyncio.gather(*(store.write(insert, i) for i in range(1, 201)))
    assert results == list(range(1, 201))
    store_module._run_batch = original  # type: ignore[assignment]
    assert commits < 200  # grouped
    await store.close()
    reopened = await Store.open(tmp_path / "hive.sqlite")
    assert await reopened.read(q.count) == 200
    await reopened.close()


async def test_a_write_later_rides_with_the_next_write_or_commits_alone_soon_after(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import hyperhive.core.store as store_module

    store = await Store.open(tmp_path / "hive.sqlite")
    commits = 0
    original = store_module._run_batch

    def counting(db, batch):  # type: ignore[no-untyped-def]
        nonlocal commits
        commits += 1
        return original(db, batch)

    def insert(db: sqlite3.Connection, i: int) -> None:
        q.insert(db, [Message(i, 0.0, "a", "b", f"m{i}", None, None, None)])

    monkeypatch.setattr(store_module, "_run_batch", counting)
    store.LATER_SECONDS = 60.0
    store.write_later(insert, 1)
    for _ in range(3):
        await asyncio.sleep(0)  # the loop goes round: no commit of its own yet
    await store.write(insert, 2)
    assert (commits, await store.read(q.count)) == (1, 2)

    store.LATER_SECONDS = 0.05
    store.write_later(insert, 3)
    async with asyncio.timeout(5):
        while await store.read(q.count) < 3:
            await asyncio.sleep(0.01)
    assert commits == 2

    store.LATER_SECONDS = 60.0
    store.write_later(insert, 4)
    await store.close()  # writes what waits
    reopened = await Store.open(tmp_path / "hive.sqlite")
    assert await reopened.read(q.count) == 4
    await reopened.close()


async def test_one_failing_write_does_not_undo_the_others_in_its_group(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "hive.sqlite")

    def insert(db: sqlite3.Connection, i: int) -> None:
        q.insert(db, [Message(i, 0.0, "a", "b", "x", None, None, None)])

    ok1, dup, ok2 = await asyncio.gather(
        store.write(insert, 1),
        store.write(insert, 1),
        store.write(insert, 2),
        return_exceptions=True,
    )
    assert ok1 is None and ok2 is None
    assert isinstance(dup, sqlite3.IntegrityError)
    assert await store.read(q.count) == 2
    await store.close()


async def test_a_read_only_database_refuses_writes_but_keeps_serving_reads(
    tmp_path: Path,
) -> None:
    path = tmp_path / "hive.sqlite"
    store = await Store.open(path)
    await store.write(q.insert, [Message(1, 0.0, "a", "b", "kept", None, None, None)])
    store._writer.execute("PRAGMA query_only = ON")
    with pytest.raises(StoreError, match="read-only|readonly|query_only|attempt to write"):
        await store.write(q.ack, [1], 0.0)
    assert [m.body for m in await store.read(q.unacked)] == ["kept"]
    await store.close()
