"""CLI verbs, one module per concept; each verb prints a table or, with --json, JSON.

A verb returns ``(data, text)``; ``cli.main`` prints ``data`` exactly as JSON with
``--json`` and otherwise ``text`` through ``terminal_safe``, so no agent-written byte
reaches the operator's terminal as a control sequence whichever verb shows it.
"""

from __future__ import annotations

import argparse
import getpass
import os
from collections.abc import Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from hyperhive.core.ages import ago as ago
from hyperhive.core.client import HiveClient
from hyperhive.core.safetext import terminal_safe
from hyperhive.core.settings import Settings, load_settings

Output = tuple[Any, str] | None
ROLES = ("operator", "viewer")


def session_identity(who: str | None, role: str | None) -> tuple[str, str]:
    """Who this session is and its role; an unknown role from the environment means viewer.

    ``local:<user>`` by default; an SSH session's TUI is started with ``ssh:<key name>``.
    """
    name = who or os.environ.get("HYPERHIVE_WHO") or f"local:{getpass.getuser()}"
    wanted = role or os.environ.get("HYPERHIVE_ROLE") or "operator"
    return name[:64], wanted if wanted in ROLES else "viewer"


async def connect_session(path: Any, who: str, role: str) -> HiveClient:
    """A host connection that has named its session (``session.hello``) before any call.

    Every connection a session opens says who it is, so what it does (a terminal it
    opens, a decision) is audited under the session's name and a viewer stays a viewer.
    """
    client = await HiveClient.connect(path)
    try:
        await client.call("session.hello", who=who, role=role)
    except BaseException:
        await client.close()
        raise
    return client


@dataclass(frozen=True)
class Verb:
    name: str
    help: str
    run: Callable[[Context], Awaitable[Output]]
    add_args: Callable[[argparse.ArgumentParser], None] = lambda p: None


class Context:
    """What a verb gets: its parsed args, the settings, and a way to reach the daemon."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self._settings: Settings | None = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = load_settings(
                self.args.config, state_dir=self.args.state_dir, run_dir=self.args.run_dir
            )
        return self._settings

    @asynccontextmanager
    async def client(self) -> Any:
        who, role = session_identity(None, None)
        client = await connect_session(self.settings.host_socket, who, role)
        try:
            yield client
        finally:
            await client.close()

    async def call(self, method: str, **params: Any) -> Any:
        async with self.client() as client:
            return await client.call(method, **params)


def table(rows: Sequence[Sequence[Any]], headers: Sequence[str]) -> str:
    """A plain fixed-width table; every cell is one terminal-safe line (agent text is data)."""
    cells = [[str(h) for h in headers]] + [
        ["" if c is None else terminal_safe(str(c), newlines=False) for c in r] for r in rows
    ]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in cells]
    return "\n".join(lines)
