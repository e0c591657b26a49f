"""Queries on the questions table; rows that fail to decode come back marked broken."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from typing import Any

from hyperhive.core.errors import Refused
from hyperhive.core.models import Question, QuestionStatus

STATUSES = tuple(s.value for s in QuestionStatus)


_COLUMNS = (
    "id, asker, target, question, options_json, multi, deadline, status, answer_json, "
    "answerer, created_at, answered_at"
)


def _strings(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(x, str) for x in value):
        raise ValueError("not a list of strings")
    return tuple(value)


def _answer(raw: Any) -> tuple[tuple[str, ...], str | None]:
    if raw is None:
        return (), None
    data = json.loads(str(raw))
    if not isinstance(data, dict):
        raise ValueError("not an object")
    text = data.get("text")
    if text is not None and not isinstance(text, str):
        raise ValueError("'text' is not a string")
    return _strings(data.get("options", [])), text


def _number(raw: Any) -> float:
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        raise ValueError(f"not a number: {raw!r}")
    return float(raw)


def _question(row: Sequence[Any]) -> Question:
    """Decode a row column by column, so that one bad column never hides the question."""
    (qid, asker, target, text, options_json, multi, deadline, status) = row[:8]
    (answer_json, answerer, created_at, answered_at) = row[8:]
    problems: list[str] = []

    def decode(column: str, fn: Any, raw: Any, fallback: Any) -> Any:
        try:
            return fn(raw)
        except (ValueError, TypeError) as exc:  # json.JSONDecodeError is a ValueError
            problems.append(f"{column}: {exc}")
            return fallback

    options = decode("options_json", lambda r: _strings(json.loads(str(r))), options_json, ())
    answer_options, answer_text = decode("answer_json", _answer, answer_json, ((), None))
    deadline_f = decode("deadline", _number, deadline, 0.0)
    created = decode("created_at", _number, created_at, 0.0)
    answered = None if answered_at is None else decode("answered_at", _number, answered_at, None)
    status_s = str(status)
    if status_s in STATUSES:
        status_s = QuestionStatus(status_s)
    else:
        problems.append(f"status: unknown value {status_s!r}")
    return Question(
        id=int(qid),
        asker=str(asker),
        target=str(target),
        question=str(text),
        options=options,
        multi=bool(multi),
        deadline=deadline_f,
        status=status_s,
        answer_options=answer_options,
        answer_text=answer_text,
        answerer=None if answerer is None else str(answerer),
        created_at=created,
        answered_at=answered,
        broken="; ".join(problems),
    )


def insert(
    db: sqlite3.Connection,
    asker: str,
    question: str,
    options: Sequence[str],
    multi: bool,
    deadline: float,
    now: float,
    max_pending: int,
    target: str = "operator",
) -> Question:
    """Store a new pending question; refuse when ``asker`` already has ``max_pending``.

    ``target`` is ``operator`` or the agent the question is for (a peer question).
    """
    pending = db.execute(
        "SELECT count(*) FROM questions WHERE asker = ? AND status = 'pending'", (asker,)
    ).fetchone()[0]
    if pending >= max_pending:
        raise Refused(
            f"{asker} already has {pending} open questions; wait for answers before asking more"
        )
    cur = db.execute(
        "INSERT INTO questions (asker, target, question, options_json, multi, deadline, "
        "status, created_at) VALUES (?, ?, ?, ?, ?, ?, 'pending', ?)",
        (asker, target, question, json.dumps(list(options)), int(multi), deadline, now),
    )
    found = get(db, int(cur.lastrowid or 0))
    assert found is not None
    return found


def get(db: sqlite3.Connection, question_id: int) -> Question | None:
    row = db.execute(f"SELECT {_COLUMNS} FROM questions WHERE id = ?", (question_id,)).fetchone()
    return _question(row) if row else None


def listing(
    db: sqlite3.Connection, status: str | None = None, limit: int | None = None
) -> list[Question]:
    """Questions oldest first (the newest ``limit`` when given).

    With a ``status`` filter, rows whose status is not a known value are listed too:
    a stored question must never vanish from a listing because its row is damaged.
    """
    params: list[Any] = []
    clause = ""
    if status is not None:
        marks = ", ".join("?" for _ in STATUSES)
        clause = f"WHERE status = ? OR status NOT IN ({marks})"
        params = [status, *STATUSES]
    tail = "" if limit is None else " LIMIT ?"
    if limit is not None:
        params.append(limit)
    rows = db.execute(
        f"SELECT {_COLUMNS} FROM questions {clause} ORDER BY id DESC{tail}", params
    ).fetchall()
    return [_question(r) for r in reversed(rows)]


def decide(
    db: sqlite3.Connection,
    question_id: int,
    status: QuestionStatus,
    answer_json: str | None,
    answerer: str,
    now: float,
) -> bool:
    """Close a question that is still pending and not overdue; False if someone was first.

    The condition lives in the UPDATE itself, so of two concurrent decisions exactly
    one changes the row.
    """
    cur = db.execute(
        "UPDATE questions SET status = ?, answer_json = ?, answerer = ?, answered_at = ? "
        "WHERE id = ? AND status = 'pending' AND deadline > ?",
        (status.value, answer_json, answerer, now, question_id, now),
    )
    return cur.rowcount == 1


def expire(db: sqlite3.Connection, now: float) -> list[Question]:
    """Mark every pending question whose deadline has passed as expired; return them."""
    ids = [
        int(r[0])
        for r in db.execute(
            "SELECT id FROM questions WHERE status = 'pending' AND deadline <= ? ORDER BY id",
            (now,),
        )
    ]
    expired = []
    for qid in ids:
        cur = db.execute(
            "UPDATE questions SET status = 'expired', answered_at = ? "
            "WHERE id = ? AND status = 'pending'",
            (now, qid),
        )
        if cur.rowcount == 1:
            found = get(db, qid)
            if found is not None:
                expired.append(found)
    return expired


def open_for(db: sqlite3.Connection, agent: str | None) -> list[Question]:
    """Pending questions ``agent`` asked or must answer (every pending one for None)."""
    if agent is None:
        rows = db.execute(
            f"SELECT {_COLUMNS} FROM questions WHERE status = 'pending' ORDER BY id"
        ).fetchall()
    else:
        rows = db.execute(
            f"SELECT {_COLUMNS} FROM questions WHERE status = 'pending' "
            "AND (asker = ? OR target = ?) ORDER BY id",
            (agent, agent),
        ).fetchall()
    return [_question(r) for r in rows]
