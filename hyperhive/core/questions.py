"""Operator questions: an agent asks, the operator answers or cancels, or the TTL runs out.

Every outcome reaches the asker as a message from ``system`` through the broker:
``[answer to question #12] <options / text>``, ``[answer to question #12] [expired]`` or
``[question #12 cancelled]``, each followed by a line quoting the question. A decision
is a conditional UPDATE (``WHERE status = 'pending'``) written together with its audit
row, so of an answer and a cancel racing each other exactly one wins.
"""

from __future__ import annotations

import builtins
import json
import logging
import math
import time
from collections.abc import Callable, Sequence
from typing import Any

from hyperhive.core.audit import AuditLog
from hyperhive.core.broker import Broker
from hyperhive.core.errors import HyperhiveError, InvalidInput, NotFound, Refused
from hyperhive.core.events import EventBus
from hyperhive.core.models import Question, QuestionStatus
from hyperhive.core.names import MANAGER, OPERATOR, SYSTEM
from hyperhive.core.safetext import fence, new_fence_token
from hyperhive.core.settings import Limits
from hyperhive.core.store import Store
from hyperhive.core.store import questions as q

__all__ = ["Question", "QuestionStatus", "Questions", "answer_body"]

logger = logging.getLogger(__name__)

QUOTE_CHARS = 200


def _quote(question: Question) -> str:
    text = " ".join(question.question.split())
    if len(text) > QUOTE_CHARS:
        text = text[: QUOTE_CHARS - 1] + "…"
    return f'\n(question: "{text}")'


def answer_body(
    question: Question,
    options: Sequence[str],
    text: str | None,
    *,
    quote: bool = True,
    answerer: str = OPERATOR,
    token: str | None = None,
) -> str:
    """The message that carries an answer to the asker.

    A peer question names its answerer; an agent's answer is fenced (``token``), so the
    asker's model reads it as that agent's words, never as a hyperhive notice.
    """
    parts = [", ".join(options)] if options else []
    if text:
        parts.append(text)
    head = f"[answer to question #{question.id}"
    if question.target != OPERATOR:
        head += f" from {answerer}"
    if answerer != OPERATOR and question.target != OPERATOR:
        fenced = fence("\n".join(parts), token or new_fence_token())
        body = f"{head}] ({answerer}'s words between the fence lines)\n{fenced}"
    else:
        body = head + "] " + "\n".join(parts)
    return body + _quote(question) if quote else body


def peer_question_body(question: Question, cap: int, token: str | None = None) -> str:
    """The message that puts a peer question in its target's inbox, at most ``cap`` bytes.

    The asker's text and options sit inside a fence; how to answer follows it. A question
    too long for one message keeps its head: the rest always fits.
    """
    token = token or new_fence_token()
    head = f"[question #{question.id} from {question.asker}] (their words between the fence lines)"
    options = ""
    if question.options:
        several = " (pick one or more)" if question.multi else " (pick one)"
        options = "\noptions: " + " | ".join(question.options) + several
        if len(options.encode()) > cap // 2:  # sixteen long options: keep their heads
            options = options.encode()[: cap // 2 - 3].decode(errors="ignore") + "…"
    how = (
        f"Answer it with answer(id={question.id}, answer=...); it expires at "
        f"{time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime(question.deadline))}."
    )
    frame = f"{head}\n{fence('', token)}\n{how}"
    room = cap - len(frame.encode()) - len(options.encode())
    text = question.question
    if len(text.encode()) > room:
        text = text.encode()[: max(room - 3, 0)].decode(errors="ignore") + "…"
    return f"{head}\n{fence(text + options, token)}\n{how}"


def _cancel_body(question: Question) -> str:
    return f"[question #{question.id} cancelled]" + _quote(question)


def _expired_body(question: Question) -> str:
    return f"[answer to question #{question.id}] [expired]" + _quote(question)


class Questions:
    """Questions from agents to the operator, stored in the questions table."""

    SWEEP_SECONDS = 5.0  # how often overdue questions are expired

    def __init__(
        self,
        store: Store,
        events: EventBus,
        broker: Broker,
        limits: Limits,
        audit: AuditLog,
        *,
        recipients: Callable[[], frozenset[str]] = frozenset,
        allowed: Callable[[str], Sequence[str]] = lambda asker: (),
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._recipients = recipients  # agents that can be asked (peer questions)
        self._allowed = allowed  # an agent's send allow-list from its approved config
        self._events = events
        self._broker = broker
        self._limits = limits
        self._audit = audit
        self.clock = clock  # the time source; tests move it forward
        self._logged_broken: set[tuple[int, str]] = set()

    # --- asking -----------------------------------------------------------------
    async def ask(
        self,
        asker: str,
        question: str,
        options: Sequence[str] = (),
        multi: bool = False,
        ttl_seconds: float | None = None,
        to: str | None = None,
    ) -> Question:
        """Store a new question and publish ``question.asked``.

        Args:
            asker: the agent asking; the answer is sent to it.
            to: ``None``, ``""`` or ``operator`` for the operator; an agent's name for a
                peer question, which is also delivered to that agent's inbox.
            question: the text, at most ``limits.question_text_bytes``.
            options: up to ``limits.question_options`` unique, non-empty choices.
            multi: whether the operator may pick several options.
            ttl_seconds: how long the question stays open (default
                ``limits.question_default_ttl_seconds``, at most ``question_ttl_seconds``).

        Raises:
            InvalidInput: a bad text, option list or TTL.
            Refused: the asker already has too many open questions, or asks itself.
            NotFound: ``to`` names no agent.
        """
        if not isinstance(asker, str) or not asker:
            raise InvalidInput("the asker must be a non-empty string")
        target = self._check_target(asker, to)
        text = self._check_text("question", question)
        if text is None:
            raise InvalidInput("the question must not be empty")
        offered = self._check_options(options)
        if not isinstance(multi, bool):
            raise InvalidInput("'multi' must be true or false")
        if multi and not offered:
            raise InvalidInput("'multi' needs options to choose from")
        ttl = self._check_ttl(ttl_seconds)
        now = self.clock()
        limit = self._limits.question_max_pending
        if target == OPERATOR:
            found = await self._store.write(
                q.insert, asker, text, offered, multi, now + ttl, now, limit
            )
        else:
            found = await self._ask_peer(asker, target, text, offered, multi, now + ttl, now)
        self._events.publish("question.asked", found.to_json())
        return found

    def _check_target(self, asker: str, to: object) -> str:
        if to is None or to == "" or to == OPERATOR:
            return OPERATOR
        if not isinstance(to, str):
            raise InvalidInput("'to' must be an agent's name or 'operator'")
        if to == asker:
            raise Refused("you cannot ask yourself a question")
        if to not in self._recipients():
            known = ", ".join(sorted(self._recipients() - {asker})) or "none"
            raise NotFound(f"no agent named {to!r} to ask; agents: {known}")
        allowed = self._allowed(asker)
        if allowed and to not in allowed and MANAGER not in (asker, to):
            raise Refused(
                f"{asker} may not message {to!r} (allow-list: {', '.join(allowed)}); "
                "ask the manager instead"
            )
        return to

    async def _ask_peer(
        self,
        asker: str,
        target: str,
        text: str,
        offered: builtins.list[str],
        multi: bool,
        deadline: float,
        now: float,
    ) -> Question:
        """Store a peer question and put it in its target's inbox, in one transaction."""
        limit = self._limits.question_max_pending
        made: list[Question] = []

        def make(db: Any, message_id: int) -> str:
            found = q.insert(db, asker, text, offered, multi, deadline, now, limit, target)
            made.append(found)
            return peer_question_body(found, self._limits.message_body_bytes)

        await self._broker.send_if(SYSTEM, target, make)
        return made[-1]

    def _check_text(self, what: str, value: object) -> str | None:
        if value is None:
            return None
        if not isinstance(value, str):
            raise InvalidInput(f"the {what} must be a string, not {type(value).__name__}")
        if not value.strip():
            return None
        size = len(value.encode())
        if size > self._limits.question_text_bytes:
            raise InvalidInput(
                f"the {what} is {size} bytes; the limit is {self._limits.question_text_bytes}"
            )
        return value

    def _check_options(self, options: object) -> builtins.list[str]:
        if options is None:
            return []
        if not isinstance(options, list | tuple):
            raise InvalidInput("'options' must be a list of strings")
        if len(options) > self._limits.question_options:
            raise InvalidInput(
                f"{len(options)} options; the limit is {self._limits.question_options}"
            )
        seen: list[str] = []
        for raw in options:
            if not isinstance(raw, str) or not raw.strip():
                raise InvalidInput("every option must be a non-empty string")
            option = raw.strip()
            if len(option.encode()) > self._limits.question_option_bytes:
                limit = self._limits.question_option_bytes
                raise InvalidInput(f"option {option[:40]!r}… is over {limit} bytes")
            if option in seen:
                raise InvalidInput(f"option {option!r} is listed twice")
            seen.append(option)
        return seen

    def _check_ttl(self, ttl: object) -> float:
        if ttl is None:
            return float(self._limits.question_default_ttl_seconds)
        if isinstance(ttl, bool) or not isinstance(ttl, int | float) or not math.isfinite(ttl):
            raise InvalidInput("'ttl_seconds' must be a number of seconds")
        limit = self._limits.question_ttl_seconds
        if not 1 <= ttl <= limit:
            raise InvalidInput(f"'ttl_seconds' must be between 1 and {limit}, not {ttl:g}")
        return float(ttl)

    # --- deciding ---------------------------------------------------------------
    async def answer(
        self,
        question_id: int,
        options: Sequence[str] | None = None,
        text: str | None = None,
        answerer: str = "operator",
        *,
        agent: str | None = None,
    ) -> Question:
        """Answer a pending question and send the answer to its asker.

        Args:
            question_id: the question.
            options: the chosen options: offered ones, exactly one unless the
                question is ``multi``.
            text: a free-text answer (alone, or next to the options).
            answerer: who answers, for the record and the audit log.
            agent: the agent answering (None: the operator); only the agent a peer
                question was asked of may answer it.

        Raises:
            NotFound: no such question.
            InvalidInput: neither options nor text, or options that were not offered.
            Refused: the question is no longer pending (answered, cancelled, expired),
                or ``agent`` is not the one it was asked of.
        """
        found = await self.get(question_id)
        if agent is not None and found.target != agent:
            if found.asker == agent:
                raise Refused(f"question #{found.id} is yours: only {found.target} answers it")
            raise Refused(f"question #{found.id} was not asked of you; you cannot answer it")
        self._check_open(found)
        chosen = self._check_choice(found, options)
        answer_text = self._check_text("answer", text)
        if not chosen and answer_text is None:
            raise InvalidInput(f"question #{found.id}: give an option or a text answer")
        label = agent or OPERATOR
        body = answer_body(found, chosen, answer_text, answerer=label)
        if len(body.encode()) > self._limits.message_body_bytes:
            body = answer_body(found, chosen, answer_text, quote=False, answerer=label)
            if len(body.encode()) > self._limits.message_body_bytes:
                raise InvalidInput(
                    f"the answer is too long for a message of "
                    f"{self._limits.message_body_bytes} bytes"
                )
        payload = json.dumps({"options": chosen, "text": answer_text})
        detail = {"asker": found.asker, "options": chosen, "text": answer_text}
        decided = await self._decide(found, QuestionStatus.ANSWERED, payload, answerer, detail)
        await self._deliver(decided, body)
        self._events.publish("question.answered", decided.to_json())
        return decided

    async def reply(self, question_id: int, agent: str, answer: object) -> Question:
        """An agent answers a peer question asked of it with one string.

        An answer that names offered options (one, or several joined by ``,`` for a
        ``multi`` question) is recorded as those options; anything else as free text.
        """
        if not isinstance(answer, str) or not answer.strip():
            raise InvalidInput("the answer must be a non-empty string")
        found = await self.get(question_id)
        chosen: builtins.list[str] = []
        if found.options and not found.broken:
            parts = [answer.strip()]
            if found.multi and answer.strip() not in found.options:
                parts = [p.strip() for p in answer.split(",")]
            if all(p in found.options for p in parts) and len(set(parts)) == len(parts):
                chosen = parts
        if chosen:
            return await self.answer(question_id, chosen, None, agent, agent=agent)
        return await self.answer(question_id, None, answer, agent, agent=agent)

    async def cancel(self, question_id: int, by: str = "operator") -> Question:
        """Withdraw a pending question; its asker is told ``[question #N cancelled]``.

        Raises:
            NotFound: no such question.
            Refused: the question is no longer pending.
        """
        found = await self.get(question_id)
        self._check_open(found)
        decided = await self._decide(
            found, QuestionStatus.CANCELLED, None, by, {"asker": found.asker}
        )
        await self._deliver(decided, _cancel_body(decided))
        self._events.publish("question.cancelled", decided.to_json())
        return decided

    def _check_open(self, found: Question) -> None:
        if found.status == QuestionStatus.PENDING:
            return
        if found.status == QuestionStatus.ANSWERED:
            raise Refused(f"question #{found.id} was already answered by {found.answerer}")
        if found.status == QuestionStatus.CANCELLED:
            raise Refused(f"question #{found.id} was cancelled by {found.answerer}")
        if found.status == QuestionStatus.EXPIRED:
            raise Refused(f"question #{found.id} has expired without an answer")
        raise Refused(f"question #{found.id} is damaged ({found.broken}); it cannot be decided")

    def _check_choice(self, found: Question, options: object) -> builtins.list[str]:
        if options is None:
            return []
        if not isinstance(options, list | tuple) or not all(isinstance(o, str) for o in options):
            raise InvalidInput("'options' must be a list of strings")
        if not options:
            return []
        if found.broken and not found.options:
            raise Refused(
                f"question #{found.id} is damaged ({found.broken}): "
                "answer it with free text, or cancel it"
            )
        if not found.options:
            raise InvalidInput(f"question #{found.id} offers no options; answer with text")
        unknown = [o for o in options if o not in found.options]
        if unknown:
            offered = ", ".join(repr(o) for o in found.options)
            raise InvalidInput(
                f"question #{found.id} does not offer {unknown[0]!r}; it offers {offered}"
            )
        if len(set(options)) != len(options):
            raise InvalidInput("an option is chosen twice")
        if len(options) > 1 and not found.multi:
            raise InvalidInput(f"question #{found.id} takes exactly one option")
        return [o for o in found.options if o in options]  # in the order offered

    async def _decide(
        self,
        found: Question,
        status: QuestionStatus,
        payload: str | None,
        who: str,
        detail: dict[str, Any],
    ) -> Question:
        verb = "answer" if status is QuestionStatus.ANSWERED else "cancel"
        audit_op = self._audit.append_op(who, f"question.{verb}", f"question/{found.id}", detail)
        now = self.clock()

        def op(db: Any) -> Any:
            if not q.decide(db, found.id, status, payload, who, now):
                return None
            return q.get(db, found.id), audit_op(db)

        result = await self._store.write(op)
        if result is None:
            raise await self._lost(found.id)
        decided, entry = result
        self._audit.appended(entry)
        return decided

    async def _lost(self, question_id: int) -> HyperhiveError:
        """Why a decision changed nothing: someone decided first, or the deadline passed."""
        now = self.clock()
        current = await self._store.read(q.get, question_id)
        if current is None:
            return NotFound(f"no question #{question_id}")
        if current.pending and current.deadline <= now:
            await self.expire_due(now)
            current = await self._store.read(q.get, question_id) or current
        try:
            self._check_open(current)
        except Refused as exc:
            return exc
        return Refused(f"question #{question_id} changed meanwhile; try again")

    async def _deliver(self, question: Question, body: str) -> None:
        try:
            await self._broker.send(SYSTEM, question.asker, body)
        except HyperhiveError as exc:
            # the decision stands; an asker that is gone simply never reads it
            logger.warning(
                "could not tell %s about question #%d: %s", question.asker, question.id, exc
            )

    # --- expiry -----------------------------------------------------------------
    async def expire_due(self, now: float | None = None) -> builtins.list[Question]:
        """Expire every pending question past its deadline and tell each asker."""
        expired = await self._store.write(q.expire, self.clock() if now is None else now)
        for found in expired:
            await self._deliver(found, _expired_body(found))
            self._events.publish("question.expired", found.to_json())
        return expired

    async def _expire_before_read(self) -> None:
        try:
            await self.expire_due()
        except HyperhiveError as exc:
            # a failed expiry (e.g. a full disk) must not hide the questions themselves
            logger.error("could not expire overdue questions: %s", exc)

    # --- reading ----------------------------------------------------------------
    async def get(self, question_id: int) -> Question:
        """One question (expiring overdue ones first).

        Raises:
            NotFound: no such question.
        """
        await self._expire_before_read()
        found = await self._store.read(q.get, question_id)
        if found is None:
            raise NotFound(f"no question #{question_id}")
        self._log_broken([found])
        return found

    async def list(self, status: str | None = None, limit: int | None = None) -> list[Question]:
        """Questions oldest first, optionally of one status (newest ``limit`` if given).

        A row that does not decode is listed with ``broken`` saying why, never dropped.

        Raises:
            InvalidInput: an unknown status.
        """
        if status is not None and status not in q.STATUSES:
            raise InvalidInput(f"unknown status {status!r}: use one of {', '.join(q.STATUSES)}")
        await self._expire_before_read()
        found = await self._store.read(q.listing, status, limit)
        self._log_broken(found)
        return found

    async def open_for(self, agent: str | None) -> builtins.list[Question]:
        """Pending questions ``agent`` asked or must answer (all pending ones for None)."""
        await self._expire_before_read()
        return await self._store.read(q.open_for, agent)

    def _log_broken(self, questions: Sequence[Question]) -> None:
        for found in questions:
            if found.broken and (found.id, found.broken) not in self._logged_broken:
                self._logged_broken.add((found.id, found.broken))
                logger.error("question #%d is damaged in the database: %s", found.id, found.broken)
