"""A read-only viewer for diffs and files: long lines scroll sideways, never off the edge.

Every line keeps its full length; `←/→` (`h/l`) scroll by a few columns, `End` to the
end of the longest line, `Home` back. A line that runs past the right edge shows `›`
in its last visible column (`‹` on the left when scrolled), so nothing is silently
clipped. The viewer remembers which columns of each line were ever on screen:
`unseen_lines()` says how many lines were never shown in full (an approval asks
about them before it is approved).
"""

from __future__ import annotations

from typing import ClassVar

from rich.console import Console
from rich.segment import Segment
from rich.style import Style
from rich.syntax import Syntax
from rich.text import Text
from textual.binding import Binding, BindingType
from textual.geometry import Size
from textual.scroll_view import ScrollView
from textual.strip import Strip

from hyperhive.tui.format import safe

SYNTAX_THEME = "ansi_dark"  # ANSI colours: the same in 16, 256 and true-colour terminals
STEP = 8  # columns per ←/→
MARK_RIGHT, MARK_LEFT = "›", "‹"
_MARK_STYLE = Style(reverse=True, bold=True)
_CONSOLE = Console(width=10_000, color_system="truecolor", legacy_windows=False)


def highlighted_lines(text: str, lexer: str) -> list[Text]:
    """``text`` made terminal-safe, coloured by ``lexer``, one Text per line, tabs expanded."""
    code = safe(text).expandtabs(4)
    if lexer == "text":
        lines = [Text(line) for line in code.split("\n")]
    else:
        syntax = Syntax(code, lexer, theme=SYNTAX_THEME)
        highlighted = syntax.highlight(code)
        highlighted.style = ""  # the widget's own background, not the terminal default's
        lines = list(highlighted.split("\n", allow_blank=True))
    while len(lines) > 1 and not lines[-1].plain:
        lines.pop()
    return lines


def _merge(spans: list[tuple[int, int]], new: tuple[int, int]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    lo, hi = new
    for a, b in spans:
        if b < lo or a > hi:
            out.append((a, b))
        else:
            lo, hi = min(lo, a), max(hi, b)
    out.append((lo, hi))
    return sorted(out)


class TextView(ScrollView, can_focus=True):
    """Lines of (coloured) text in both directions of scrolling, with clip markers."""

    DEFAULT_CSS = """
    TextView { height: 1fr; background: $background; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("left,h", "sideways(-1)", "←", show=False),
        Binding("right,l", "sideways(1)", "→", show=False),
        Binding("end", "line_end", "line end", show=False),
        Binding("home", "line_start", "line start", show=False),
        Binding("j", "scroll_down", "down", show=False),
        Binding("k", "scroll_up", "up", show=False),
        Binding("g", "scroll_home", "top", show=False),
        Binding("G", "scroll_end", "bottom", show=False),
    ]

    def __init__(
        self,
        text: str = "",
        *,
        lexer: str = "text",
        placeholder: Text | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(id=id, classes=classes)
        self._lines: list[Text] = []
        self._widths: list[int] = []
        self._strips: dict[int, Strip] = {}
        self._seen: list[list[tuple[int, int]]] = []
        self.placeholder: Text | None = None
        if placeholder is not None:
            self.show_placeholder(placeholder)
        else:
            self.set_text(text, lexer=lexer)

    # --- attributes down -------------------------------------------------------------
    def set_text(self, text: str, *, lexer: str = "text") -> None:
        """Show ``text`` (agent text: made terminal-safe here), coloured by ``lexer``."""
        self.placeholder = None
        self._set_lines(highlighted_lines(text, lexer))

    def show_placeholder(self, note: Text) -> None:
        """A dim one-line note instead of content ("loading…", "no changes")."""
        self.placeholder = note
        self._set_lines([note])

    # --- reading ---------------------------------------------------------------------
    @property
    def lines(self) -> list[str]:
        return [line.plain for line in self._lines]

    @property
    def longest(self) -> int:
        return max(self._widths, default=0)

    def seen_in_full(self, index: int) -> bool:
        """Whether every column of line ``index`` has been on screen."""
        width = self._widths[index]
        return any(a <= 0 and b >= width for a, b in self._seen[index])

    def unseen_lines(self) -> int:
        """How many lines never had every column on screen (0 for a placeholder)."""
        if self.placeholder is not None:
            return 0
        return sum(1 for i in range(len(self._lines)) if not self.seen_in_full(i))

    # --- actions ---------------------------------------------------------------------
    def action_sideways(self, direction: int) -> None:
        self.scroll_to(x=self.scroll_x + direction * STEP, animate=False)

    def action_line_end(self) -> None:
        self.scroll_to(x=self.max_scroll_x, animate=False)

    def action_line_start(self) -> None:
        self.scroll_to(x=0, animate=False)

    # --- rendering -------------------------------------------------------------------
    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        index = scroll_y + y
        width = self.scrollable_content_region.width
        if index >= len(self._lines) or width <= 0:
            return Strip.blank(width, self.rich_style)
        full = self._strip(index)
        length = self._widths[index]
        strip = full.crop(scroll_x, scroll_x + width)
        left, right = scroll_x, min(length, scroll_x + width)
        segments = list(strip)
        if length > scroll_x + width and width > 1:
            strip = Strip(segments).crop(0, width - 1)
            segments = [*strip, Segment(MARK_RIGHT, _MARK_STYLE)]
            right -= 1
        if scroll_x > 0 and length > 0 and width > 1:
            segments = [Segment(MARK_LEFT, _MARK_STYLE), *Strip(segments).crop(1, width)]
            left += 1
        if right > left or length == 0:
            self._seen[index] = _merge(self._seen[index], (left, max(left, right)))
        return Strip(segments).adjust_cell_length(width, self.rich_style)

    def _strip(self, index: int) -> Strip:
        strip = self._strips.get(index)
        if strip is None:
            line = self._lines[index]
            segments = [s for s in line.render(_CONSOLE) if s.text != "\n"]
            strip = self._strips[index] = Strip(segments).apply_style(self.rich_style)
        return strip

    def _set_lines(self, lines: list[Text]) -> None:
        self._lines = lines
        self._widths = [line.cell_len for line in lines]
        self._strips = {}
        self._seen = [[] for _ in lines]
        self.virtual_size = Size(self.longest, len(lines))
        if self.is_mounted:
            self.scroll_to(0, 0, animate=False)
        self.refresh()
