"""Small time-series chart widget: a plotext figure rendered as Rich text at the widget's size."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Mapping, Sequence
from typing import Literal

import plotext as plt
from rich.text import Text
from textual import events
from textual.geometry import Size
from textual.widget import Widget

from hyperhive.core.errors import InvalidInput

logger = logging.getLogger(__name__)

ChartKind = Literal["line", "bar"]
Series = Mapping[str, Sequence[tuple[float, float]]]

_MIN_WIDTH, _MIN_HEIGHT = 16, 5


def _time_label(ts: float, span: float) -> str:
    """HH:MM for spans of minutes to a day, with seconds below ten minutes, day first above."""
    if span < 600:
        fmt = "%H:%M:%S"
    elif span < 86400:
        fmt = "%H:%M"
    else:
        fmt = "%d/%m %H:%M"
    return time.strftime(fmt, time.localtime(ts))


def _time_ticks(lo: float, hi: float, width: int) -> tuple[list[float], list[str]]:
    if hi <= lo:
        return [lo], [_time_label(lo, 0)]
    count = max(2, min(6, width // 14))
    positions = [lo + (hi - lo) * i / (count - 1) for i in range(count)]
    return positions, [_time_label(p, hi - lo) for p in positions]


def build_chart(
    title: str,
    series: Series,
    *,
    kind: ChartKind,
    width: int,
    height: int,
    ylabel: str = "",
    xlabel: str = "time",
    partial_after: float | None = None,
) -> Text:
    """Render series with plotext into Rich text of exactly width x height cells.

    Every series has a legend entry (bars of several series stack). The value axis
    starts at zero (an all-zero chart reads 0..1, not -1..1). Points at or after
    ``partial_after`` belong to a bucket still filling: they are drawn dotted, as
    "partial", so a bucket a few seconds old is not read as a drop. plotext keeps one
    global figure, so everything is reset on every call.
    """
    xs = sorted({x for points in series.values() for x, _ in points})
    if not xs:
        return Text.assemble(title, "\n", ("no data yet", "dim"))
    plt.terminal.limit(False, False)  # size to the widget, not to whatever tty we run on
    fig = plt.figure
    fig.clear()
    fig.plot_size(width, height)
    fig.theme("simple")  # frame in the terminal's own colours, series in the 16 base colours
    fig.title(title)
    stacked = dict.fromkeys(xs, 0.0)
    cut = math.inf if partial_after is None else partial_after
    partial_drawn = False
    top = 0.0
    for name, points in series.items():
        if kind == "line":
            done = [(x, y) for x, y in points if x < cut]
            rest = [(x, y) for x, y in points if x >= cut]
            top = max([top, *(y for _, y in points)])
            if done:
                signal = fig.signal([x for x, _ in done], [y for _, y in done])
                signal.lines()
                signal.label(name)
                fig.draw(signal)
            if rest:
                lead = done[-1:] + rest
                dotted = fig.signal([x for x, _ in lead], [y for _, y in lead], marker="·")
                dotted.lines()
                if not partial_drawn or not done:
                    dotted.label(f"{name} (partial)" if not done else "partial")
                partial_drawn = True
                fig.draw(dotted)
        else:
            values: dict[float, float] = {}
            for x, y in points:
                values[x] = values.get(x, 0.0) + y
            for part, keys in (
                ("", sorted(x for x in values if x < cut)),
                (" (partial)", sorted(x for x in values if x >= cut)),
            ):
                if not keys:
                    continue
                bottoms = [stacked[x] for x in keys]
                for x in keys:
                    stacked[x] += values[x]
                bar = fig.bar(
                    keys, bottoms, [stacked[x] for x in keys], marker="▒" if part else None
                )
                bar.label(name + part)
                fig.draw(bar)
            top = max(top, *stacked.values())
    whole = all(float(y).is_integer() for points in series.values() for _, y in points)
    fig.ruler("y").lim(0, _top(top, whole=whole))
    if ylabel:
        fig.label(ylabel, axis="y")
    if xlabel:
        fig.label(xlabel, axis="x")
    fig.ruler("x").ticks(*_time_ticks(xs[0], xs[-1], width))
    return Text.from_ansi(fig.build().string(), no_wrap=True, overflow="crop")


def _top(top: float, *, whole: bool) -> float:
    """The top of the value axis: a little room above the data; counts end on a whole number."""
    if top <= 0:
        return 1.0
    return float(math.ceil(top * 1.05)) if whole else top * 1.05


class ChartWidget(Widget):
    """A line or stacked-bar chart of time series; x values are unix timestamps."""

    DEFAULT_CSS = """
    ChartWidget {
        height: 12;
        min-height: 5;
    }
    """

    def __init__(
        self,
        title: str,
        *,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.chart_title = title
        self.latest = ""
        self._series: dict[str, list[tuple[float, float]]] = {}
        self._kind: ChartKind = "line"
        self._ylabel = ""
        self._xlabel = "time"
        self._partial_after: float | None = None
        self._plot_size: Size | None = None
        self._rendered: tuple[Size, Text] | None = None

    def on_resize(self, event: events.Resize) -> None:
        gutter = self.styles.gutter
        self._plot_size = Size(event.size.width - gutter.width, event.size.height - gutter.height)
        self._rendered = None
        self.refresh()

    def set_series(
        self,
        series: Series,
        *,
        kind: ChartKind = "line",
        ylabel: str = "",
        xlabel: str = "time",
        partial_after: float | None = None,
        latest: str = "",
    ) -> None:
        """Replace the plotted data and redraw.

        Args:
            series: Points (unix timestamp, value) per series name; empty series are left out.
            kind: "line" or "bar" (bars of several series stack).
            ylabel: Label of the value axis.
            xlabel: Label of the time axis.
            partial_after: Points from this time on belong to a bucket still filling.
            latest: The newest value(s), printed beside the title.

        Raises:
            InvalidInput: kind is neither "line" nor "bar".
        """
        if kind not in ("line", "bar"):
            raise InvalidInput(f"chart kind must be 'line' or 'bar', not {kind!r}")
        self._series = {name: sorted(points) for name, points in series.items() if points}
        self._kind, self._ylabel, self._xlabel = kind, ylabel, xlabel
        self._partial_after = partial_after
        self.latest = latest
        self._rendered = None
        self.refresh()

    def render(self) -> Text:
        size = self._plot_size or self.size
        if self._rendered is None or self._rendered[0] != size:
            self._rendered = (size, self._build(size))
        return self._rendered[1]

    def _build(self, size: Size) -> Text:
        if self._series and (size.width < _MIN_WIDTH or size.height < _MIN_HEIGHT):
            return Text.assemble(self.chart_title, "\n", ("(too small to plot)", "dim"))
        try:
            title = f"{self.chart_title}  ·  now {self.latest}" if self.latest else self.chart_title
            if len(title) > size.width - 2:  # plotext drops a title that does not fit
                title = title[: max(1, size.width - 3)] + "…"
            return build_chart(
                title,
                self._series,
                kind=self._kind,
                width=size.width,
                height=size.height,
                ylabel=self._ylabel,
                xlabel=self._xlabel,
                partial_after=self._partial_after,
            )
        except Exception:  # plotext is the boundary: a bad chart must not take the TUI down
            logger.exception("plotting %r failed", self.chart_title)
            return Text.assemble(self.chart_title, "\n", ("chart failed, see the log", "red"))
