"""Notices: one-line messages from ``system`` about what happened (to the manager, mostly).

A notice's first line is hyperhive's own words: a bracketed head such as
``[killed alice]`` built from validated names and fixed text, then a short daemon-made
remark. Anything an agent could have written (a harness's state reason, a build error
quoting an ``agent.toml``) never joins that line: it follows in a fence
(`safetext.fence`, with a token the agent cannot know) made terminal-safe and cut to one
line, so it can never pass for a notice of its own. The wake prompt fences the whole
body once more for the model that reads it.

`Notices.tell` is the one door for these messages: a notice that cannot be delivered
(a full inbox, a store error) is logged and dropped, never raised, so the action it
reports is never lost or undone because of it.
"""

from __future__ import annotations

import logging

from hyperhive.core.broker import Broker
from hyperhive.core.errors import HyperhiveError
from hyperhive.core.models import Agent, AgentState
from hyperhive.core.names import MANAGER, OPERATOR, SYSTEM
from hyperhive.core.safetext import fence, new_fence_token, terminal_safe

logger = logging.getLogger(__name__)

DETAIL_CHARS = 500


def notice(head: str, remark: str = "", *, detail: str = "", token: str | None = None) -> str:
    """``[head] remark``, and ``detail`` (someone else's words) fenced on a line below.

    ``head`` and ``remark`` are hyperhive's words (names are validated before they get
    here); ``detail`` is shown terminal-safe, on one line, at most `DETAIL_CHARS`.
    """
    line = f"[{head}]" + (f" {remark}" if remark else "")
    if not detail:
        return line
    safe = terminal_safe(detail, newlines=False)
    if len(safe) > DETAIL_CHARS:
        safe = safe[: DETAIL_CHARS - 1] + "…"
    return f"{line} (details between the fence lines)\n{fence(safe, token or new_fence_token())}"


def who(by: str) -> str:
    """An actor as a notice names it: manager, system, or (any host session) operator."""
    return by if by in (MANAGER, SYSTEM) else OPERATOR


class Notices:
    """Sends notices from ``system``; failures are logged, never raised."""

    def __init__(self, broker: Broker) -> None:
        self._broker = broker

    async def tell(self, to: str, text: str) -> bool:
        """Put ``text`` in ``to``'s inbox as a message from ``system``; False if it failed."""
        try:
            await self._broker.send(SYSTEM, to, text)
        except HyperhiveError as exc:
            logger.warning("could not tell %s %r: %s", to, text.split("\n", 1)[0], exc)
            return False
        except Exception:  # a notice never undoes or loses the action it reports
            logger.exception("could not tell %s %r", to, text.split("\n", 1)[0])
            return False
        return True

    async def tell_manager(self, about: str, text: str) -> bool:
        """Tell the manager ``text`` about agent ``about``; never about the manager itself.

        The manager hearing about its own restart or crash would wake it for what it
        cannot act on (it cannot act on itself), so those notices are not sent.
        """
        if about == MANAGER:
            return False
        return await self.tell(MANAGER, text)

    async def login_changed(self, before: Agent, after: Agent) -> None:
        """A harness reported that its driver needs a login, or that it is logged in again.

        The harness's reason is its own words: fenced, never part of the notice's line.
        """
        name = after.name
        if after.state is AgentState.NEEDS_LOGIN and before.state is not AgentState.NEEDS_LOGIN:
            remark = "its driver needs a login: the operator can log it in from a terminal"
            text = notice(f"needs_login {name}", remark, detail=after.state_reason)
            await self.tell_manager(name, text)
        elif before.state is AgentState.NEEDS_LOGIN and after.state is AgentState.RUNNING:
            await self.tell_manager(name, notice(f"logged_in {name}", "running again"))
