"""Reminders: durable self-wakes an agent schedules, delivered by the daemon's scheduler.

An agent calls ``remind(message, delay_seconds | at, file_path?)``; the reminder is a
row in the ``reminders`` table. When it comes due the scheduler sends the agent a
message from ``system`` (``[reminder #7] <message>``, plus ``(file: <path>)`` when one
was given) and marks the row fired *in the same transaction* as the message insert, so
a crash can neither lose a due reminder nor deliver it twice, and a daemon restart
simply picks the pending rows up again. The agent and the operator may cancel a
pending reminder; an agent only its own.

The daemon never opens ``file_path``: it is a pointer the agent wrote for itself.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import logging
import math
import time
from collections.abc import Callable
from typing import Any

from hyperhive.core.audit import AuditLog
from hyperhive.core.broker import Broker
from hyperhive.core.errors import HyperhiveError, InvalidInput, NotFound, Refused
from hyperhive.core.events import EventBus
from hyperhive.core.models import Reminder, ReminderStatus
from hyperhive.core.names import SYSTEM
from hyperhive.core.settings import Limits
from hyperhive.core.store import Store
from hyperhive.core.store import reminders as q

__all__ = ["Reminder", "ReminderStatus", "Reminders", "reminder_body"]

logger = logging.getLogger(__name__)

FILE_PATH_MAX = 1024
HEADER_RESERVE = 64  # "[reminder #N] " and the newline before the file pointer
PAST_GRACE_SECONDS = 60.0  # an ``at`` this far in the past still counts as "now"
IDLE_WAIT_SECONDS = 30.0  # the scheduler re-reads the table at least this often


def reminder_body(reminder: Reminder, cap: int) -> str:
    """The message that wakes the agent, at most ``cap`` bytes (a limit lowered since the
    reminder was set cuts its text, never the pointer to its file)."""
    head = f"[reminder #{reminder.id}] "
    tail = f"\n(file: {reminder.file_path})" if reminder.file_path else ""
    text = reminder.body
    room = cap - len(head.encode()) - len(tail.encode())
    if len(text.encode()) > room:
        text = text.encode()[: max(room - 3, 0)].decode(errors="ignore") + "…"
    return head + text + tail


class Reminders:
    """Create, list, cancel and fire reminders; `run` is the scheduler loop."""

    def __init__(
        self,
        store: Store,
        events: EventBus,
        broker: Broker,
        limits: Limits,
        audit: AuditLog,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._events = events
        self._broker = broker
        self._limits = limits
        self._audit = audit
        self.clock = clock
        self._wake = asyncio.Event()

    # --- creating -------------------------------------------------------------------
    async def create(
        self,
        agent: str,
        message: object,
        *,
        delay_seconds: object = None,
        at: object = None,
        file_path: object = None,
    ) -> Reminder:
        """Schedule a reminder for ``agent``; exactly one of ``delay_seconds`` and ``at``.

        Raises:
            InvalidInput: an empty or too long message, a bad time or file path.
            Refused: the agent already has ``limits.reminder_max_pending`` reminders.
        """
        if not isinstance(message, str) or not message.strip():
            raise InvalidInput("the reminder message must be a non-empty string")
        budget = self._limits.message_body_bytes - HEADER_RESERVE
        path = self._check_path(file_path)
        if path is not None:
            budget -= len(path.encode())
        size = len(message.encode())
        if size > budget:
            raise InvalidInput(
                f"the reminder message is {size} bytes; the limit here is {budget}: "
                "write the details to a file and pass its path as file_path"
            )
        now = self.clock()
        due_at = self._check_when(delay_seconds, at, now)
        found = await self._store.write(
            q.insert, agent, message, path, due_at, now, self._limits.reminder_max_pending
        )
        await self._audit.record(
            agent, "reminder.create", f"reminder/{found.id}", {"due_at": found.due_at}
        )
        self._events.publish("reminder.created", found.to_json())
        self._wake.set()
        return found

    def _check_path(self, file_path: object) -> str | None:
        if file_path is None or file_path == "":
            return None
        if not isinstance(file_path, str):
            raise InvalidInput("'file_path' must be a string")
        if len(file_path) > FILE_PATH_MAX:
            raise InvalidInput(f"'file_path' is longer than {FILE_PATH_MAX} characters")
        if any(c in file_path for c in "\x00\n\r"):
            raise InvalidInput("'file_path' must be one line without NUL")
        return file_path

    def _check_when(self, delay_seconds: object, at: object, now: float) -> float:
        if (delay_seconds is None) == (at is None):
            raise InvalidInput("give exactly one of 'delay_seconds' and 'at'")
        limit = float(self._limits.reminder_max_delay_seconds)
        if delay_seconds is not None:
            delay = _number("delay_seconds", delay_seconds)
            if not 0 <= delay <= limit:
                raise InvalidInput(f"'delay_seconds' must be between 0 and {limit:g}")
            return now + delay
        when = _number("at", at)
        if when < now - PAST_GRACE_SECONDS:
            raise InvalidInput(f"'at' ({when:.0f}) is in the past; now is {now:.0f}")
        if when > now + limit:
            raise InvalidInput(f"'at' is more than {limit:g} seconds ahead")
        return max(when, now)

    # --- cancelling -----------------------------------------------------------------
    async def cancel(self, reminder_id: int, *, by: str, owner: str | None) -> Reminder:
        """Cancel a pending reminder; ``owner`` (an agent) may only cancel its own.

        Raises:
            NotFound: no such reminder (or, for an agent, not one of its own).
            Refused: it already fired or was cancelled.
        """
        found = await self._store.read(q.get, reminder_id)
        if found is None or (owner is not None and found.agent != owner):
            raise NotFound(f"no reminder #{reminder_id}" + (" of yours" if owner else ""))
        if not found.pending:
            raise Refused(f"reminder #{reminder_id} is {found.status}, not pending")
        now = self.clock()
        audit_op = self._audit.append_op(
            by, "reminder.cancel", f"reminder/{found.id}", {"agent": found.agent}
        )

        def op(db: Any) -> Any:
            if not q.close(db, reminder_id, ReminderStatus.CANCELLED, now, by):
                return None
            return q.get(db, reminder_id), audit_op(db)

        result = await self._store.write(op)
        if result is None:
            current = await self._store.read(q.get, reminder_id)
            status = current.status if current else "gone"
            raise Refused(f"reminder #{reminder_id} is {status}, not pending")
        cancelled, entry = result
        self._audit.appended(entry)
        self._events.publish("reminder.cancelled", cancelled.to_json())
        return cancelled

    # --- reading --------------------------------------------------------------------
    async def list(
        self, *, agent: str | None = None, status: str | None = None, limit: int = 500
    ) -> builtins.list[Reminder]:
        if status is not None and status not in q.STATUSES:
            raise InvalidInput(f"unknown status {status!r}: use one of {', '.join(q.STATUSES)}")
        limit = max(1, min(limit, 10_000))
        return await self._store.read(
            lambda db: q.listing(db, agent=agent, status=status, limit=limit)
        )

    # --- firing ---------------------------------------------------------------------
    async def fire_due(self, now: float | None = None) -> builtins.list[Reminder]:
        """Deliver every reminder that is due; return the ones fired or dropped."""
        when = self.clock() if now is None else now
        done: builtins.list[Reminder] = []
        for reminder in await self._store.read(q.due, when):
            try:
                fired = await self._fire(reminder, when)
            except HyperhiveError as exc:
                # it stays pending and is tried again; the others must not wait for it
                logger.error("could not fire reminder #%d: %s", reminder.id, exc)
                continue
            if fired is not None:
                done.append(fired)
        return done

    async def _fire(self, reminder: Reminder, now: float) -> Reminder | None:
        rid = reminder.id

        def make(db: Any, message_id: int) -> str | None:
            if not q.close(db, rid, ReminderStatus.FIRED, now, SYSTEM, message_id):
                return None  # cancelled meanwhile
            return reminder_body(reminder, self._limits.message_body_bytes)

        try:
            sent = await self._broker.send_if(SYSTEM, reminder.agent, make)
        except NotFound:
            # the agent is gone (destroyed, or a draft again): nobody to wake
            if not await self._store.write(q.close, rid, ReminderStatus.DROPPED, now, SYSTEM):
                return None
            dropped = await self._store.read(q.get, rid)
            if dropped is not None:
                self._events.publish("reminder.cancelled", dropped.to_json())
            return dropped
        if sent is None:
            return None  # cancelled meanwhile
        fired = await self._store.read(q.get, rid)
        if fired is not None:
            self._events.publish("reminder.fired", fired.to_json())
        return fired

    async def run(self) -> None:
        """The scheduler: fire what is due, then sleep until the next one (or a new one)."""
        while True:
            self._wake.clear()
            wait = IDLE_WAIT_SECONDS
            try:
                await self.fire_due()
                nxt = await self._store.read(q.next_due)
                if nxt is not None:
                    wait = min(max(nxt - self.clock(), 0.01), IDLE_WAIT_SECONDS)
            except HyperhiveError as exc:
                logger.error("the reminder scheduler failed: %s", exc)
            except Exception:
                logger.exception("the reminder scheduler failed")
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait):
                    await self._wake.wait()

    def kick(self) -> None:
        """Make the scheduler look again now (tests move the clock)."""
        self._wake.set()


def _number(what: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidInput(f"'{what}' must be a number of seconds")
    return float(value)
