"""The stats screen tells the truth about young data: many points, a partial bucket, the header."""

from __future__ import annotations

import time

from hyperhive.core.client import HiveClient
from hyperhive.core.hive import Hive
from hyperhive.tui.panes.stats import Bucket, Chart, Series, agent_charts
from hyperhive.tui.screens.stats import StatsScreen
from hyperhive.tui.widgets.chart import ChartWidget, build_chart
from hyperhive.tui.widgets.status import StatusLine
from tests.tui.conftest import app_for, connected, on_screen, until


async def test_a_chart_over_90_seconds_has_many_points_and_ends_at_the_header_value(
    hive: Hive, host: HiveClient
) -> None:
    now = time.time()
    for i in range(16):  # a swarm 90 s old, sampled every 6 s: the queue was 1, then 2
        await hive.stats.record_turn("*", {"approvals.pending": 1.0 + (i > 8)}, ts=now - 90 + 6 * i)
    await host.call("approvals.request_spawn", name="gamma")  # the live queue: 1
    app = app_for(hive)
    async with app.run_test(size=(120, 40)) as pilot:
        await connected(pilot)
        # a daemon sample newer than anything this TUI saw, and already stale: 3 pending
        await hive.stats.record_turn("*", {"approvals.pending": 3.0}, ts=time.time())
        await pilot.press("3")
        screen = await on_screen(pilot, StatsScreen)
        chart = screen.query_one("#chart-queue", ChartWidget)
        await until(pilot, lambda: len(chart._series.get("pending", [])) > 10)
        points = chart._series["pending"]
        assert points[-1][1] == len(app.model.pending_approvals()) == 1
        assert "1 approval" in str(screen.query_one(StatusLine).content)
        assert chart.latest == "1"
        assert "now 1" in chart.render().plain


def test_an_all_zero_chart_has_a_zero_baseline_and_a_legend() -> None:
    text = build_chart(
        "queue", {"pending": [(0.0, 0.0), (60.0, 0.0)]}, kind="line", width=60, height=12
    )
    axis = [line.split("┤")[0].strip() for line in text.plain.splitlines() if "┤" in line]
    assert axis[-1] in ("0", "0.00") and not any(a.startswith("-") for a in axis)
    assert "pending" in text.plain


def test_the_bucket_still_filling_is_drawn_as_partial() -> None:
    now = 990.0
    buckets = tuple(Bucket(t, 4, 4.0, 1.0, 1.0, 1.0, 1.0) for t in (880.0, 910.0, 940.0))
    partial = Bucket(970.0, 1, 1.0, 1.0, 1.0, 1.0, 1.0)  # 970..1000 still fills at 990
    series = {"cost.usd": Series("cost.usd", 30.0, (*buckets, partial))}
    chart = agent_charts(series, now)["cost"]
    assert isinstance(chart, Chart) and chart.partial_after == 970.0
    text = build_chart("cost", chart.series, kind="line", width=60, height=12, partial_after=970.0)
    assert "partial" in text.plain and "·" in text.plain
