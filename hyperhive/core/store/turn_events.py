"""Queries on the turn events table: per-agent harness events (turn start/end, tool use, text)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from typing import Any

from hyperhive.core.models import TurnEvent

_COLUMNS = "id, agent, ts, turn, kind, data_json"


def _event(row: Sequence[Any]) -> TurnEvent:
    event_id, agent, ts, turn, kind, data_json = row
    try:
        data = json.loads(data_json)
    except ValueError:
        data = {"raw": str(data_json)}
    return TurnEvent(
        id=int(event_id),
        agent=str(agent),
        ts=float(ts),
        turn=None if turn is None else int(turn),
        kind=str(kind),
        data=data if isinstance(data, dict) else {"value": data},
    )


def insert_many(
    db: sqlite3.Connection,
    agent: str,
    ts: float,
    turn: int | None,
    events: Sequence[tuple[str, str]],
) -> list[TurnEvent]:
    """Insert ``(kind, data_json)`` events of one agent; returns them with their ids."""
    out = []
    for kind, data_json in events:
        cur = db.execute(
            "INSERT INTO events (agent, ts, turn, kind, data_json) VALUES (?, ?, ?, ?, ?)",
            (agent, ts, turn, kind, data_json),
        )
        assert cur.lastrowid is not None
        out.append(_event((cur.lastrowid, agent, ts, turn, kind, data_json)))
    return out


def page(
    db: sqlite3.Connection, agent: str, *, limit: int, before_id: int | None = None
) -> list[TurnEvent]:
    """The newest ``limit`` events of ``agent`` older than ``before_id``, oldest first."""
    if before_id is None:
        rows = db.execute(
            f"SELECT {_COLUMNS} FROM events WHERE agent = ? ORDER BY id DESC LIMIT ?",
            (agent, limit),
        ).fetchall()
    else:
        rows = db.execute(
            f"SELECT {_COLUMNS} FROM events WHERE agent = ? AND id < ? ORDER BY id DESC LIMIT ?",
            (agent, before_id, limit),
        ).fetchall()
    return [_event(r) for r in reversed(rows)]


def last_turn(db: sqlite3.Connection, agent: str) -> int:
    """The highest turn number stored for ``agent`` (0 when it never ran a turn)."""
    # turns only grow, so the newest numbered event holds the highest one (index walk)
    row = db.execute(
        "SELECT turn FROM events WHERE agent = ? AND turn IS NOT NULL ORDER BY id DESC LIMIT 1",
        (agent,),
    ).fetchone()
    return int(row[0]) if row else 0


def sweep(db: sqlite3.Connection, cutoff: float) -> int:
    """Delete events older than ``cutoff``; returns how many went."""
    return db.execute("DELETE FROM events WHERE ts < ?", (cutoff,)).rowcount
