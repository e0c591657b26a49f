"""Helpers for TUI tests: the app on a real daemon, waiting on conditions, reading tables."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import DataTable, Static

from hyperhive.core.client import HiveClient
from hyperhive.core.hive import Hive
from hyperhive.tui.app import HiveApp, make_app
from hyperhive.tui.panes.base import ListPane, plain
from hyperhive.tui.widgets.textview import TextView
from tests.support.runner import FakeRunner

T0 = 1_800_000_000.0  # the frozen "now" of tests that show times
FAST = (0.05, 0.1)  # reconnect backoff for tests


def factory_for(hive: Hive) -> Callable[[], Any]:
    return lambda: HiveClient.connect(hive.settings.host_socket)


def app_for(hive: Hive, **kwargs: Any) -> HiveApp:
    kwargs.setdefault("backoff", FAST)
    kwargs.setdefault("desktop_notify", False)
    return make_app(factory_for(hive), **kwargs)


async def until(pilot: Pilot[Any], predicate: Callable[[], object], timeout: float = 10.0) -> None:
    """Let the app run until ``predicate()`` holds (bounded, never a fixed sleep)."""
    async with asyncio.timeout(timeout):
        while not predicate():
            await pilot.pause(0.02)


async def connected(pilot: Pilot[Any]) -> None:
    app = pilot.app
    assert isinstance(app, HiveApp)
    await until(pilot, lambda: app.model.connected and app.screen.is_mounted)
    await pilot.pause()


async def on_screen(pilot: Pilot[Any], kind: type) -> Any:
    """Wait until the app shows a mounted screen of ``kind``; return it."""
    await until(pilot, lambda: isinstance(pilot.app.screen, kind) and pilot.app.screen.is_mounted)
    await pilot.pause()
    return pilot.app.screen


def rows(pane: ListPane) -> list[tuple[str, ...]]:
    """The rows a list pane shows, as plain text."""
    table = pane.query_one(DataTable)
    return [tuple(plain(c) for c in table.get_row_at(i)) for i in range(table.row_count)]


def column(pane: ListPane, index: int = 0) -> list[str]:
    return [r[index] for r in rows(pane)]


def shown(static: Static | TextView) -> str:
    """The text a Static or TextView shows (the code of a Syntax, the plain text of a Text)."""
    if isinstance(static, TextView):
        return "\n".join(static.lines)
    content = static.content
    for attr in ("code", "plain"):
        if isinstance(getattr(content, attr, None), str):
            return str(getattr(content, attr))
    return str(content)


@pytest.fixture
async def notify_send(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakeRunner]:
    """A `notify-send` on PATH (so the app uses it) whose runs a FakeRunner records."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "notify-send"
    fake.write_text("#!/bin/sh\nexit 0\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    yield FakeRunner()


@pytest.fixture
def utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Clock times render in UTC, the same on every machine."""
    import time

    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def visible(view: TextView) -> list[str]:
    """The lines a TextView has on screen right now (markers included)."""
    return [view.render_line(y).text for y in range(view.scrollable_content_region.height)]
