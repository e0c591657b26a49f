"""The one-line status bar on every screen: the swarm at a glance, or the lost-connection banner."""

from __future__ import annotations

from textual.widgets import Static

from hyperhive.tui.model import HiveModel


class StatusLine(Static):
    """Shows who is looking and what waits; turns into a red banner while disconnected."""

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

    def __init__(self) -> None:
        super().__init__("", markup=False)

    def show(self, model: HiveModel) -> None:
        """Render ``model``'s connection and the counts that need the operator."""
        if not model.connected:
            self.add_class("-down")
            self.update(f"⚠ {model.connection_note}")
            return
        self.remove_class("-down")
        parts = ["hyperhive"]
        who = model.who or model.role
        parts.append(f"{who} ({model.role})" if model.who and model.who != model.role else who)
        parts.append(_count(len(model.live_agents()), "agent"))
        if model.drafts():
            parts.append(_count(len(model.drafts()), "draft"))
        parts.append(_count(len(model.pending_approvals()), "approval"))
        parts.append(_count(len(model.open_questions()), "question"))
        parts.append(f"{model.unread()} unread")
        self.update(" · ".join(parts))


def _count(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"
