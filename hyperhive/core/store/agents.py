"""Queries on the agents table."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass

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


@dataclass(frozen=True)
class Build:
    """What an agent's container was last built with, and the rebuild reason last told."""

    version: str | None = None  # hyperhive's version; None: never built (or before v5)
    inputs: str | None = None  # the runtime's inputs (`runtimes.build_inputs`)
    told: str = ""  # the needs_update reason the manager was told about ("": none)


def builds(db: sqlite3.Connection) -> dict[str, Build]:
    rows = db.execute("SELECT name, built_version, built_inputs, stale_told FROM agents")
    return {
        str(name): Build(
            None if version is None else str(version),
            None if inputs is None else str(inputs),
            str(told),
        )
        for name, version, inputs, told in rows.fetchall()
    }


def set_build(db: sqlite3.Connection, name: str, version: str, inputs: str) -> None:
    db.execute(
        "UPDATE agents SET built_version = ?, built_inputs = ? WHERE name = ?",
        (version, inputs, name),
    )


def set_told(db: sqlite3.Connection, name: str, told: str) -> None:
    db.execute("UPDATE agents SET stale_told = ? WHERE name = ?", (told, name))


def delete(db: sqlite3.Connection, name: str) -> None:
    db.execute("DELETE FROM agents WHERE name = ?", (name,))
