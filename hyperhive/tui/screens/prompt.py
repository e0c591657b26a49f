"""Ask for one line (an agent's name to spawn), checked as the operator types."""

from __future__ import annotations

from collections.abc import Callable

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Static

from hyperhive.core.errors import HyperhiveError
from hyperhive.tui.format import safe

Check = Callable[[str], str]  # the value as it will be used, or raises HyperhiveError


class PromptScreen(ModalScreen[str | None]):
    """One input line; `enter` sends it once ``check`` accepts it, and says why when not."""

    DEFAULT_CSS = """
    PromptScreen { align: center middle; }
    PromptScreen > #dialog {
        width: 70; max-width: 100%; height: auto;
        border: thick $primary; background: $surface; padding: 1 2;
    }
    PromptScreen .title { text-style: bold; margin-bottom: 1; }
    PromptScreen #error { color: $error; height: auto; }
    PromptScreen #buttons { height: auto; align-horizontal: right; margin-top: 1; }
    PromptScreen Button { margin-left: 2; }
    """
    BINDINGS = [Binding("escape", "cancel", "cancel")]

    def __init__(
        self, title: str, body: str, check: Check, *, placeholder: str = "", confirm: str = "ok"
    ) -> None:
        super().__init__()
        self._title = title
        self._body = body
        self._check = check
        self._placeholder = placeholder
        self._confirm_label = confirm

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Static(safe(self._title), classes="title", markup=False)
            yield Static(safe(self._body), markup=False)
            yield Input(placeholder=self._placeholder, id="value")
            yield Static("", id="error", markup=False)
            with Horizontal(id="buttons"):
                yield Button("cancel", id="cancel")
                yield Button(self._confirm_label, id="confirm", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#value").focus()

    @on(Button.Pressed, "#confirm")
    @on(Input.Submitted, "#value")
    def _confirmed(self) -> None:
        raw = self.query_one("#value", Input).value.strip()
        try:
            value = self._check(raw)
        except HyperhiveError as exc:
            self.query_one("#error", Static).update(safe(exc.message))
            return
        self.dismiss(value)

    @on(Input.Changed, "#value")
    def _typing(self) -> None:
        self.query_one("#error", Static).update("")

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)
