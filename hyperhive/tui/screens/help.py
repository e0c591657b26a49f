"""The `?` screen: every key (from `keymap.KEYMAP`), and the conventions behind them."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from hyperhive.tui.keymap import KEYMAP

NOTES = """\
The same letter does the same thing everywhere; anything hard to undo asks first.
In the compose box `@name` picks the recipient (`→` completes it) and it sticks;
`@*` writes to every agent. The viewer role sees everything and decides nothing."""


def help_text() -> Text:
    """The keys, one a line, key column aligned; then the conventions."""
    width = max(len(key.replace("`", "")) for key, _ in KEYMAP) + 2
    text = Text()
    for key, does in KEYMAP:
        text.append(key.replace("`", "").ljust(width), style="bold")
        text.append(does.replace("`", "") + "\n")
    text.append("\n" + NOTES.replace("`", ""), style="dim")
    return text


class HelpScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll {
        width: 100; max-width: 100%; height: auto; max-height: 100%;
        border: round $primary; background: $surface; padding: 0 1;
    }
    HelpScreen #title { text-style: bold; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "app.pop_screen", "close"),
        Binding("question_mark", "app.pop_screen", "close", show=False),
        Binding("q", "app.pop_screen", "close", show=False),
    ]

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Static("hyperhive — keys  (esc closes)", id="title", markup=False)
            yield Static(help_text(), markup=False)
