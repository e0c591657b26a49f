"""Small formatters shared by the panes: ages, countdowns, states with spinners and badges."""

from __future__ import annotations

import time

from rich.text import Text

from hyperhive.core.ages import ago as ago
from hyperhive.core.safetext import terminal_safe

SPINNER = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"
SPIN_RATE = 8  # frames per second

# named ANSI colours: they read the same in 16, 256 and true-colour terminals
STATE_STYLES = {
    "running": "green",
    "stopped": "dim",
    "crashed": "bold red",
    "needs_login": "bold yellow",
    "rate_limited": "yellow",
    "driver_missing": "red",
    "draft": "cyan",
    "destroyed": "dim",
    "unreachable": "magenta",  # its host's link is down: last state unknown, not crashed
}


def countdown(deadline: float | None, now: float) -> str:
    """⏳ MM:SS until ``deadline`` (H:MM:SS past an hour); 'expiring' once it passed."""
    if deadline is None:
        return ""
    left = int(deadline - now)
    if left <= 0:
        return "expiring"
    hours, rest = divmod(left, 3600)
    minutes, seconds = divmod(rest, 60)
    if hours:
        return f"⏳ {hours}:{minutes:02d}:{seconds:02d}"
    return f"⏳ {minutes:02d}:{seconds:02d}"


def clock(ts: float | None) -> str:
    """HH:MM:SS of ``ts`` in local time."""
    return "-" if ts is None else time.strftime("%H:%M:%S", time.localtime(ts))


def spinner(now: float) -> str:
    return SPINNER[int(now * SPIN_RATE) % len(SPINNER)]


def state_text(state: str, now: float, *, transient: bool) -> Text:
    """The state of an agent, with a spinner while it is in a transient (-ing) state."""
    if transient:
        return Text.assemble((spinner(now), "cyan"), " ", (state, "cyan"))
    return Text(state, style=STATE_STYLES.get(state, ""))


def short(sha: str | None, n: int = 10) -> str:
    return sha[:n] if sha else "-"


def one_line(text: str, width: int = 80) -> str:
    """``text`` on one line, cut at ``width`` with an ellipsis."""
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def size(n: int | None) -> str:
    if n is None:
        return "-"
    value = float(n)
    for unit in ("B", "K", "M", "G"):
        if value < 1024 or unit == "G":
            return f"{value:.0f}{unit}" if unit == "B" else f"{value:.1f}{unit}"
        value /= 1024
    return f"{n}B"


def safe(text: object, *, newlines: bool = True) -> str:
    """Agent text made terminal-safe for a widget (``newlines=False`` for one-line cells).

    The result is still to be shown as plain text (``Text(...)``, ``markup=False``),
    never parsed as markup.
    """
    return terminal_safe(str(text), newlines=newlines)


def safe_text(text: Text, *, newlines: bool = False) -> Text:
    """A Rich ``Text`` with every control character escaped, its styles kept."""
    if terminal_safe(text.plain, newlines=newlines) == text.plain:
        return text
    edges = [edge for span in text.spans for edge in (span.start, span.end)]
    cuts = sorted({0, len(text.plain), *edges})
    out = Text(style=text.style, no_wrap=text.no_wrap, overflow=text.overflow, end=text.end)
    for start, end in zip(cuts, cuts[1:], strict=False):
        piece = text.plain[start:end]
        styles = [s.style for s in text.spans if s.start <= start and s.end >= end]
        fixed = terminal_safe(piece, newlines=newlines)
        out.append(fixed)
        for style in styles:
            out.stylize(style, len(out.plain) - len(fixed), len(out.plain))
    return out
