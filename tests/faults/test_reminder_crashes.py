"""kill -9 of the daemon while reminders come due: each one wakes its agent exactly once."""

from __future__ import annotations

import asyncio
import time

from hyperhive.core.client import HiveClient
from hyperhive.core.settings import Settings
from tests.support.daemon import DaemonProcess

COUNT = 100  # limits.reminder_max_pending


async def test_kill_9_while_reminders_fire_delivers_each_exactly_once(
    daemon: DaemonProcess, settings: Settings
) -> None:
    alice = await HiveClient.connect(settings.agent_socket("alice"))
    start = time.time() + 2.0
    ids = []
    for i in range(COUNT):  # due one every 5 ms, from two seconds on
        made = await alice.call("reminders.create", message=f"r{i}", at=start + i * 0.005)
        ids.append(made["id"])
    await alice.close()
    host = await HiveClient.connect(settings.host_socket)
    # kill as soon as some, but not all, have fired
    async with asyncio.timeout(30):
        while True:
            fired = (await host.call("reminders.list", status="fired", limit=COUNT))["reminders"]
            if fired:
                break
            await asyncio.sleep(0.01)
    await host.close()
    daemon.kill9()
    assert len(fired) < COUNT, "every reminder fired before the kill: nothing was tested"

    await daemon.start()
    host = await HiveClient.connect(settings.host_socket)
    async with asyncio.timeout(30):
        while (await host.call("reminders.list", limit=COUNT))["reminders"]:
            await asyncio.sleep(0.05)  # pending ones left
    rows = (await host.call("reminders.list", status=None, limit=COUNT))["reminders"]
    await host.close()
    assert sorted(r["id"] for r in rows) == ids
    assert {r["status"] for r in rows} == {"fired"}

    alice = await HiveClient.connect(settings.agent_socket("alice"))
    got: list[dict[str, object]] = []
    while batch := (await alice.call("messages.recv", wait_seconds=0, max=32))["messages"]:
        got.extend(batch)
        await alice.call("messages.ack", ids=[m["id"] for m in batch])
    await alice.close()
    bodies = sorted(str(m["body"]) for m in got)
    assert bodies == sorted(f"[reminder #{rid}] r{i}" for i, rid in enumerate(ids))
    assert {r["message_id"] for r in rows} == {m["id"] for m in got}
