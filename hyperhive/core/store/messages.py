"""Queries on the messages table."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence

from hyperhive.core.models import Message

_COLUMNS = "id, ts, sender, recipient, body, in_reply_to, delivered_at, acked_at, deliveries"


def _message(row: Sequence[object]) -> Message:
    return Message(*row)  # type: ignore[arg-type]


def next_id(db: sqlite3.Connection) -> int:
    return int(db.execute("SELECT coalesce(max(id), 0) + 1 FROM messages").fetchone()[0])


def insert(db: sqlite3.Connection, messages: Iterable[Message]) -> None:
    db.executemany(
        f"INSERT INTO messages ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (
                m.id,
                m.ts,
                m.sender,
                m.recipient,
                m.body,
                m.in_reply_to,
                m.delivered_at,
                m.acked_at,
                m.deliveries,
            )
            for m in messages
        ],
    )


def mark_delivered(db: sqlite3.Connection, ids: Sequence[int], ts: float) -> None:
    db.executemany(
        "UPDATE messages SET delivered_at = ?, deliveries = deliveries + 1 WHERE id = ?",
        [(ts, i) for i in ids],
    )


def undeliver(db: sqlite3.Connection, rows: Sequence[tuple[float | None, int]]) -> None:
    """Take back deliveries nobody saw: ``rows`` of (the earlier delivered_at, id)."""
    db.executemany(
        "UPDATE messages SET delivered_at = ?, deliveries = max(deliveries - 1, 0) WHERE id = ?",
        rows,
    )


def ack_operator(db: sqlite3.Connection, ids: Sequence[int], ts: float) -> int:
    """Mark messages to the operator read; other ids are left alone. Returns how many."""
    changed = 0
    for i in ids:
        cur = db.execute(
            "UPDATE messages SET acked_at = ? "
            "WHERE id = ? AND recipient = 'operator' AND acked_at IS NULL",
            (ts, i),
        )
        changed += cur.rowcount
    return changed


def ack(db: sqlite3.Connection, ids: Sequence[int], ts: float) -> None:
    db.executemany(
        "UPDATE messages SET acked_at = ? WHERE id = ? AND acked_at IS NULL",
        [(ts, i) for i in ids],
    )


def unacked(db: sqlite3.Connection) -> list[Message]:
    """Every message still owed to an agent, oldest first."""
    rows = db.execute(
        f"SELECT {_COLUMNS} FROM messages WHERE acked_at IS NULL ORDER BY id"
    ).fetchall()
    return [_message(r) for r in rows]


def get(db: sqlite3.Connection, message_id: int) -> Message | None:
    row = db.execute(f"SELECT {_COLUMNS} FROM messages WHERE id = ?", (message_id,)).fetchone()
    return _message(row) if row else None


def history(
    db: sqlite3.Connection,
    *,
    agent: str | None = None,
    recipient: str | None = None,
    limit: int = 50,
    before_id: int | None = None,
) -> list[Message]:
    """The newest ``limit`` messages (oldest first), optionally to/from one agent."""
    where: list[str] = []
    params: list[object] = []
    if agent is not None:
        where.append("(sender = ? OR recipient = ?)")
        params += [agent, agent]
    if recipient is not None:
        where.append("recipient = ?")
        params.append(recipient)
    if before_id is not None:
        where.append("id < ?")
        params.append(before_id)
    clause = ("WHERE " + " AND ".join(where)) if where else ""
    rows = db.execute(
        f"SELECT {_COLUMNS} FROM messages {clause} ORDER BY id DESC LIMIT ?", (*params, limit)
    ).fetchall()
    return [_message(r) for r in reversed(rows)]


def count(db: sqlite3.Connection) -> int:
    return int(db.execute("SELECT count(*) FROM messages").fetchone()[0])


def sweep(db: sqlite3.Connection, before_ts: float) -> int:
    """Delete acknowledged (or operator-bound) messages older than ``before_ts``."""
    cur = db.execute(
        "DELETE FROM messages WHERE ts < ? AND (acked_at IS NOT NULL OR recipient = 'operator')",
        (before_ts,),
    )
    return cur.rowcount
