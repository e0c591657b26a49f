"""Queries on the agents table."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from hyperhive.core.models import Agent, AgentState, Role

_COLUMNS = (
    "name, role, state, runtime, incarnation, applied_sha, created_at, updated_at, "
    "state_reason, stale, last_turn_at"
)


def _agent(row: Sequence[object]) -> Agent:
    (name, role, state, runtime, inc, sha, created, updated, reason, stale, last_turn) = row
    return Agent(
        name=str(name),
        role=Role(str(role)),
        state=AgentState(str(state)),
        runtime=str(runtime),
        incarnation=int(inc),  # type: ignore[call-overload]
        applied_sha=sha if sha is None else str(sha),
        created_at=float(created),  # type: ignore[arg-type]
        updated_at=float(updated),  # type: ignore[arg-type]
        state_reason=str(reason),
        stale=bool(stale),
        last_turn_at=None if last_turn is None else float(last_turn),  # type: ignore[arg-type]
    )


def all_agents(db: sqlite3.Connection, *, include_destroyed: bool = False) -> list[Agent]:
    clause = "" if include_destroyed else "WHERE state != 'destroyed'"
    rows = db.execute(f"SELECT {_COLUMNS} FROM agents {clause} ORDER BY role DESC, name").fetchall()
    return [_agent(r) for r in rows]


def get(db: sqlite3.Connection, name: str) -> Agent | None:
    row = db.execute(f"SELECT {_COLUMNS} FROM agents WHERE name = ?", (name,)).fetchone()
    return _agent(row) if row else None


def insert(
    db: sqlite3.Connection, name: str, role: Role, state: AgentState, runtime: str, now: float
) -> Agent:
    db.execute(
        "INSERT INTO agents (name, role, state, runtime, incarnation, created_at, updated_at)"
        " VALUES (?, ?, ?, ?, 1, ?, ?)",
        (name, role.value, state.value, runtime, now, now),
    )
    agent = get(db, name)
    assert agent is not None
    return agent


def update(db: sqlite3.Connection, name: str, now: float, **fields: object) -> Agent | None:
    """Set the given columns of one agent; returns the updated row (None if absent)."""
    allowed = {
        "state",
        "runtime",
        "incarnation",
        "applied_sha",
        "state_reason",
        "stale",
        "last_turn_at",
        "role",
    }
    bad = set(fields) - allowed
    if bad:
        raise ValueError(f"not agent columns: {sorted(bad)}")
    values = [v.value if isinstance(v, AgentState | Role) else v for v in fields.values()]
    assignments = ", ".join(f"{k} = ?" for k in fields)
    db.execute(
        f"UPDATE agents SET {assignments}, updated_at = ? WHERE name = ?",
        (*values, now, name),
    )
    return get(db, name)


def delete(db: sqlite3.Connection, name: str) -> None:
    db.execute("DELETE FROM agents WHERE name = ?", (name,))
