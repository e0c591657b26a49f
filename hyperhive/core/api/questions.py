"""RPC methods of operator questions: agents ask, the operator answers or cancels."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hyperhive.core.protocol import Caller, Registry, Scope, p
from hyperhive.core.replies import QuestionRow, QuestionsReply, question_row

if TYPE_CHECKING:
    from hyperhive.core.hive import Hive


def register(reg: Registry, hive: Hive) -> None:
    questions = hive.questions

    @reg.method(
        "questions.ask",
        Scope.AGENT,
        question=p(str),
        options=p(list, None, default=None),
        multi=p(bool, default=False),
        ttl_seconds=p(float, None, default=None),
        to=p(str, None, default=None),
    )
    async def ask(
        caller: Caller,
        question: str,
        options: list[Any] | None,
        multi: bool,
        ttl_seconds: float | None,
        to: str | None,
    ) -> Any:
        """Ask the operator (``to`` empty or ``operator``) or another agent (``to: <name>``);
        the answer arrives later as a message from ``system``."""
        asked = await questions.ask(caller.name, question, options or [], multi, ttl_seconds, to)
        return {"id": asked.id, "deadline": asked.deadline, "target": asked.target}

    @reg.method("questions.reply", Scope.AGENT, id=p(int), answer=p(str))
    async def reply(caller: Caller, id: int, answer: str) -> Any:
        """Answer a peer question asked of this agent; the asker gets it from ``system``."""
        return (await questions.reply(id, caller.name, answer)).to_json()

    @reg.method(
        "questions.list",
        Scope.HOST,
        status=p(str, None, default=None),
        limit=p(int, None, default=None),
    )
    async def list_(caller: Caller, status: str | None, limit: int | None) -> QuestionsReply:
        """Questions oldest first, optionally of one status; damaged rows carry ``broken``."""
        if limit is not None:
            limit = max(1, min(limit, 10_000))
        found = await questions.list(status, limit)
        return {"questions": [question_row(f.to_json()) for f in found]}

    @reg.method(
        "questions.answer",
        Scope.HOST,
        decides=True,
        id=p(int),
        options=p(list, None, default=None),
        text=p(str, None, default=None),
    )
    async def answer(
        caller: Caller, id: int, options: list[Any] | None, text: str | None
    ) -> QuestionRow:
        """Answer a pending question with offered options and/or free text."""
        return question_row((await questions.answer(id, options, text, caller.actor)).to_json())

    @reg.method("questions.cancel", Scope.HOST, decides=True, id=p(int))
    async def cancel(caller: Caller, id: int) -> QuestionRow:
        """Withdraw a pending question; the asker is told it was cancelled."""
        return question_row((await questions.cancel(id, caller.actor)).to_json())
