"""The append-only, hash-chained audit log of every decision and lifecycle action.

Each row stores the hash of the row before it and its own hash,
``sha256(prev_hash + canonical json of its fields)``, so an edited, deleted, inserted
or moved row breaks the chain and `AuditLog.verify` names it. The chain has no secret:
whoever can rewrite the database file can rewrite the whole chain, so it is
tamper-*evident* against partial edits. Against truncation, the chain's head (the id
and hash of the newest row) is also kept outside the table, in a file beside the
database written atomically after every append: rows deleted from the end while the
daemon was stopped are found on the next start, logged, published as
``audit.tampered`` and recorded as an ``audit.tail_lost`` row that `verify` reports
from then on.

Every action is audited, whoever the caller claims to be: text fields are stored
terminal-safe, so an identity with control characters or a lone surrogate is recorded
escaped instead of failing the write.
"""

from __future__ import annotations

import builtins
import contextlib
import json
import logging
import os
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from hyperhive.core.errors import HyperhiveError, InvalidInput
from hyperhive.core.events import EventBus
from hyperhive.core.models import AuditEntry
from hyperhive.core.safetext import terminal_safe
from hyperhive.core.store import Store
from hyperhive.core.store import audit as q
from hyperhive.core.store.audit import GENESIS, row_hash

__all__ = ["GENESIS", "AuditEntry", "AuditLog", "detail_json", "row_hash"]

logger = logging.getLogger(__name__)

MAX_DETAIL_BYTES = 64 * 1024
MAX_NAME_CHARS = 200
TAIL_LOST = "audit.tail_lost"
SYSTEM_ACTOR = "hyperhive"
HEAD_SUFFIX = ".audit-head"


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
        text.encode()
    except UnicodeEncodeError:
        # a lone surrogate (an undecodable name): JSON's own \\ud800 escape stores it
        text = json.dumps(
            detail, sort_keys=True, separators=(",", ":"), allow_nan=False, default=str
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
    # escaped, not refused: a malformed identity is recorded, never a reason to skip a row
    return terminal_safe(value, newlines=False)


class AuditLog:
    """Records who did what; `verify` checks that nothing was changed since."""

    def __init__(
        self,
        store: Store,
        events: EventBus,
        *,
        clock: Callable[[], float] = time.time,
        head_file: Path | None = None,
    ) -> None:
        self._store = store
        self._events = events
        self._clock = clock
        self._head: tuple[int, str] | None = None
        self.head_file = head_file or store.path.with_name(store.path.name + HEAD_SUFFIX)
        self.problems_at_start: builtins.list[str] = []

    async def load(self) -> None:
        """Check the log still reaches the head kept beside it; remember the newest row.

        A log that lost rows from its end (or had them rewritten) while the daemon was
        stopped is logged, published as ``audit.tampered`` and recorded as an
        ``audit.tail_lost`` row.
        """
        self._head = await self._store.read(q.head)
        saved, problems = self._read_head_file()
        if saved is not None:
            found = await self._store.read(q.hash_at, saved[0])
            last = self._head[0] if self._head else 0
            if found is None:
                problems.append(
                    f"the log ends at row #{last}, but row #{saved[0]} was written "
                    "(rows were deleted from the end while the daemon was stopped)"
                )
            elif found != saved[1]:
                problems.append(
                    f"row #{saved[0]} is not the row the daemon wrote "
                    "(the end of the log was rewritten while the daemon was stopped)"
                )
        elif self._head is not None and not problems:
            logger.warning("audit: no head file at %s; starting one now", self.head_file)
        self.problems_at_start = problems
        if problems:
            for problem in problems:
                logger.error("audit log tampered with: %s", problem)
            detail = {"problems": problems, "expected": list(saved) if saved else None}
            await self.record(SYSTEM_ACTOR, TAIL_LOST, "", detail, result="tampered")
            self._events.publish("audit.tampered", {"problems": problems})
        self._write_head_file()

    def _read_head_file(self) -> tuple[tuple[int, str] | None, builtins.list[str]]:
        try:
            fd = os.open(self.head_file, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except FileNotFoundError:
            return None, []
        except OSError as exc:
            return None, [f"the audit head file cannot be read: {exc.strerror}"]
        try:
            with os.fdopen(fd, "rb") as fh:
                raw = fh.read(4096)
            data = json.loads(raw)
            head = (int(data["id"]), str(data["hash"]))
        except (OSError, ValueError, TypeError, KeyError):
            return None, ["the audit head file is not what the daemon wrote"]
        return head, []

    def _write_head_file(self) -> None:
        """Replace the head file atomically (mode 0600): a reader sees the old or the new."""
        if self._head is None:
            return
        text = json.dumps({"id": self._head[0], "hash": self._head[1]}).encode()
        tmp = self.head_file.with_name(self.head_file.name + ".tmp")
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
            try:
                os.write(fd, text)
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, self.head_file)
        except OSError as exc:
            logger.error("audit: cannot write the head file %s: %s", self.head_file, exc)

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
            self._write_head_file()
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
        """Check the whole chain: ``(ok, problems)``, each problem naming a row.

        Tail losses found on a start stay problems for good: their ``audit.tail_lost``
        rows are part of the chain.
        """
        problems = await self._store.read(q.verify, self._head)
        for entry in await self._store.read(q.listing, 100, None, None, TAIL_LOST):
            for problem in entry.detail.get("problems") or ["rows were lost"]:
                problems.append(f"row #{entry.id} records that on a start {problem}")
        return not problems, problems


Record = Callable[..., Awaitable[Any]]


async def record_done(
    record: Record | None,
    actor: str,
    action: str,
    target: str,
    detail: dict[str, Any],
    result: str = "ok",
) -> None:
    """Audit an action that has already happened: a failed write is logged, never raised.

    The one way services record their actions (``record`` is `AuditLog.record`, or None
    where no audit log is wired): the action stands whether or not its row could be
    written, so its caller still gets the answer that the action happened.
    """
    if record is None:
        return
    try:
        await record(actor, action, target, detail, result)
    except HyperhiveError as exc:
        logger.error("audit record of %s on %r failed: %s", action, target, exc)
