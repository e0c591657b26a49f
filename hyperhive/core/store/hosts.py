"""Queries on the hosts table: the machines agents run on, with their pinned host keys."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class HostRecord:
    """One registered host. ``host_key`` is the pinned OpenSSH public key line
    (``ssh-ed25519 AAAA…``); the host ``local`` has an empty url and key."""

    name: str
    url: str
    host_key: str
    drained: bool
    added_at: float
    added_by: str

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "url": self.url,
            "host_key": self.host_key,
            "drained": self.drained,
            "added_at": self.added_at,
            "added_by": self.added_by,
        }


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
