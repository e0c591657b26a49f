"""Tests for the plotext chart widget, rendered inside a small Textual app."""

from __future__ import annotations

import pytest
from textual.app import App, ComposeResult

from hyperhive.core.errors import InvalidInput
from hyperhive.tui.widgets.chart import ChartWidget, build_chart

T0 = 1_700_000_000.0
CPU = {"alpha": [(T0 + 60 * i, float(i % 7)) for i in range(30)]}


class ChartApp(App[None]):
    def compose(self) -> ComposeResult:
        yield ChartWidget("cpu %")


def rendered(chart: ChartWidget) -> str:
    return chart.render().plain


async def test_series_render_a_plot_with_the_title() -> None:
    app = ChartApp()
    async with app.run_test(size=(70, 20)) as pilot:
        chart = app.query_one(ChartWidget)
        chart.set_series(CPU, ylabel="percent")
        await pilot.pause()
        text = rendered(chart)
        assert "cpu %" in text
        assert "percent" in text
        assert "┤" in text, "a y axis with ticks is drawn"
        assert len(text.splitlines()) == chart.size.height


async def test_empty_series_show_no_data_yet() -> None:
    app = ChartApp()
    async with app.run_test(size=(70, 20)) as pilot:
        chart = app.query_one(ChartWidget)
        assert "no data yet" in rendered(chart)
        chart.set_series({"alpha": []})
        await pilot.pause()
        assert "no data yet" in rendered(chart)


async def test_bar_kind_stacks_several_series_with_a_legend() -> None:
    app = ChartApp()
    async with app.run_test(size=(70, 20)) as pilot:
        chart = app.query_one(ChartWidget)
        chart.set_series(
            {"alpha": [(T0, 1.0), (T0 + 60, 2.0)], "beta": [(T0, 3.0), (T0 + 120, 1.0)]},
            kind="bar",
        )
        await pilot.pause()
        text = rendered(chart)
        assert "█" in text
        assert "alpha" in text and "beta" in text


async def test_chart_redraws_at_its_new_size_on_resize() -> None:
    app = ChartApp()
    async with app.run_test(size=(70, 20)) as pilot:
        chart = app.query_one(ChartWidget)
        chart.set_series(CPU)
        await pilot.pause()
        before = rendered(chart)
        await pilot.resize_terminal(100, 20)
        await pilot.pause()
        after = rendered(chart)
        assert max(map(len, after.splitlines())) == 100 > max(map(len, before.splitlines()))


def test_time_axis_shows_clock_times() -> None:
    text = build_chart("t", CPU, kind="line", width=80, height=12).plain
    assert ":" in text.splitlines()[-2], "x tick labels read HH:MM"


def test_unknown_kind_is_invalid_input() -> None:
    chart = ChartWidget("x")
    with pytest.raises(InvalidInput):
        chart.set_series(CPU, kind="pie")  # type: ignore[arg-type]


def test_build_chart_without_points_says_no_data_yet() -> None:
    assert "no data yet" in build_chart("t", {}, kind="bar", width=40, height=10).plain
