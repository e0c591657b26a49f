"""Waiting for a condition or a pushed event: always bounded, never a fixed sleep."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from hyperhive.core.client import HiveClient


async def wait_for(predicate: Callable[[], object], timeout: float = 10.0) -> None:
    """Wait until ``predicate()`` is true, checking every 10 ms (effects here or elsewhere)."""
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.01)


async def next_named(client: HiveClient, name: str, timeout: float = 10.0) -> dict[str, Any]:
    """The data of the next event called ``name`` that ``client`` receives (others skipped)."""
    async with asyncio.timeout(timeout):
        while True:
            event = await client.next_event()
            if event["event"] == name:
                data: dict[str, Any] = event["data"]
                return data
