"""Verbs for operator questions: list them, answer one, cancel one."""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence

from hyperhive.commands import Context, Output, Verb, ago, table
from hyperhive.core.replies import QuestionRow, QuestionsReply


def choose(
    text: str | None, explicit: Sequence[str] | None, offered: Sequence[str]
) -> tuple[list[str], str | None]:
    """The CLI's answer rule: ``(options, text)`` to send.

    ``--option`` picks options explicitly, and TEXT is then free text next to them.
    Without ``--option``, a TEXT that equals an offered option exactly selects it;
    any other TEXT is a free-text answer.
    """
    if explicit:
        return list(explicit), text
    if text is not None and text in offered:
        return [text], None
    return [], text


def _left(deadline: float) -> str:
    d = deadline - time.time()
    if d <= 0:
        return "due"
    for unit, size in (("h", 3600), ("m", 60)):
        if d >= size:
            return f"{int(d // size)}{unit}"
    return f"{int(d)}s"


def _line(text: str, width: int = 70) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def _answer(q: QuestionRow) -> str:
    answer = q.get("answer")
    if answer is None:
        return ""
    parts = [", ".join(answer["options"])] if answer["options"] else []
    if answer["text"]:
        parts.append(_line(answer["text"], 40))
    return " / ".join(parts)


def question_rows(questions: Sequence[QuestionRow]) -> str:
    rows = []
    for q in questions:
        options = " | ".join(q["options"])
        if q["options"] and q["multi"]:
            options = "any of: " + options
        text = _line(q["question"])
        if q.get("broken"):
            text = f"[BROKEN: {q['broken']}] {text}"
        status = q["status"]
        if status == "pending":
            status = f"pending ({_left(q['deadline'])} left)"
        elif status in ("answered", "cancelled"):
            status = f"{status} by {q.get('answerer') or '?'}"
        target = q.get("target") or "operator"
        rows.append(
            (q["id"], ago(q["created_at"]), q["asker"], target, status, text, options, _answer(q))
        )
    return table(rows, ["ID", "AGE", "ASKER", "TO", "STATUS", "QUESTION", "OPTIONS", "ANSWER"])


def _questions_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--all", action="store_true", help="every question, not only the pending ones")


async def questions(ctx: Context) -> Output:
    status = None if ctx.args.all else "pending"
    data: QuestionsReply = await ctx.call("questions.list", status=status)
    found = data["questions"]
    if not found:
        return found, "no pending questions" if status else "no questions"
    return found, question_rows(found)


def _answer_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("id", metavar="ID", type=int, help="the question id")
    p.add_argument(
        "text",
        metavar="TEXT",
        nargs="?",
        help="an offered option (when it matches one exactly and no --option is given), "
        "else a free-text answer",
    )
    p.add_argument(
        "--option",
        "-o",
        action="append",
        metavar="O",
        help="choose this offered option (repeat for a multi-choice question)",
    )


async def answer(ctx: Context) -> Output:
    a = ctx.args
    async with ctx.client() as client:
        listed: QuestionsReply = await client.call("questions.list", status="pending")
        pending = listed["questions"]
        offered: list[str] = next((q["options"] for q in pending if q["id"] == a.id), [])
        options, text = choose(a.text, a.option, offered)
        # an empty choice goes to the daemon all the same: it explains what is missing
        done: QuestionRow = await client.call(
            "questions.answer", id=a.id, options=options or None, text=text
        )
    return done, f"answered question #{done['id']} from {done['asker']}: {_answer(done)}"


def _id(p: argparse.ArgumentParser) -> None:
    p.add_argument("id", metavar="ID", type=int, help="the question id")


async def cancel_question(ctx: Context) -> Output:
    done: QuestionRow = await ctx.call("questions.cancel", id=ctx.args.id)
    return done, f"cancelled question #{done['id']} from {done['asker']}"


VERBS = [
    Verb("questions", "list the agents' questions to the operator", questions, _questions_args),
    Verb("answer", "answer a question with an option or free text", answer, _answer_args),
    Verb("cancel-question", "withdraw a pending question", cancel_question, _id),
]
