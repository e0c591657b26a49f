"""docs/tui.md's key table is the app's: the same rows, and every key in it is bound."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
from pathlib import Path

from textual.containers import VerticalScroll
from textual.widgets._footer import FooterKey

import hyperhive.tui
from hyperhive.core.hive import Hive
from hyperhive.tui.app import HiveApp
from hyperhive.tui.keymap import KEYMAP, markdown_table
from hyperhive.tui.panes.swarm import SwarmPane
from hyperhive.tui.screens.help import HelpScreen
from hyperhive.tui.widgets.status import StatusLine
from tests.conftest import agent_client
from tests.tui.conftest import app_for, connected, on_screen, until

DOCS = Path(__file__).resolve().parents[2] / "docs" / "tui.md"
# how the table writes a key -> Textual's name for it
NAMES = {
    "?": "question_mark",
    "/": "slash",
    "esc": "escape",
    "←": "left",
    "→": "right",
    "End": "end",
    "Home": "home",
    "ctrl+]": "ctrl+right_square_bracket",
    "[": "left_square_bracket",
    "]": "right_square_bracket",
}
BUILT_IN = {"tab", "shift+tab", "ctrl+p"}  # Textual's focus keys and its palette key


def docs_table() -> str:
    text = DOCS.read_text()
    section = text[text.index("## Keys") :]
    start = section.index("| key | does |")
    end = section.index("\n\n", start)
    return section[start:end]


def bound_keys() -> set[str]:
    keys: set[str] = set()
    for info in pkgutil.walk_packages(hyperhive.tui.__path__, "hyperhive.tui."):
        module = importlib.import_module(info.name)
        for _, cls in inspect.getmembers(module, inspect.isclass):
            for binding in getattr(cls, "BINDINGS", []):
                key = binding.key if hasattr(binding, "key") else binding[0]
                keys.update(k.strip() for k in key.split(","))
    return keys


def test_the_docs_key_table_is_the_keymap() -> None:
    assert docs_table() == markdown_table()


def test_every_key_in_the_keymap_is_bound_somewhere() -> None:
    bound = bound_keys() | BUILT_IN
    for keys, does in KEYMAP:
        for key in re.findall(r"`([^`]+)`", keys):
            assert NAMES.get(key, key) in bound, f"{key} ({does}) is not bound"


def test_every_app_and_screen_key_is_in_the_keymap() -> None:
    documented = {NAMES.get(k, k) for keys, _ in KEYMAP for k in re.findall(r"`([^`]+)`", keys)}
    app_keys = {b.key for b in HiveApp.BINDINGS}  # type: ignore[union-attr]
    assert app_keys <= documented


async def test_the_help_shows_most_keys_at_once_at_80_by_24(hive: Hive) -> None:
    app = app_for(hive)
    async with app.run_test(size=(80, 24)) as pilot:
        await connected(pilot)
        await pilot.press("question_mark")
        screen = await on_screen(pilot, HelpScreen)
        body = screen.query_one(VerticalScroll)
        rows = body.scrollable_content_region.height
        assert rows >= 18 and len(KEYMAP) - rows < 8  # was four keys a page


async def test_at_80_columns_the_footer_keeps_the_everyday_keys_and_the_header_the_unread(
    hive: Hive,
) -> None:
    alpha = await agent_client(hive, "alpha")
    await alpha.call("messages.send", to="operator", body="hello")
    await alpha.call("questions.ask", question="ok?", options=["yes"])
    app = app_for(hive)
    async with app.run_test(size=(80, 24)) as pilot:
        await connected(pilot)
        await until(pilot, lambda: app.model.unread() == 1)
        app.screen.query_one(SwarmPane).focus_table()
        await pilot.pause()
        visible = {
            key.key
            for key in app.screen.query(FooterKey)
            if key.region.width and key.region.right <= 80
        }
        assert {"enter", "c", "question_mark", "1", "2", "3", "4"} <= visible
        header = str(app.screen.query_one(StatusLine).content)
        assert "1 unread" in header and "1 question" in header and "1 dash" in header
    await alpha.close()
