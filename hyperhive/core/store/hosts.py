"""Queries on the hosts table: the machines agents run on, with their pinned host keys."""

from __future__ import annotations

import sqlite3
from typing import Any

from hyperhive.core.models import HostRecord

_COLUMNS = "name, url, host_key, drained, added_at, added_by"


def _record(row: Any) -> HostRecord:
    return HostRecord(str(row[0]), str(row[1]), str(row[2]), bool(row[3]), float(row[4]), row[5])


def all_hosts(db: sqlite3.Connection) -> list[HostRecord]:
    return [_record(r) for r in db.execute(f"SELECT {_COLUMNS} FROM hosts ORDER BY name")]


def insert(db: sqlite3.Connection, host: HostRecord) -> None:
    db.execute(
        f"INSERT INTO hosts ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)",
        (host.name, host.url, host.host_key, int(host.drained), host.added_at, host.added_by),
    )


def set_drained(db: sqlite3.Connection, name: str, drained: bool) -> bool:
    cur = db.execute("UPDATE hosts SET drained = ? WHERE name = ?", (int(drained), name))
    return cur.rowcount == 1


def delete(db: sqlite3.Connection, name: str) -> bool:
    return db.execute("DELETE FROM hosts WHERE name = ?", (name,)).rowcount == 1


def placements(db: sqlite3.Connection) -> dict[str, str]:
    """Agent -> the host it was placed on (agents without a row run on ``local``)."""
    return {str(a): str(h) for a, h in db.execute("SELECT agent, host FROM agent_hosts")}


def place(db: sqlite3.Connection, agent: str, host: str, at: float) -> None:
    db.execute(
        "INSERT INTO agent_hosts (agent, host, placed_at) VALUES (?, ?, ?) "
        "ON CONFLICT (agent) DO UPDATE SET host = excluded.host, placed_at = excluded.placed_at",
        (agent, host, at),
    )


def unplace(db: sqlite3.Connection, agent: str) -> None:
    db.execute("DELETE FROM agent_hosts WHERE agent = ?", (agent,))
