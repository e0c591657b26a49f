"""Queries on the approvals table."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from hyperhive.core.models import Approval, ApprovalKind, ApprovalStatus

_COLUMNS = (
    "id, kind, agent, commit_ref, fetched_sha, base_sha, status, requested_by, decided_by, "
    "note, error, created_at, updated_at, decided_at, message, author, host, host_picked"
)


def _approval(row: Sequence[object]) -> Approval:
    values = list(row)
    values[1] = ApprovalKind(str(values[1]))
    values[6] = ApprovalStatus(str(values[6]))
    values[17] = bool(values[17])
    return Approval(*values)  # type: ignore[arg-type]


def insert(
    db: sqlite3.Connection,
    kind: ApprovalKind,
    agent: str,
    requested_by: str,
    now: float,
    *,
    commit_ref: str | None = None,
    base_sha: str | None = None,
    host: str | None = None,
) -> Approval:
    cur = db.execute(
        "INSERT INTO approvals (kind, agent, commit_ref, base_sha, status, requested_by,"
        " created_at, updated_at, host) VALUES (?, ?, ?, ?, 'pending', ?, ?, ?, ?)",
        (kind.value, agent, commit_ref, base_sha, requested_by, now, now, host),
    )
    approval = get(db, int(cur.lastrowid or 0))
    assert approval is not None
    return approval


def get(db: sqlite3.Connection, approval_id: int) -> Approval | None:
    row = db.execute(f"SELECT {_COLUMNS} FROM approvals WHERE id = ?", (approval_id,)).fetchone()
    return _approval(row) if row else None


def list_(
    db: sqlite3.Connection, *, status: str | None = None, agent: str | None = None, limit: int = 500
) -> list[Approval]:
    where: list[str] = []
    params: list[object] = []
    if status is not None:
        where.append("status = ?")
        params.append(status)
    if agent is not None:
        where.append("agent = ?")
        params.append(agent)
    clause = ("WHERE " + " AND ".join(where)) if where else ""
    rows = db.execute(
        f"SELECT {_COLUMNS} FROM approvals {clause} ORDER BY id DESC LIMIT ?", (*params, limit)
    ).fetchall()
    return [_approval(r) for r in reversed(rows)]


def count_pending(db: sqlite3.Connection) -> int:
    return int(db.execute("SELECT count(*) FROM approvals WHERE status = 'pending'").fetchone()[0])


def transition(
    db: sqlite3.Connection,
    approval_id: int,
    from_status: Sequence[ApprovalStatus],
    to: ApprovalStatus,
    now: float,
    **fields: object,
) -> Approval | None:
    """Move an approval from one of ``from_status`` to ``to``; None if it was not in them.

    The status check and the update are one statement, so of two concurrent deciders
    exactly one wins.
    """
    allowed = {"fetched_sha", "decided_by", "note", "error", "decided_at", "base_sha"}
    bad = set(fields) - allowed
    if bad:
        raise ValueError(f"not approval columns: {sorted(bad)}")
    sets = ", ".join(f"{k} = ?" for k in fields)
    sets = f"status = ?, updated_at = ?{', ' + sets if sets else ''}"
    marks = ", ".join("?" for _ in from_status)
    cur = db.execute(
        f"UPDATE approvals SET {sets} WHERE id = ? AND status IN ({marks})",
        (to.value, now, *fields.values(), approval_id, *(s.value for s in from_status)),
    )
    if cur.rowcount != 1:
        return None
    return get(db, approval_id)


def set_pin(
    db: sqlite3.Connection,
    approval_id: int,
    sha: str,
    now: float,
    *,
    message: str = "",
    author: str = "",
) -> Approval | None:
    """Record the pinned commit of an approval, with its message and author."""
    db.execute(
        "UPDATE approvals SET fetched_sha = ?, updated_at = ?, message = ?, author = ? "
        "WHERE id = ?",
        (sha, now, message, author, approval_id),
    )
    return get(db, approval_id)


def set_host(
    db: sqlite3.Connection, approval_id: int, host: str | None, picked: bool, now: float
) -> Approval | None:
    """Record the host an approval's agent runs on (or will), and whether the daemon chose it."""
    db.execute(
        "UPDATE approvals SET host = ?, host_picked = ?, updated_at = ? WHERE id = ?",
        (host, int(picked), now, approval_id),
    )
    return get(db, approval_id)


def pending_with_sha(db: sqlite3.Connection, agent: str, sha: str) -> Approval | None:
    """The pending approval that already pins ``sha`` for ``agent``, if any."""
    row = db.execute(
        f"SELECT {_COLUMNS} FROM approvals WHERE agent = ? AND fetched_sha = ? "
        "AND status = 'pending' ORDER BY id LIMIT 1",
        (agent, sha),
    ).fetchone()
    return _approval(row) if row else None


def previous_pending(db: sqlite3.Connection, agent: str, approval_id: int) -> Approval | None:
    """The newest pending proposal (with a pinned commit) of ``agent`` before this one."""
    row = db.execute(
        f"SELECT {_COLUMNS} FROM approvals WHERE agent = ? AND id < ? AND status = 'pending' "
        "AND fetched_sha IS NOT NULL ORDER BY id DESC LIMIT 1",
        (agent, approval_id),
    ).fetchone()
    return _approval(row) if row else None


def unfinished(db: sqlite3.Connection) -> list[Approval]:
    """Approvals a crash may have interrupted: approved or building."""
    rows = db.execute(
        f"SELECT {_COLUMNS} FROM approvals WHERE status IN ('approved', 'building') ORDER BY id"
    ).fetchall()
    return [_approval(r) for r in rows]


def delete(db: sqlite3.Connection, approval_id: int) -> None:
    db.execute("DELETE FROM approvals WHERE id = ?", (approval_id,))
