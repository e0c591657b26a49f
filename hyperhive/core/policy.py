"""Who may message whom: the send allow-list, evaluated by the daemon from the applied config.

The allow-list is ``allowed_recipients`` of the agent's ``agent.toml``. The daemon reads
it from the agent's *applied* git repo at the commit the agent runs (``applied_sha``),
never from a file inside a container's reach (the exported tree and the rendered
``send-allow.json`` are for the harness's friendly early check only). The parsed list
is cached per ``(agent, applied_sha)``, so every deploy refreshes it and a send costs a
dict lookup.

The rules (`SendPolicy.check`):

* the operator, the system and the manager may message anyone;
* anyone may message the manager;
* an empty list means anyone (as does an agent never deployed: the defaults);
* ``*`` (a broadcast) needs ``*`` on the list;
* a *reply* — ``in_reply_to`` naming a message this agent received, sent by the
  recipient — is always allowed, so an agent can answer whoever wrote to it;
* anything else must be on the list.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from hyperhive.core.agent_config import parse_agent_toml
from hyperhive.core.errors import HyperhiveError, InvalidInput, NotFound, Refused
from hyperhive.core.models import Role
from hyperhive.core.names import BROADCAST, MANAGER, OPERATOR, SYSTEM

logger = logging.getLogger(__name__)

# (agent, sha) -> the bytes of agent.toml at that commit, or None when it has none
ReadConfig = Callable[[str, str], Awaitable[bytes | None]]
# (agent) -> (role, applied sha) of a live agent, or None
AgentFacts = Callable[[str], tuple[Role, str | None] | None]


@dataclass(frozen=True)
class SendPolicy:
    """One agent's send allow-list at one applied commit."""

    agent: str
    sha: str | None
    unrestricted: bool  # the manager, or an empty list
    allowed: frozenset[str]
    error: str = ""  # the applied config could not be read: refuse (fail closed)

    def permits(self, to: str) -> bool:
        if self.error:
            return to == MANAGER
        return self.unrestricted or to == MANAGER or to in self.allowed

    def refusal(self, to: str) -> Refused:
        who = "everyone ('*')" if to == BROADCAST else repr(to)
        if self.error:
            why = f"its applied config cannot be read ({self.error})"
        else:
            listed = ", ".join(sorted(self.allowed)) or "(empty)"
            at = f" at {self.sha[:12]}" if self.sha else ""
            why = f"{to!r} is not on its allow-list (agent.toml allowed_recipients{at}: {listed})"
        return Refused(
            f"refused: {self.agent} may not message {who}: {why}; send it to the manager "
            "saying who it is for, or answer a message with in_reply_to"
        )


class SendPolicies:
    """The cached allow-list of every agent, read from the applied repos."""

    def __init__(self, facts: AgentFacts, read_config: ReadConfig) -> None:
        self._facts = facts
        self._read = read_config
        self._cache: dict[str, SendPolicy] = {}

    async def get(self, agent: str) -> SendPolicy:
        """The policy of ``agent`` at the commit it runs now (read once per deploy)."""
        facts = self._facts(agent)
        if facts is None:
            raise NotFound(f"no agent named {agent!r}")
        role, sha = facts
        cached = self._cache.get(agent)
        if cached is not None and cached.sha == sha:
            return cached
        policy = await self._load(agent, role, sha)
        if not policy.error:  # a failed read is retried on the next send
            self._cache[agent] = policy
        return policy

    async def _load(self, agent: str, role: Role, sha: str | None) -> SendPolicy:
        if role is Role.MANAGER:
            return SendPolicy(agent, sha, True, frozenset())
        if sha is None:
            # never deployed (no container runs it): the defaults of agent.toml
            return SendPolicy(agent, sha, True, frozenset())
        try:
            raw = await self._read(agent, sha)
            listed = parse_agent_toml(raw).allowed_recipients if raw is not None else ()
        except (HyperhiveError, InvalidInput) as exc:
            logger.error("cannot read the send allow-list of %s at %s: %s", agent, sha[:12], exc)
            return SendPolicy(agent, sha, False, frozenset(), error=str(exc))
        return SendPolicy(agent, sha, not listed, frozenset(listed))


def exempt(sender: str) -> bool:
    """Senders no allow-list applies to (the manager's role is checked by the policy)."""
    return sender in (OPERATOR, SYSTEM)
