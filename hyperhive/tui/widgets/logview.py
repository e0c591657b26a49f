"""An agent's harness log, followed live: the daemon pushes what is appended (``logs.follow``).

The log is text the agent wrote: every line is made terminal-safe and shown as plain
text, never markup. A line still being written waits until its newline arrives.
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.widgets import RichLog

from hyperhive.tui.format import safe
from hyperhive.tui.model import Unavailable

MAX_LINES = 5000
BACKLOG = 200  # lines of the tail shown when following starts
PARTIAL_MAX = 64 * 1024  # a "line" longer than this is shown in pieces


class LogView(RichLog):
    """The lines of one followed log; `start` begins (or restarts) the follow."""

    DEFAULT_CSS = """
    LogView { height: 1fr; min-height: 8; border-top: solid $primary-muted; }
    """

    def __init__(self, agent: str, *, id: str | None = None) -> None:
        super().__init__(id=id, max_lines=MAX_LINES, wrap=False, markup=False, auto_scroll=True)
        self.agent = agent
        self.follow_id: str | None = None
        self._partial = ""
        self.border_title = "harness log"

    def started(self, result: Any) -> None:
        """Show the reply of ``logs.follow`` (the tail) and remember which follow is ours."""
        self.clear()
        self._partial = ""
        if isinstance(result, Unavailable) or not isinstance(result, dict):
            reason = result.reason if isinstance(result, Unavailable) else "not available"
            self.write(Text(reason, style="dim"))
            self.follow_id = None
            return
        follow = result.get("id")
        self.follow_id = follow if isinstance(follow, str) else None
        if result.get("truncated"):
            self.write(Text(f"… (the last {BACKLOG} lines)", style="dim"))
        self.add_text(str(result.get("text") or ""))
        self.border_title = f"harness log · following {safe(self.agent, newlines=False)}"

    def feed(self, name: str, data: dict[str, Any]) -> None:
        """A pushed ``log.output`` / ``log.closed`` event; others' follows are ignored."""
        if self.follow_id is None or data.get("id") != self.follow_id:
            return
        if name == "log.output":
            self.add_text(str(data.get("text") or ""))
        elif name == "log.closed":
            self.follow_id = None
            self._flush()
            reason = safe(data.get("reason") or "stopped", newlines=False)
            self.write(Text(f"(no longer following: {reason})", style="dim"))
            self.border_title = "harness log"

    def add_text(self, text: str) -> None:
        """Append ``text``; whole lines are written, the unfinished rest waits."""
        pending = self._partial + text
        *lines, self._partial = pending.split("\n")
        if len(self._partial) > PARTIAL_MAX:
            lines.append(self._partial)
            self._partial = ""
        for line in lines:
            self.write(Text(safe(line, newlines=False)))

    def _flush(self) -> None:
        if self._partial:
            self.write(Text(safe(self._partial, newlines=False)))
            self._partial = ""
