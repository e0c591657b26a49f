"""CLI verbs, one module per concept; each verb prints a table or, with --json, JSON."""

from __future__ import annotations

import argparse
import time
from collections.abc import Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from hyperhive.core.client import HiveClient
from hyperhive.core.settings import Settings, load_settings

Output = tuple[Any, str] | None


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
        client = await HiveClient.connect(self.settings.host_socket)
        try:
            yield client
        finally:
            await client.close()

    async def call(self, method: str, **params: Any) -> Any:
        async with self.client() as client:
            return await client.call(method, **params)


def all_verbs() -> list[Verb]:
    from hyperhive.commands import (
        agent,
        agentview,
        approvals,
        audit,
        core,
        lifecycle,
        questions,
        shell,
        stats,
        threads,
        tui,
        up,
    )

    verbs: list[Verb] = []
    for module in (
        core,
        up,
        approvals,
        lifecycle,
        shell,
        agentview,
        questions,
        threads,
        audit,
        stats,
        tui,
        agent,
    ):
        verbs.extend(module.VERBS)
    return verbs


def table(rows: Sequence[Sequence[Any]], headers: Sequence[str]) -> str:
    """A plain fixed-width table."""
    cells = [[str(h) for h in headers]] + [["" if c is None else str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in cells]
    return "\n".join(lines)


def ago(ts: float | None) -> str:
    """A short relative time: 5s, 3m, 2h, 4d."""
    if ts is None:
        return "-"
    d = max(0.0, time.time() - ts)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if d >= size:
            return f"{int(d // size)}{unit}"
    return f"{int(d)}s"
