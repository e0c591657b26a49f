"""The message broker: durable send, long-poll recv, at-least-once delivery to harnesses.

The daemon is the only writer of the database, so the broker keeps each agent's
inbox in memory (loaded from the unacknowledged rows at start) and writes through:
a message is committed before `send` returns, then queued and its recipient woken.
A delivered message stays *in flight* until the harness acks it at the end of a
successful turn; a failed turn (or a restart of the harness or the daemon) puts it
back, and its next delivery is marked ``redelivered``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from hyperhive.core.errors import InvalidInput, NotFound, Refused
from hyperhive.core.events import EventBus
from hyperhive.core.models import Message
from hyperhive.core.names import BROADCAST, OPERATOR, SYSTEM
from hyperhive.core.policy import SendPolicies, exempt
from hyperhive.core.quotas import Bucket, Watermark
from hyperhive.core.settings import Limits
from hyperhive.core.store import Store
from hyperhive.core.store import messages as q

logger = logging.getLogger(__name__)

# A broadcast wakes its recipients this many at a time, paced (`Broker._fan_out`), so that
# the traffic arriving meanwhile is served between the slices (not after every copy).
WAKE_SLICE = 16
FAN_OUT_PACE = 0.002  # seconds between slices on an idle loop
FAN_OUT_BACKOFF_MAX = 0.1  # the longest extra wait when the loop is behind


@dataclass
class _Inbox:
    pending: deque[Message] = field(default_factory=deque)
    inflight: dict[int, Message] = field(default_factory=dict)
    before: dict[int, Message] = field(default_factory=dict)  # in flight, as before delivery
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    waiters: int = 0  # long polls parked right now


class Broker:
    """Routes messages between agents, the manager and the operator."""

    def __init__(
        self,
        store: Store,
        events: EventBus,
        limits: Limits,
        agent_names: Callable[[], frozenset[str]],
        *,
        clock: Callable[[], float] = time.time,
        policies: SendPolicies | None = None,
        watermark: Watermark | None = None,
    ) -> None:
        self._store = store
        self._policies = policies
        self._watermark = watermark
        self._events = events
        self._limits = limits
        self._agent_names = agent_names
        self._clock = clock
        self._inboxes: dict[str, _Inbox] = {}
        self._buckets: dict[str, Bucket] = {}
        self._next_id = 1
        self._fanouts: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        """Load every unacknowledged message into the in-memory inboxes."""
        self._next_id = await self._store.read(q.next_id)
        for m in await self._store.read(q.unacked):
            if m.recipient != OPERATOR:
                self._inbox(m.recipient).pending.append(m)
        for inbox in self._inboxes.values():
            if inbox.pending:
                inbox.wake.set()

    def _inbox(self, name: str) -> _Inbox:
        inbox = self._inboxes.get(name)
        if inbox is None:
            inbox = self._inboxes[name] = _Inbox()
        return inbox

    # --- sending --------------------------------------------------------------
    def _recipients(self, sender: str, to: object) -> list[str]:
        if not isinstance(to, str) or not to:
            raise InvalidInput("'to' must be a non-empty string")
        names = self._agent_names()
        if to == BROADCAST:
            targets = sorted(n for n in names if n != sender)
            if not targets:
                raise NotFound("broadcast has no recipients: there are no other agents")
            return targets
        if to == OPERATOR or to in names:
            return [to]
        known = ", ".join(sorted(names | {OPERATOR, BROADCAST}))
        raise NotFound(f"unknown recipient {to!r}; known: {known}")

    def _check_rate(self, sender: str, cost: int) -> None:
        """Spend one token per recipient (a broadcast to N agents costs N)."""
        if sender in (OPERATOR, SYSTEM):
            return
        now = time.monotonic()
        rate, burst = self._limits.sends_per_second, float(self._limits.send_burst)
        bucket = self._buckets.get(sender)
        if bucket is None:
            bucket = self._buckets[sender] = Bucket(rate, burst, burst, now)
        wait = bucket.take(float(cost), now)
        if wait:
            many = f" ({cost} recipients)" if cost > 1 else ""
            raise Refused(
                f"rate limited: {sender} may send {rate:g} messages/s (burst {burst:g}, one "
                f"per recipient){many}; slow down and batch your updates"
            )

    async def _check_allowed(self, sender: str, to: str, in_reply_to: int | None) -> None:
        """The send allow-list, from the applied config the daemon holds (`policy`)."""
        if self._policies is None or exempt(sender):
            return
        policy = await self._policies.get(sender)
        if policy.permits(to):
            return
        if (
            in_reply_to is not None
            and to != BROADCAST
            and await self._answers(sender, to, in_reply_to)
        ):
            return
        raise policy.refusal(to)

    async def _answers(self, sender: str, to: str, in_reply_to: int) -> bool:
        """Whether message ``in_reply_to`` was sent by ``to`` to ``sender`` (a reply)."""
        inbox = self._inboxes.get(sender)
        original = inbox.inflight.get(in_reply_to) if inbox is not None else None
        if original is None:
            original = await self._store.read(q.get, in_reply_to)
        return original is not None and original.recipient == sender and original.sender == to

    async def send(
        self, sender: str, to: object, body: object, in_reply_to: object = None
    ) -> list[Message]:
        """Store a message (one per recipient for ``*``) durably, then wake the recipients.

        Raises:
            InvalidInput: a bad body or reply id.
            NotFound: the recipient does not exist.
            Refused: the sender may not message the recipient (its allow-list), is over
                its rate limit, or the database is over its watermark.
        """
        if not isinstance(body, str):
            raise InvalidInput("'body' must be a string")
        size = len(body.encode())
        if size > self._limits.message_body_bytes:
            raise InvalidInput(
                f"message body is {size} bytes; the limit is {self._limits.message_body_bytes}"
            )
        if in_reply_to is not None and (
            isinstance(in_reply_to, bool) or not isinstance(in_reply_to, int) or in_reply_to < 1
        ):
            raise InvalidInput("'in_reply_to' must be a positive message id")
        targets = self._recipients(sender, to)
        assert isinstance(to, str)
        await self._check_allowed(sender, to, in_reply_to)
        if self._watermark is not None:
            self._watermark.check(sender, "a message")
        self._check_rate(sender, len(targets))
        now = self._clock()
        batch = []
        for target in targets:
            batch.append(Message(self._next_id, now, sender, target, body, in_reply_to, None, None))
            self._next_id += 1
        await self._store.write(q.insert, batch)
        for m in batch:
            if m.recipient != OPERATOR:
                self._inbox(m.recipient).pending.append(m)
        if len(batch) <= WAKE_SLICE:
            self._announce(batch)
        else:
            task = asyncio.create_task(self._fan_out(batch), name=f"fan-out of #{batch[0].id}")
            self._fanouts.add(task)
            task.add_done_callback(self._fanouts.discard)
        return batch

    def _announce(self, batch: Sequence[Message]) -> None:
        """Wake the recipients of ``batch`` (already in their inboxes) and publish it."""
        for m in batch:
            if m.recipient != OPERATOR:
                self._inbox(m.recipient).wake.set()
            self._events.publish("message.sent", m.to_json())

    async def _fan_out(self, batch: Sequence[Message]) -> None:
        """Announce a broadcast `WAKE_SLICE` copies at a time, paced by the event loop.

        After each slice it waits `FAN_OUT_PACE`; when the loop comes back later than
        that (it is busy serving the copies already woken and the traffic beside them),
        it waits longer before the next slice, so a broadcast to many agents never
        queues everyone else's messages behind it. Every copy is durable and in its
        inbox before `send` returns (a ``recv`` that comes first takes it at once); only
        waking the long polls is paced. A fan-out cut short (the daemon stopping) loses
        nothing: the copies wait in their inboxes and rows.
        """
        loop = asyncio.get_running_loop()
        for start in range(0, len(batch), WAKE_SLICE):
            self._announce(batch[start : start + WAKE_SLICE])
            if start + WAKE_SLICE >= len(batch):
                break
            asked = loop.time()
            await asyncio.sleep(FAN_OUT_PACE)
            late = loop.time() - asked - FAN_OUT_PACE
            if late > FAN_OUT_PACE:
                await asyncio.sleep(min(FAN_OUT_BACKOFF_MAX, late * 4))

    async def stop(self) -> None:
        """Cut every fan-out short (the daemon is stopping): its copies wait in their rows."""
        for task in list(self._fanouts):
            task.cancel()
        await asyncio.gather(*list(self._fanouts), return_exceptions=True)

    async def send_if(
        self, sender: str, to: str, make: Callable[[Any, int], str | None]
    ) -> Message | None:
        """Store one message whose body ``make(db, message_id)`` writes, in one transaction.

        ``make`` runs inside the write that inserts the message (e.g. "mark reminder #3
        fired" or "store the question"), so its own writes and the message happen
        together or not at all. It returns the body, or None to send nothing.

        Raises:
            InvalidInput: a body over the limit (nothing is written).
            NotFound: the recipient does not exist.
        """
        if to == BROADCAST:
            raise InvalidInput("a guarded message has exactly one recipient")
        [target] = self._recipients(sender, to)
        limit = self._limits.message_body_bytes
        mid = self._next_id
        self._next_id += 1
        now = self._clock()

        def op(db: Any) -> Message | None:
            body = make(db, mid)
            if body is None:
                return None
            if len(body.encode()) > limit:
                raise InvalidInput(
                    f"message body is {len(body.encode())} bytes; the limit is {limit}"
                )
            m = Message(mid, now, sender, target, body, None, None, None)
            q.insert(db, [m])
            return m

        m = await self._store.write(op)
        if m is None:
            return None
        if m.recipient != OPERATOR:
            inbox = self._inbox(m.recipient)
            inbox.pending.append(m)
            inbox.wake.set()
        self._events.publish("message.sent", m.to_json())
        return m

    # --- receiving ------------------------------------------------------------
    async def recv(self, agent: str, wait_seconds: object = 0, max: object = 1) -> list[Message]:
        """Pop up to ``max`` messages, waiting up to ``wait_seconds`` for the first one."""
        if isinstance(wait_seconds, bool) or not isinstance(wait_seconds, int | float):
            raise InvalidInput("'wait_seconds' must be a number")
        if not 0 <= wait_seconds <= self._limits.recv_wait_seconds:
            raise InvalidInput(
                f"'wait_seconds' must be between 0 and {self._limits.recv_wait_seconds:g}"
            )
        if isinstance(max, bool) or not isinstance(max, int):
            raise InvalidInput("'max' must be an integer")
        if not 1 <= max <= self._limits.recv_max:
            raise InvalidInput(f"'max' must be between 1 and {self._limits.recv_max}")
        inbox = self._inbox(agent)
        if not inbox.pending and wait_seconds > 0:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + float(wait_seconds)
            inbox.waiters += 1
            try:
                while not inbox.pending:
                    remaining = deadline - loop.time()
                    if remaining <= 0:
                        break
                    inbox.wake.clear()
                    try:
                        async with asyncio.timeout(remaining):
                            await inbox.wake.wait()
                    except TimeoutError:
                        break
            finally:
                inbox.waiters -= 1
        out: list[Message] = []
        now = self._clock()
        while inbox.pending and len(out) < max:
            m = inbox.pending.popleft()
            inbox.before[m.id] = m
            m = replace(m, delivered_at=now, deliveries=m.deliveries + 1)
            inbox.inflight[m.id] = m
            out.append(m)
        if not inbox.pending:
            inbox.wake.clear()
        if out:
            # durability of the delivery mark only matters for the "redelivered" flag
            self._store.write_later(q.mark_delivered, [m.id for m in out], now)
            self._events.publish("message.delivered", {"agent": agent, "ids": [m.id for m in out]})
        return out

    def undeliver(self, agent: str, delivered: Sequence[Message]) -> int:
        """Take back deliveries nobody saw (the reply was lost or its caller cancelled).

        Each message still in flight as delivered goes back to the head of the inbox as it
        was before: not counted as delivered, so its flags stay true.
        """
        inbox = self._inboxes.get(agent)
        if inbox is None:
            return 0
        back = [m for m in delivered if inbox.inflight.get(m.id) is m]
        if not back:
            return 0
        earlier = []
        for m in back:
            del inbox.inflight[m.id]
            earlier.append(inbox.before.pop(m.id))
        earlier.sort(key=lambda m: m.id)
        inbox.pending.extendleft(reversed(earlier))
        inbox.wake.set()
        self._store.write_later(q.undeliver, [(m.delivered_at, m.id) for m in earlier])
        ids = [m.id for m in earlier]
        self._events.publish("message.requeued", {"agent": agent, "ids": ids, "unseen": True})
        return len(ids)

    async def ack(self, agent: str, ids: Sequence[int]) -> int:
        """Acknowledge the in-flight messages ``ids`` (the ones a turn saw); others are ignored."""
        if not isinstance(ids, list) or not all(
            isinstance(i, int) and not isinstance(i, bool) for i in ids
        ):
            raise InvalidInput("'ids' must be a list of message ids")
        inbox = self._inbox(agent)
        chosen = list(dict.fromkeys(i for i in ids if i in inbox.inflight))
        if not chosen:
            return 0
        await self._store.write(q.ack, chosen, self._clock())
        for i in chosen:
            inbox.inflight.pop(i, None)
            inbox.before.pop(i, None)
        self._events.publish("message.acked", {"agent": agent, "ids": chosen})
        return len(chosen)

    def requeue(self, agent: str, ids: Sequence[int] | None = None) -> int:
        """Put in-flight messages (all, or ``ids``) back at the head of the inbox (failed turn)."""
        if ids is not None and (
            not isinstance(ids, list)
            or not all(isinstance(i, int) and not isinstance(i, bool) for i in ids)
        ):
            raise InvalidInput("'ids' must be a list of message ids")
        inbox = self._inbox(agent)
        wanted = (
            inbox.inflight
            if ids is None
            else {i: inbox.inflight[i] for i in ids if i in inbox.inflight}
        )
        if not wanted:
            return 0
        back = sorted(wanted.values(), key=lambda m: m.id)
        for m in back:
            del inbox.inflight[m.id]
            inbox.before.pop(m.id, None)
        inbox.pending.extendleft(reversed(back))
        inbox.wake.set()
        self._events.publish("message.requeued", {"agent": agent, "ids": [m.id for m in back]})
        return len(back)

    async def ack_operator(self, ids: Sequence[int]) -> int:
        """Mark messages to the operator as read; ids of other messages change nothing."""
        if not ids:
            return 0
        return await self._store.write(q.ack_operator, list(ids), self._clock())

    # --- reading --------------------------------------------------------------
    def depth(self, agent: str) -> int:
        """Messages waiting for ``agent`` (not yet delivered)."""
        inbox = self._inboxes.get(agent)
        return len(inbox.pending) if inbox else 0

    def inflight(self, agent: str) -> int:
        inbox = self._inboxes.get(agent)
        return len(inbox.inflight) if inbox else 0

    def waiters(self, agent: str) -> int:
        """Long polls (``recv`` with a wait) parked for ``agent`` right now."""
        inbox = self._inboxes.get(agent)
        return inbox.waiters if inbox else 0

    def forget(self, agent: str) -> None:
        """Drop the in-memory inbox of a destroyed agent (its rows stay until swept)."""
        self._inboxes.pop(agent, None)

    async def history(
        self,
        *,
        agent: str | None = None,
        recipient: str | None = None,
        limit: int = 50,
        before_id: int | None = None,
    ) -> list[Message]:
        return await self._store.read(
            lambda db: q.history(
                db, agent=agent, recipient=recipient, limit=limit, before_id=before_id
            )
        )

    async def sweep(self) -> int:
        """Delete acknowledged messages past the retention period."""
        cutoff = self._clock() - self._limits.messages_keep_days * 86400
        return await self._store.write(q.sweep, cutoff)
