"""RPC methods of the broker: send, recv, ack, history, the operator's inbox."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

from hyperhive.core.errors import InvalidInput
from hyperhive.core.names import OPERATOR
from hyperhive.core.protocol import Caller, Delivery, Registry, Scope, p

if TYPE_CHECKING:
    from hyperhive.core.hive import Hive


def register(reg: Registry, hive: Hive) -> None:
    broker = hive.broker

    @reg.method(
        "messages.send",
        Scope.HOST,
        Scope.AGENT,
        decides=True,
        to=p(str),
        body=p(str),
        in_reply_to=p(int, None, default=None),
    )
    async def send(caller: Caller, to: str, body: str, in_reply_to: int | None) -> Any:
        """Send ``body`` to an agent, ``manager``, ``operator`` or ``*`` (every other agent)."""
        sender = OPERATOR if caller.scope is Scope.HOST else caller.name
        sent = await broker.send(sender, to, body, in_reply_to)
        return {"ids": [m.id for m in sent], "recipients": [m.recipient for m in sent]}

    @reg.method(
        "messages.recv",
        Scope.AGENT,
        wait_seconds=p(float, default=0.0),
        max=p(int, default=1),
    )
    async def recv(caller: Caller, wait_seconds: float, max: int) -> Any:
        """Pop up to ``max`` messages, waiting up to ``wait_seconds`` for the first.

        A reply that cannot be written, or a ``$/cancel`` of the request, puts them back.
        """
        got = await broker.recv(caller.name, wait_seconds, max)
        result = {"messages": [m.to_json() for m in got], "pending": broker.depth(caller.name)}
        if not got:
            return result
        return Delivery(result, functools.partial(broker.undeliver, caller.name, got))

    @reg.method("messages.ack", Scope.AGENT, ids=p(list))
    async def ack(caller: Caller, ids: list[int]) -> Any:
        """Acknowledge the delivered messages ``ids``: the ones the turn saw."""
        return {"acked": await broker.ack(caller.name, ids)}

    @reg.method("messages.requeue", Scope.AGENT, ids=p(list, None, default=None))
    async def requeue(caller: Caller, ids: list[int] | None) -> Any:
        """Put delivered, unacknowledged messages back (all when ``ids`` is null)."""
        return {"requeued": broker.requeue(caller.name, ids)}

    @reg.method(
        "messages.history",
        Scope.HOST,
        agent=p(str, None, default=None),
        limit=p(int, default=50),
        before_id=p(int, None, default=None),
    )
    async def history(caller: Caller, agent: str | None, limit: int, before_id: int | None) -> Any:
        """The newest messages, optionally to or from one agent."""
        limit = max(1, min(limit, 10_000))
        got = await broker.history(agent=agent, limit=limit, before_id=before_id)
        return {"messages": [m.to_json() for m in got]}

    @reg.method("messages.inbox", Scope.HOST, limit=p(int, default=50))
    async def inbox(caller: Caller, limit: int) -> Any:
        """Messages to the operator, newest last."""
        limit = max(1, min(limit, 10_000))
        got = await broker.history(recipient=OPERATOR, limit=limit)
        return {"messages": [m.to_json() for m in got]}

    @reg.method("messages.mark_read", Scope.HOST, decides=True, ids=p(list))
    async def mark_read(caller: Caller, ids: list[Any]) -> Any:
        """Mark messages to the operator as read (other ids change nothing); not for viewers."""
        if len(ids) > 10_000:
            raise InvalidInput("messages.mark_read: at most 10000 ids at once")
        clean = [i for i in ids if isinstance(i, int) and not isinstance(i, bool)]
        return {"read": await broker.ack_operator(clean)}
