"""RPC methods of an agent's loose ends: reminders, open threads, and its harness log.

Agents reach them on their own socket and only ever see or touch their own; the
manager sees the whole swarm's threads and any agent's log; the operator (host socket)
sees everything and cancels any reminder, and follows a log live (``logs.follow``:
the daemon watches the file and pushes ``log.output`` events to that connection alone).
"""

from __future__ import annotations

import asyncio
import codecs
import secrets
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from hyperhive.core.errors import InvalidInput, NotFound, Refused
from hyperhive.core.models import ApprovalStatus
from hyperhive.core.names import validate_agent_name
from hyperhive.core.protocol import Caller, Registry, Scope, p
from hyperhive.core.replies import (
    LogFollowReply,
    LogsReply,
    ReminderRow,
    RemindersReply,
    ThreadsReply,
    approval_row,
    reminder_row,
    thread_question,
)
from hyperhive.core.safefs import read_chunk

if TYPE_CHECKING:
    from pathlib import Path

    from hyperhive.core.hive import Hive

LINES_MAX = 5000
FOLLOW_INTERVAL = 0.25  # how often the daemon looks for more of a followed log
FOLLOWS_PER_CONNECTION = 8


@dataclass(eq=False)
class _Follow:
    id: str
    name: str
    owner: int  # the connection that follows: the only one that sees the output
    task: asyncio.Task[None] = field(init=False)


def register(reg: Registry, hive: Hive) -> None:
    reminders = hive.reminders

    def own(caller: Caller) -> str | None:
        """The agent whose things a caller may see: None for the operator (everything)."""
        return None if caller.scope is Scope.HOST else caller.name

    @reg.method(
        "reminders.create",
        Scope.AGENT,
        message=p(str),
        delay_seconds=p(float, None, default=None),
        at=p(float, None, default=None),
        file_path=p(str, None, default=None),
    )
    async def create(
        caller: Caller,
        message: str,
        delay_seconds: float | None,
        at: float | None,
        file_path: str | None,
    ) -> ReminderRow:
        """Schedule a durable self-wake: a message from ``system`` at the due time."""
        made = await reminders.create(
            caller.name, message, delay_seconds=delay_seconds, at=at, file_path=file_path
        )
        return reminder_row(made.to_json())

    @reg.method(
        "reminders.list",
        Scope.AGENT,
        Scope.HOST,
        agent=p(str, None, default=None),
        status=p(str, None, default="pending"),
        limit=p(int, default=500),
    )
    async def list_(
        caller: Caller, agent: str | None, status: str | None, limit: int
    ) -> RemindersReply:
        """Reminders (pending ones by default): an agent's own, or any for the operator."""
        mine = own(caller)
        if mine is not None and agent not in (None, mine):
            raise Refused("an agent lists only its own reminders")
        found = await reminders.list(agent=mine or agent, status=status, limit=limit)
        return {"reminders": [reminder_row(r.to_json()) for r in found]}

    @reg.method("reminders.cancel", Scope.AGENT, Scope.HOST, decides=True, id=p(int))
    async def cancel(caller: Caller, id: int) -> ReminderRow:
        """Cancel a pending reminder (an agent: only its own)."""
        return reminder_row(
            (await reminders.cancel(id, by=caller.actor, owner=own(caller))).to_json()
        )

    @reg.method("threads.get", Scope.AGENT, Scope.HOST, agent=p(str, None, default=None))
    async def threads(caller: Caller, agent: str | None) -> ThreadsReply:
        """Loose ends: open questions asked or to answer, pending approvals, reminders.

        An agent gets its own; the manager and the operator get the whole swarm's, or
        one agent's when they name it.
        """
        if caller.scope is Scope.AGENT:
            if agent not in (None, caller.name):
                raise Refused("an agent sees only its own loose ends")
            who: str | None = caller.name
        else:
            who = None if agent is None else validate_agent_name(agent, allow_manager=True)
        questions = await hive.questions.open_for(who)
        pending = await hive.approvals.list(status=ApprovalStatus.PENDING.value)
        if who is not None:
            pending = [a for a in pending if who in (a.agent, a.requested_by)]
        due = await reminders.list(agent=who, status="pending")
        out_q = []
        for q in questions:
            row = thread_question(q.to_json())
            if who is not None:
                row["role"] = "asked" if q.asker == who else "to_answer"
            out_q.append(row)
        return {
            "agent": who,
            "questions": out_q,
            "approvals": [approval_row(a.to_json()) for a in pending],
            "reminders": [reminder_row(r.to_json()) for r in due],
        }

    def log_owner(caller: Caller, name: str | None) -> str:
        """The agent whose log ``caller`` may read: its own, or any for manager and operator."""
        if caller.scope is Scope.AGENT:
            if name not in (None, caller.name):
                raise Refused("only the manager reads another agent's log")
            name = caller.name
        elif name is None:
            if caller.scope is Scope.HOST:
                raise InvalidInput("name the agent")
            name = caller.name
        name = validate_agent_name(name, allow_manager=True)
        if hive.agents.find(name) is None:
            raise NotFound(f"no agent named {name!r}")
        return name

    async def tail(name: str, lines: int, offset: int | None) -> LogsReply:
        if not 1 <= lines <= LINES_MAX:
            raise InvalidInput(f"'lines' must be between 1 and {LINES_MAX}")
        if offset is not None and offset < 0:
            raise InvalidInput("'offset' must not be negative")
        path = log_path(hive, name)
        cap = hive.settings.limits.log_tail_bytes
        chunk = await asyncio.to_thread(read_chunk, path, offset=offset, limit=cap)
        if chunk is None:
            return {"name": name, "text": "", "offset": 0, "size": 0, "truncated": False}
        text = chunk.data.decode(errors="replace")
        truncated = chunk.start > 0 and offset is None
        if offset is None:
            if truncated:  # the first line of a tail read is most likely cut: drop it
                text = text.partition("\n")[2]
            kept = text.splitlines(keepends=True)
            truncated = truncated or len(kept) > lines
            text = "".join(kept[-lines:])
        return {
            "name": name,
            "text": text,
            "offset": chunk.end,
            "size": chunk.size,
            "truncated": truncated,
        }

    @reg.method(
        "logs.tail",
        Scope.AGENT,
        Scope.HOST,
        name=p(str, None, default=None),
        lines=p(int, default=100),
        offset=p(int, None, default=None),
    )
    async def logs(caller: Caller, name: str | None, lines: int, offset: int | None) -> LogsReply:
        """The tail of an agent's harness log (``lines`` lines), or what follows ``offset``.

        An agent reads its own log; the manager and the operator any agent's. The log
        is data the agent can write: read bounded, never through a link.
        """
        return await tail(log_owner(caller, name), lines, offset)

    follows: dict[str, _Follow] = {}

    async def unfollow_owned(conn: int) -> None:
        """A connection that goes away stops its follows."""
        for f in [f for f in follows.values() if f.owner == conn]:
            follows.pop(f.id, None)
            f.task.cancel()

    reg.on_disconnect.append(unfollow_owned)

    async def pump(f: _Follow, offset: int) -> None:
        """Push what is appended to the log as ``log.output``; ``log.closed`` when it ends."""
        path = log_path(hive, f.name)
        cap = hive.settings.limits.log_tail_bytes
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        reason = "stopped"
        try:
            while True:
                chunk = await asyncio.to_thread(read_chunk, path, offset=offset, limit=cap)
                if chunk is None:
                    offset = 0
                elif chunk.start < offset or chunk.data:
                    if chunk.start < offset:  # truncated or rotated: from the start again
                        decoder.reset()
                    offset = chunk.end
                    text = decoder.decode(chunk.data)
                    data = {"id": f.id, "name": f.name, "text": text, "offset": offset}
                    hive.events.publish("log.output", data, only=f.owner)
                    if chunk.end < chunk.size:
                        continue  # more is waiting: read on at once
                await asyncio.sleep(FOLLOW_INTERVAL)
        except Refused as exc:
            reason = exc.message
        finally:
            follows.pop(f.id, None)
            hive.events.publish(
                "log.closed", {"id": f.id, "name": f.name, "reason": reason}, only=f.owner
            )

    @reg.method(
        "logs.follow",
        Scope.HOST,
        name=p(str, None, default=None),
        lines=p(int, default=100),
    )
    async def follow(caller: Caller, name: str | None, lines: int) -> LogFollowReply:
        """The tail of a harness log, then every later chunk pushed as a ``log.output`` event.

        The events go to the calling connection only (subscribe to ``log.*`` first);
        ``logs.unfollow`` or closing the connection stops them. The daemon watches the
        file; the caller never polls.
        """
        name = log_owner(caller, name)
        if sum(1 for f in follows.values() if f.owner == caller.conn) >= FOLLOWS_PER_CONNECTION:
            raise Refused(f"too many follows on one connection (max {FOLLOWS_PER_CONNECTION})")
        got = await tail(name, lines, None)
        f = _Follow(secrets.token_hex(6), name, caller.conn)
        f.task = asyncio.create_task(pump(f, got["offset"]))
        follows[f.id] = f
        return {**got, "id": f.id}

    @reg.method("logs.unfollow", Scope.HOST, id=p(str))
    async def unfollow(caller: Caller, id: str) -> Any:
        """Stop following a log this connection follows."""
        f = follows.get(id)
        if f is None or f.owner != caller.conn:
            raise NotFound(f"no log follow {id!r}")
        follows.pop(id, None)
        f.task.cancel()
        return {"id": id, "stopped": True}


def log_path(hive: Hive, name: str) -> Path:
    """Where the runtime writes ``name``'s harness log."""
    find = getattr(hive.runtime, "log_path", None)
    if find is not None:
        found: Path = find(name)
        return found
    return hive.settings.agent_dir(name) / "harness.log"
