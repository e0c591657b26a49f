"""The `?` screen: every key, and the conventions behind them."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Markdown

HELP = """\
# hyperhive — keys

The same letter does the same thing everywhere. Anything hard to undo asks first.

| key | does |
|---|---|
| `?` | this help |
| `ctrl+p` | command palette: every action by name |
| `1` `2` `3` `4` | dashboard · repos · stats · audit |
| `tab` / `shift+tab` | next / previous pane |
| `/` | filter the list under the cursor (`esc` clears) |
| `enter` | open: agent page, approval diff, answer a question, a message |
| `esc` | back out (close a dialog, leave a page, clear a filter) |
| `a` / `x` | approve / deny (with a note); on a question `x` cancels it |
| `s` `k` `r` `u` `d` | start · kill · restart · update · destroy the agent |
| `s` / `p` | on kept state: revive / purge |
| `c` | compose a message (on a message: reply) |
| `t` | terminal into the agent's container (`ctrl+]` leaves) |
| `f` | on a tag: the files at that tag |
| `v` | in the audit log: verify the hash chain |
| `ctrl+q` | quit |

In the compose box, `@name` picks the recipient (`→` completes the name) and it
sticks until you write another `@name`; `@*` writes to every agent.

The **viewer** role (`--role viewer`, or an SSH key marked viewer) sees everything
but cannot decide: the decision keys are hidden and the terminal is not offered.
"""


class HelpScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll {
        width: 90; max-width: 100%; height: 90%;
        border: thick $primary; background: $surface; padding: 0 1;
    }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "app.pop_screen", "close"),
        Binding("question_mark", "app.pop_screen", "close", show=False),
        Binding("q", "app.pop_screen", "close", show=False),
    ]

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Markdown(HELP)
