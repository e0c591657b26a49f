"""Who is who: the reserved sender names, agent name validation, and sender classes."""

from __future__ import annotations

import re
from enum import StrEnum

from hyperhive.core.errors import InvalidInput

MANAGER = "manager"
OPERATOR = "operator"
SYSTEM = "system"
BROADCAST = "*"
RESERVED_NAMES = frozenset({MANAGER, OPERATOR, SYSTEM, "hm1nd", "all"})
NAME_RE = re.compile(r"^[a-z][a-z0-9-]{0,8}$")


class SenderClass(StrEnum):
    """Who wrote a message, as an agent's model is told: the class decides how far to trust it."""

    OPERATOR = "operator"
    MANAGER = "manager"
    PEER = "peer"
    SYSTEM = "system"


def sender_class(sender: str) -> SenderClass:
    """The class of a message's sender: operator, manager, system, or any other agent (peer)."""
    return SenderClass(sender) if sender in (OPERATOR, MANAGER, SYSTEM) else SenderClass.PEER


def validate_agent_name(name: object, *, allow_manager: bool = False) -> str:
    """Return ``name`` if it is a valid agent name, else raise `InvalidInput`.

    Names are ``^[a-z][a-z0-9-]{0,8}$`` because nixos-container caps container names at
    11 characters and agents are ``h-<name>``.
    """
    if not isinstance(name, str):
        raise InvalidInput(f"agent name must be a string, not {type(name).__name__}")
    if allow_manager and name == MANAGER:
        return name
    if not NAME_RE.fullmatch(name):
        raise InvalidInput(
            f"invalid agent name {name!r}: use 1-9 characters, lowercase letters, digits "
            "and '-', starting with a letter"
        )
    if name in RESERVED_NAMES:
        raise InvalidInput(f"invalid agent name {name!r}: the name is reserved")
    return name
