"""Modal dialogs: confirm (with an optional note), answer a question, read a long text."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from rich.syntax import Syntax
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Button, Footer, Input, RadioButton, RadioSet, SelectionList, Static

from hyperhive.tui.format import safe
from hyperhive.tui.model import Unavailable
from hyperhive.tui.views import QuestionView
from hyperhive.tui.widgets.textview import SYNTAX_THEME, TextView


@dataclass(frozen=True)
class Confirmation:
    """The operator said yes; ``note`` is what they typed, if the dialog asked."""

    note: str = ""


class ConfirmScreen(ModalScreen[Confirmation | None]):
    """Ask before doing something; dangerous questions start on "cancel"."""

    DEFAULT_CSS = """
    ConfirmScreen { align: center middle; }
    ConfirmScreen > #dialog {
        width: 70; max-width: 100%; height: auto;
        border: thick $primary; background: $surface; padding: 1 2;
    }
    ConfirmScreen.-danger > #dialog { border: thick $error; }
    ConfirmScreen .title { text-style: bold; margin-bottom: 1; }
    ConfirmScreen #buttons { height: auto; align-horizontal: right; margin-top: 1; }
    ConfirmScreen Button { margin-left: 2; }
    """
    BINDINGS = [Binding("escape", "cancel", "cancel")]

    def __init__(
        self,
        title: str,
        body: str,
        *,
        confirm: str = "ok",
        danger: bool = False,
        note: str | None = None,
    ) -> None:
        super().__init__(classes="-danger" if danger else "")
        self._title = title
        self._body = body
        self._confirm_label = confirm
        self._danger = danger
        self._note = note

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Static(safe(self._title), classes="title", markup=False)
            yield Static(safe(self._body), markup=False)
            if self._note is not None:
                yield Input(placeholder=self._note, id="note")
            with Horizontal(id="buttons"):
                yield Button("cancel", id="cancel")
                yield Button(
                    self._confirm_label,
                    id="confirm",
                    variant="error" if self._danger else "primary",
                )

    def on_mount(self) -> None:
        if self._note is not None:
            self.query_one("#note").focus()
        else:
            self.query_one("#cancel" if self._danger else "#confirm").focus()

    @on(Button.Pressed, "#confirm")
    @on(Input.Submitted, "#note")
    def _confirmed(self) -> None:
        note = self.query_one("#note", Input).value.strip() if self._note is not None else ""
        self.dismiss(Confirmation(note))

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)


@dataclass(frozen=True)
class Answer:
    """What the operator chose: offered options and/or free text."""

    options: tuple[str, ...] = ()
    text: str | None = None


class AnswerScreen(ModalScreen[Answer | None]):
    """Answer a question: its options as radio buttons (or checkboxes) plus free text."""

    DEFAULT_CSS = """
    AnswerScreen { align: center middle; }
    AnswerScreen > #dialog {
        width: 80; max-width: 100%; height: auto; max-height: 90%;
        border: thick $warning; background: $surface; padding: 1 2;
    }
    AnswerScreen .title { text-style: bold; }
    AnswerScreen .error { color: $error; }
    AnswerScreen .question { margin: 1 0; }
    AnswerScreen RadioSet, AnswerScreen SelectionList { width: 100%; height: auto; max-height: 12; }
    AnswerScreen #buttons { height: auto; align-horizontal: right; margin-top: 1; }
    AnswerScreen Button { margin-left: 2; }
    """
    BINDINGS = [Binding("escape", "cancel", "cancel")]

    def __init__(self, question: QuestionView) -> None:
        super().__init__()
        self.question = question

    def compose(self) -> ComposeResult:
        q = self.question
        with Vertical(id="dialog"):
            how = "choose any, and/or type" if q.multi else "choose one, or type"
            title = f"question #{q.id} from {safe(q.asker, newlines=False)} — {how}"
            yield Static(title, classes="title", markup=False)
            if q.error:
                yield Static(
                    f"this question is damaged: {safe(q.error)}", classes="error", markup=False
                )
            yield Static(safe(q.question or "(no text)"), classes="question", markup=False)
            if q.options and q.multi:
                yield SelectionList[str](
                    *[(Text(safe(o, newlines=False)), o) for o in q.options], id="choices"
                )
            elif q.options:
                with RadioSet(id="choices"):
                    for option in q.options:
                        yield RadioButton(Text(safe(option, newlines=False)))
            yield Input(placeholder="free text", id="free")
            with Horizontal(id="buttons"):
                yield Button("cancel", id="cancel")
                yield Button("send answer", id="send", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#choices" if self.question.options else "#free").focus()

    def chosen(self) -> list[str]:
        """The options picked so far, in the order they were offered."""
        if not self.question.options:
            return []
        if self.question.multi:
            picked = set(self.query_one("#choices", SelectionList).selected)
            return [o for o in self.question.options if o in picked]
        pressed = self.query_one("#choices", RadioSet).pressed_index
        return [self.question.options[pressed]] if pressed >= 0 else []

    @on(Button.Pressed, "#send")
    @on(Input.Submitted, "#free")
    def _send(self) -> None:
        options = self.chosen()
        free = self.query_one("#free", Input).value.strip()
        if not options and not free:
            self.notify("choose an option or type an answer", severity="warning")
            return
        self.dismiss(Answer(tuple(options), free or None))

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)


Loader = Callable[[], Awaitable[Any]]


class TextScreen(Screen[None]):
    """A long text loaded in the background: prose wraps, code and diffs scroll sideways."""

    DEFAULT_CSS = """
    TextScreen > #title { height: auto; background: $panel; padding: 0 1; text-style: bold; }
    TextScreen > VerticalScroll { height: 1fr; }
    TextScreen #body { padding: 0 1; }
    """
    BINDINGS = [
        Binding("escape", "app.pop_screen", "back"),
        Binding("q", "app.pop_screen", "back", show=False),
    ]

    def __init__(self, title: str, load: Loader, *, lexer: str = "text", wrap: bool = False):
        super().__init__()
        self._title = title
        self._load = load
        self._lexer = lexer
        self._wrap = wrap

    def compose(self) -> ComposeResult:
        yield Static(safe(self._title), id="title", markup=False)
        loading = Text("loading…", style="dim")
        if self._wrap:
            with VerticalScroll():
                yield Static(loading, id="body")
        else:
            yield TextView(placeholder=loading, id="body")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(VerticalScroll if self._wrap else TextView).focus()
        self._fill()

    @work(group="load")
    async def _fill(self) -> None:
        result = await self._load()
        note = None
        if isinstance(result, Unavailable):
            note = Text(result.reason, style="dim")
        elif result is None:
            note = Text("nothing to show", style="dim")
        elif not str(result).strip():
            note = Text("(empty)", style="dim")
        if self._wrap:
            self.query_one("#body", Static).update(note or Text(safe(str(result))))
        elif note is not None:
            self.query_one(TextView).show_placeholder(note)
        else:
            self.query_one(TextView).set_text(str(result), lexer=self._lexer)


def highlight(text: str, lexer: str) -> Syntax:
    """Syntax colours in the terminal's own palette, of ``text`` made terminal-safe first.

    Lines wrap: a Syntax is for text on a page (notes, a config); diffs and files that
    must keep their lines go to a `TextView`.
    """
    return Syntax(safe(text), lexer, theme=SYNTAX_THEME, word_wrap=True, background_color="default")
