"""End to end with the real Claude Code CLI: a cancelled turn's ``recv`` takes nothing.

The model (scripted API) waits in ``recv``; the operator cancels the turn; the operator's
next message must start a turn whose prompt shows it to the model.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from hyperhive.core.client import HiveClient
from hyperhive.core.hive import Hive
from tests.support.harness import claude_harness
from tests.support.waiting import next_named


@pytest.mark.claude
async def test_a_turn_cancelled_while_the_model_waits_in_recv_loses_no_message(
    hive: Hive, host: HiveClient, tmp_path: Path
) -> None:
    from tests.support.fake_anthropic import text, tool_use

    script = [tool_use("mcp__hyperhive__recv", {"wait_seconds": 20}), text("seen it")]
    await host.subscribe(["turn.ended"])
    async with claude_harness(hive, tmp_path, script) as api:
        await host.call("messages.send", to="alice", body="wait for news")
        async with asyncio.timeout(90):
            while hive.broker.waiters("alice") == 0:  # the model is parked in recv
                await asyncio.sleep(0.05)
        await host.call("harness.cancel", agent="alice")
        cancelled = await next_named(host, "turn.ended", timeout=30)
        await host.call("messages.send", to="alice", body="the news, after the cancel")
        second = await next_named(host, "turn.ended", timeout=15)
    assert cancelled["exit_class"] == "cancelled"
    assert second["exit_class"] == "ok", second["error"]
    prompts = [json.dumps(r.body["messages"]) for r in api.main_requests]
    assert "the news, after the cancel" in prompts[-1]
    # both were seen, both acknowledged; nothing waits or hangs in flight
    assert hive.broker.depth("alice") == 0 and hive.broker.inflight("alice") == 0
