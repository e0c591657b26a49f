"""Queries on the reminders table: durable self-wakes an agent schedules for itself."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

from hyperhive.core.errors import Refused
from hyperhive.core.models import Reminder, ReminderStatus

STATUSES = tuple(s.value for s in ReminderStatus)


_COLUMNS = (
    "id, agent, body, file_path, due_at, status, created_at, decided_at, decided_by, message_id"
)


def _reminder(row: Sequence[Any]) -> Reminder:
    (rid, agent, body, file_path, due_at, status, created_at, decided_at, by, mid) = row
    return Reminder(
        id=int(rid),
        agent=str(agent),
        body=str(body),
        file_path=None if file_path is None else str(file_path),
        due_at=float(due_at),
        status=str(status),
        created_at=float(created_at),
        decided_at=None if decided_at is None else float(decided_at),
        decided_by=None if by is None else str(by),
        message_id=None if mid is None else int(mid),
    )


def insert(
    db: sqlite3.Connection,
    agent: str,
    body: str,
    file_path: str | None,
    due_at: float,
    now: float,
    max_pending: int,
) -> Reminder:
    """Store a pending reminder; refuse when ``agent`` already has ``max_pending``."""
    pending = db.execute(
        "SELECT count(*) FROM reminders WHERE agent = ? AND status = 'pending'", (agent,)
    ).fetchone()[0]
    if pending >= max_pending:
        raise Refused(
            f"{agent} already has {pending} pending reminders (the limit); cancel some first"
        )
    cur = db.execute(
        "INSERT INTO reminders (agent, body, file_path, due_at, status, created_at) "
        "VALUES (?, ?, ?, ?, 'pending', ?)",
        (agent, body, file_path, due_at, now),
    )
    found = get(db, int(cur.lastrowid or 0))
    assert found is not None
    return found


def get(db: sqlite3.Connection, reminder_id: int) -> Reminder | None:
    row = db.execute(f"SELECT {_COLUMNS} FROM reminders WHERE id = ?", (reminder_id,)).fetchone()
    return _reminder(row) if row else None


def listing(
    db: sqlite3.Connection,
    *,
    agent: str | None = None,
    status: str | None = None,
    limit: int = 500,
) -> list[Reminder]:
    """Reminders soonest due first (pending) / newest first otherwise, at most ``limit``."""
    where: list[str] = []
    params: list[Any] = []
    if agent is not None:
        where.append("agent = ?")
        params.append(agent)
    if status is not None:
        where.append("status = ?")
        params.append(status)
    clause = ("WHERE " + " AND ".join(where)) if where else ""
    order = "due_at, id" if status == ReminderStatus.PENDING else "id DESC"
    rows = db.execute(
        f"SELECT {_COLUMNS} FROM reminders {clause} ORDER BY {order} LIMIT ?", (*params, limit)
    ).fetchall()
    return [_reminder(r) for r in rows]


def due(db: sqlite3.Connection, now: float, limit: int = 100) -> list[Reminder]:
    rows = db.execute(
        f"SELECT {_COLUMNS} FROM reminders WHERE status = 'pending' AND due_at <= ? "
        "ORDER BY due_at, id LIMIT ?",
        (now, limit),
    ).fetchall()
    return [_reminder(r) for r in rows]


def next_due(db: sqlite3.Connection) -> float | None:
    row = db.execute("SELECT min(due_at) FROM reminders WHERE status = 'pending'").fetchone()
    return None if row is None or row[0] is None else float(row[0])


def close(
    db: sqlite3.Connection,
    reminder_id: int,
    status: ReminderStatus,
    now: float,
    by: str,
    message_id: int | None = None,
) -> bool:
    """Move a pending reminder to ``status``; False if it was no longer pending."""
    cur = db.execute(
        "UPDATE reminders SET status = ?, decided_at = ?, decided_by = ?, message_id = ? "
        "WHERE id = ? AND status = 'pending'",
        (status.value, now, by, message_id, reminder_id),
    )
    return cur.rowcount == 1
