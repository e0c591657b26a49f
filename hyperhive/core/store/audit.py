"""Queries on the audit table: the hash-chained append and the chain check."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Sequence
from typing import Any

from hyperhive.core.models import AuditEntry

GENESIS = "0" * 64  # the prev_hash of the first row
MAX_PROBLEMS = 100


_COLUMNS = "id, ts, actor, action, target, detail_json, result, prev_hash, hash"


def canonical(obj: Any) -> str:
    """The one JSON spelling of ``obj`` that every hash is computed over."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def row_hash(
    prev_hash: str,
    id: int,
    ts: float,
    actor: str,
    action: str,
    target: str,
    detail_json: str,
    result: str,
) -> str:
    """``sha256(prev_hash + canonical json of the row's fields)``, hex.

    The id is part of the hash, so moving a row to another place breaks the chain too.
    ``detail_json`` is hashed as the exact text stored.
    """
    fields = {
        "id": id,
        "ts": ts,
        "actor": actor,
        "action": action,
        "target": target,
        "detail": detail_json,
        "result": result,
    }
    return hashlib.sha256((prev_hash + canonical(fields)).encode()).hexdigest()


def _entry(row: Sequence[Any]) -> AuditEntry:
    (aid, ts, actor, action, target, detail_json, result, prev_hash, digest) = row
    broken = ""
    try:
        detail = json.loads(detail_json)
        if not isinstance(detail, dict):
            raise ValueError("not an object")
    except (ValueError, TypeError) as exc:
        detail, broken = {"raw": str(detail_json)}, f"detail_json: {exc}"
    return AuditEntry(
        int(aid),
        float(ts),
        str(actor),
        str(action),
        str(target),
        detail,
        str(result),
        str(prev_hash),
        str(digest),
        broken,
    )


def head(db: sqlite3.Connection) -> tuple[int, str] | None:
    """The id and hash of the newest row, or None for an empty log."""
    row = db.execute("SELECT id, hash FROM audit ORDER BY id DESC LIMIT 1").fetchone()
    return (int(row[0]), str(row[1])) if row else None


def hash_at(db: sqlite3.Connection, aid: int) -> str | None:
    """The hash of row ``aid``, or None when there is no such row."""
    row = db.execute("SELECT hash FROM audit WHERE id = ?", (aid,)).fetchone()
    return str(row[0]) if row else None


def append(
    db: sqlite3.Connection,
    ts: float,
    actor: str,
    action: str,
    target: str,
    detail_json: str,
    result: str,
) -> AuditEntry:
    """Append one row chained to the newest one.

    Call it inside a write: reading the previous hash and inserting happen in the same
    transaction, so two appends can never chain to the same row.
    """
    last = head(db)
    aid, prev = (last[0] + 1, last[1]) if last else (1, GENESIS)
    digest = row_hash(prev, aid, ts, actor, action, target, detail_json, result)
    db.execute(
        f"INSERT INTO audit ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (aid, ts, actor, action, target, detail_json, result, prev, digest),
    )
    return AuditEntry(aid, ts, actor, action, target, json.loads(detail_json), result, prev, digest)


def listing(
    db: sqlite3.Connection,
    limit: int,
    before_id: int | None = None,
    actor: str | None = None,
    action: str | None = None,
) -> list[AuditEntry]:
    """The newest ``limit`` rows matching the filters, oldest first."""
    where: list[str] = []
    params: list[Any] = []
    for clause, value in (("id < ?", before_id), ("actor = ?", actor), ("action = ?", action)):
        if value is not None:
            where.append(clause)
            params.append(value)
    sql = f"SELECT {_COLUMNS} FROM audit"
    if where:
        sql += " WHERE " + " AND ".join(where)
    rows = db.execute(sql + " ORDER BY id DESC LIMIT ?", (*params, limit)).fetchall()
    return [_entry(r) for r in reversed(rows)]


def verify(db: sqlite3.Connection, known_head: tuple[int, str] | None = None) -> list[str]:
    """Walk the whole chain; return what is wrong with it (empty when intact).

    Finds edited rows (the hash no longer matches the contents), deleted rows (an id
    gap, or a prev_hash that does not match the row before), reordered or inserted
    rows (the same two checks), and, given ``known_head`` (the newest row this
    process wrote), a truncated tail.
    """
    problems: list[str] = []
    prev_id, prev_hash = 0, GENESIS
    for row in db.execute(f"SELECT {_COLUMNS} FROM audit ORDER BY id"):
        aid, ts, actor, action, target, detail_json, result, stored_prev, digest = row
        if aid != prev_id + 1:
            missing = f"#{prev_id + 1}" if aid == prev_id + 2 else f"#{prev_id + 1}..#{aid - 1}"
            problems.append(f"row {missing} missing: rows were deleted before row #{aid}")
        if stored_prev != prev_hash:
            before = f"row #{prev_id}" if prev_id else "the start of the log"
            problems.append(
                f"row #{aid}: prev_hash does not match {before} "
                "(a row was deleted, inserted or moved)"
            )
        try:
            expected = row_hash(
                str(stored_prev), aid, ts, actor, action, target, detail_json, result
            )
        except (TypeError, ValueError):
            expected = ""
        if expected != digest:
            problems.append(
                f"row #{aid}: hash does not match its contents (the row was edited or moved)"
            )
        prev_id, prev_hash = int(aid), str(digest)
        if len(problems) > MAX_PROBLEMS:
            break
    if known_head is not None and len(problems) <= MAX_PROBLEMS:
        head_id, head_hash = known_head
        if prev_id < head_id:
            problems.append(
                f"the log ends at row #{prev_id}, but row #{head_id} was written "
                "(rows were deleted from the end)"
            )
        elif prev_id == head_id and prev_hash != head_hash:
            problems.append(f"row #{head_id} is not the row this daemon wrote")
    if len(problems) > MAX_PROBLEMS:
        problems = problems[:MAX_PROBLEMS] + ["... more problems not shown"]
    return problems
