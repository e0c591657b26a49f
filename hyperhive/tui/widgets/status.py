"""The one-line status bar on every screen: the screen tabs, what waits, or the lost connection."""

from __future__ import annotations

from rich.text import Text
from textual import events
from textual.widgets import Static

from hyperhive.tui.format import safe
from hyperhive.tui.model import HiveModel

TABS: tuple[tuple[str, str, str], ...] = (
    ("1", "dashboard", "dash"),
    ("2", "repos", "repos"),
    ("3", "stats", "stats"),
    ("4", "audit", "audit"),
)
SEP = " · "


class StatusLine(Static):
    """The screens as tabs (the current one lit), the counts that need the operator, who looks.

    What does not fit goes, least important first: the agent count, long tab names, who is
    looking (a viewer keeps the word "viewer"), the long isolation warning; the decisions
    waiting, the unread count and a short isolation warning always stay. It turns into a
    red banner while the daemon is unreachable.
    """

    DEFAULT_CSS = """
    StatusLine {
        height: 1;
        padding: 0 1;
        background: $panel;
        color: $text;
    }
    StatusLine.-down {
        background: $error;
        color: $text;
        text-style: bold;
    }
    """

    def __init__(self, screen_name: str = "") -> None:
        super().__init__("", markup=False)
        self.screen_name = screen_name
        self._model: HiveModel | None = None

    def on_resize(self, event: events.Resize) -> None:
        if self._model is not None:
            self.show(self._model)

    def show(self, model: HiveModel) -> None:
        """Render ``model``'s connection and the counts that need the operator."""
        self._model = model
        if not model.connected:
            self.add_class("-down")
            self.update(f"⚠ {safe(model.connection_note, newlines=False)}")
            return
        self.remove_class("-down")
        self.update(self.line(model, max(20, self.size.width - 2 if self.size.width else 200)))

    def line(self, model: HiveModel, width: int) -> Text:
        """The status line for ``model`` in ``width`` cells."""
        warn = _isolation(model)
        counts = [
            (_count(len(model.pending_approvals()), "approval"), bool(model.pending_approvals())),
            (_count(len(model.open_questions()), "question"), bool(model.open_questions())),
            (f"{model.unread()} unread", bool(model.unread())),
        ]
        agents = _count(len(model.live_agents()), "agent")
        if model.drafts():
            agents += f" + {_count(len(model.drafts()), 'draft')}"
        who = model.who or model.role
        who = f"{who} ({model.role})" if model.who and model.who != model.role else who
        for long_tabs, show_agents, show_who, long_warn in (
            (True, True, True, True),
            (True, False, True, True),
            (False, False, True, True),
            (True, True, False, True),
            (False, True, False, True),
            (False, False, False, True),
            (False, False, False, False),
        ):
            text = Text()
            if warn:
                text.append(warn[0] if long_warn else warn[1], style="bold reverse red")
                text.append("  ")
            for key, name, short in TABS:
                label = f"{key} {name if long_tabs else short}"
                lit = name == self.screen_name
                text.append(f" {label} ", style="bold reverse" if lit else "dim")
            text.append("  ")
            for i, (part, loud) in enumerate([(agents, False)] * show_agents + counts):
                if i:
                    text.append(SEP, style="dim")
                text.append(part, style="bold yellow" if loud else "")
            if show_who:
                text.append(f"   {safe(who, newlines=False)}", style="dim")
            elif model.role == "viewer":  # a viewer always sees that it decides nothing
                text.append(SEP, style="dim")
                text.append("viewer", style="bold")
            if text.cell_len <= width:
                break
        return text


def _isolation(model: HiveModel) -> tuple[str, str] | None:
    if model.isolated is not False:
        return None
    runtime = safe(model.runtime or "process", newlines=False)
    return f"⚠ agents are NOT isolated ({runtime} runtime)", "⚠ NOT isolated"


def _count(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"
