"""The append-only, hash-chained audit log of every decision and lifecycle action.

Each row stores the hash of the row before it and its own hash,
``sha256(prev_hash + canonical json of its fields)``, so an edited, deleted, inserted
or moved row breaks the chain and `AuditLog.verify` names it. The chain has no secret:
whoever can rewrite the database file can rewrite the whole chain, so it is
tamper-*evident* against partial edits. Against truncation, the daemon also remembers
the newest row it wrote and checks the log still reaches it.
"""

from __future__ import annotations

import builtins
import json
import time
from collections.abc import Callable
from typing import Any

from hyperhive.core.errors import InvalidInput
from hyperhive.core.events import EventBus
from hyperhive.core.store import Store
from hyperhive.core.store import audit as q
from hyperhive.core.store.audit import GENESIS, AuditEntry, row_hash

__all__ = ["GENESIS", "AuditEntry", "AuditLog", "detail_json", "row_hash"]

MAX_DETAIL_BYTES = 64 * 1024
MAX_NAME_CHARS = 200


def detail_json(detail: dict[str, Any] | None) -> str:
    """The canonical JSON text of an audit detail, validated.

    Raises:
        InvalidInput: ``detail`` is not a JSON object of JSON values, or is too large.
    """
    if detail is None:
        return "{}"
    if not isinstance(detail, dict):
        raise InvalidInput(f"audit detail must be a dict, not {type(detail).__name__}")
    try:
        # values JSON has no type for (paths, enums, ...) are recorded as their text
        text = json.dumps(
            detail,
            sort_keys=True,
            separators=(",", ":"),
            ensure_ascii=False,
            allow_nan=False,
            default=str,
        )
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"audit detail is not JSON: {exc}") from exc
    if len(text.encode()) > MAX_DETAIL_BYTES:
        raise InvalidInput(f"audit detail is over {MAX_DETAIL_BYTES} bytes")
    return text


def _name(what: str, value: object, *, allow_empty: bool = False) -> str:
    if not isinstance(value, str) or (not value and not allow_empty):
        raise InvalidInput(f"audit {what} must be a non-empty string")
    if len(value) > MAX_NAME_CHARS:
        raise InvalidInput(f"audit {what} is over {MAX_NAME_CHARS} characters")
    return value


class AuditLog:
    """Records who did what; `verify` checks that nothing was changed since."""

    def __init__(
        self, store: Store, events: EventBus, *, clock: Callable[[], float] = time.time
    ) -> None:
        self._store = store
        self._events = events
        self._clock = clock
        self._head: tuple[int, str] | None = None

    async def load(self) -> None:
        """Remember the newest row, so that a later truncation is noticed."""
        self._head = await self._store.read(q.head)

    def append_op(
        self,
        actor: str,
        action: str,
        target: str = "",
        detail: dict[str, Any] | None = None,
        result: str = "ok",
    ) -> Callable[[Any], AuditEntry]:
        """A store op that appends this row; run it inside another write to be atomic with it.

        After the write, pass its entry to `appended`. Validation happens here, before
        the write.
        """
        fields = (
            _name("actor", actor),
            _name("action", action),
            _name("target", target, allow_empty=True),
            detail_json(detail),
            _name("result", result),
        )
        ts = self._clock()
        return lambda db: q.append(db, ts, *fields)

    def appended(self, entry: AuditEntry) -> None:
        """Publish ``audit.appended`` for an entry written by an `append_op`."""
        if self._head is None or entry.id > self._head[0]:
            self._head = (entry.id, entry.hash)
        self._events.publish("audit.appended", entry.to_json())

    async def record(
        self,
        actor: str,
        action: str,
        target: str = "",
        detail: dict[str, Any] | None = None,
        result: str = "ok",
    ) -> AuditEntry:
        """Append one row, e.g. ``record("alice@host", "approval.approve", "approval/7")``.

        Args:
            actor: who did it (``caller.actor``: a local user, an SSH key name, an agent).
            action: what, as ``<concept>.<verb>``.
            target: what it was done to, e.g. ``question/12`` or an agent name.
            detail: a small JSON object with the particulars.
            result: ``ok`` or a short failure text.

        Raises:
            InvalidInput: a field is empty, too long, or ``detail`` is not JSON.
        """
        op = self.append_op(actor, action, target, detail, result)
        entry = await self._store.write(op)
        self.appended(entry)
        return entry

    async def list(
        self,
        limit: int = 50,
        before_id: int | None = None,
        actor: str | None = None,
        action: str | None = None,
    ) -> list[AuditEntry]:
        """The newest ``limit`` rows (oldest first), optionally before an id / by actor / action."""
        limit = max(1, min(int(limit), 10_000))
        return await self._store.read(q.listing, limit, before_id, actor, action)

    async def verify(self) -> tuple[bool, builtins.list[str]]:
        """Check the whole chain: ``(ok, problems)``, each problem naming a row."""
        problems = await self._store.read(q.verify, self._head)
        return not problems, problems
