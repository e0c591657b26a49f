"""The drafts pane follows a two-step spawn from the request to the first commit."""

from __future__ import annotations

from hyperhive.core.client import HiveClient
from hyperhive.core.hive import Hive
from hyperhive.tui.panes.drafts import DraftsPane
from hyperhive.tui.panes.swarm import SwarmPane
from tests.tui.conftest import app_for, column, connected, rows, until


async def test_a_draft_shows_while_requested_then_while_the_manager_edits(
    hive: Hive, host: HiveClient
) -> None:
    app = app_for(hive)
    async with app.run_test(size=(120, 40)) as pilot:
        await connected(pilot)
        pane = app.screen.query_one(DraftsPane)
        asked = await host.call("approvals.request_spawn_draft", name="kappa")
        await until(
            pilot,
            lambda: (
                [r[:3] for r in rows(pane)]
                == [("kappa", "draft requested", f"#{asked['id']} spawn_draft")]
            ),
        )
        await host.call("approvals.approve", id=asked["id"], wait=True)
        await until(
            pilot,
            lambda: (
                [r[:3] for r in rows(pane)] == [("kappa", "manager is editing the config", "-")]
            ),
        )
        assert "kappa" not in column(app.screen.query_one(SwarmPane)), "a draft is not in the swarm"
