"""Queries on the agent_overrides table: operator settings that beat an agent's config."""

from __future__ import annotations

import sqlite3
from typing import Any


def get(db: sqlite3.Connection, agent: str, key: str) -> dict[str, Any] | None:
    row = db.execute(
        "SELECT value, set_by, set_at FROM agent_overrides WHERE agent = ? AND key = ?",
        (agent, key),
    ).fetchone()
    if row is None:
        return None
    return {"value": str(row[0]), "set_by": str(row[1]), "set_at": float(row[2])}


def all_of(db: sqlite3.Connection, key: str) -> dict[str, str]:
    rows = db.execute("SELECT agent, value FROM agent_overrides WHERE key = ?", (key,))
    return {str(a): str(v) for a, v in rows}


def put(db: sqlite3.Connection, agent: str, key: str, value: str, by: str, now: float) -> None:
    db.execute(
        "INSERT INTO agent_overrides (agent, key, value, set_by, set_at) VALUES (?, ?, ?, ?, ?) "
        "ON CONFLICT (agent, key) DO UPDATE SET value = excluded.value, "
        "set_by = excluded.set_by, set_at = excluded.set_at",
        (agent, key, value, by, now),
    )


def delete(db: sqlite3.Connection, agent: str, key: str) -> bool:
    cur = db.execute("DELETE FROM agent_overrides WHERE agent = ? AND key = ?", (agent, key))
    return cur.rowcount == 1
