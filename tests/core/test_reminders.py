"""Reminders through the protocol: schedule, fire as a system message, cancel, survive restarts."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from hyperhive.core.client import HiveClient
from hyperhive.core.errors import InvalidInput, NotFound, ProtocolError, Refused
from hyperhive.core.hive import Hive
from hyperhive.core.settings import Limits, Settings
from tests.conftest import agent_client


async def _take(client: HiveClient, wait: float = 5) -> list[dict[str, Any]]:
    got = await client.call("messages.recv", wait_seconds=wait, max=10)
    await client.call("messages.ack", ids=[m["id"] for m in got["messages"]])
    return list(got["messages"])


async def test_a_reminder_wakes_its_agent_as_a_message_from_system(
    hive: Hive, host: HiveClient
) -> None:
    await host.subscribe(["reminder.*"])
    alice = await agent_client(hive, "alice")
    made = await alice.call(
        "reminders.create", message="check the build", delay_seconds=0.3, file_path="/state/b.md"
    )
    assert made["status"] == "pending" and made["agent"] == "alice"
    created = await host.next_event(5)
    assert (created["event"], created["data"]["id"]) == ("reminder.created", made["id"])
    [msg] = await _take(alice)
    assert msg["sender"] == "system"
    assert msg["body"] == f"[reminder #{made['id']}] check the build\n(file: /state/b.md)"
    fired = await host.next_event(5)
    assert fired["event"] == "reminder.fired"
    assert (fired["data"]["status"], fired["data"]["message_id"]) == ("fired", msg["id"])
    assert (await alice.call("reminders.list"))["reminders"] == []
    await alice.close()


async def test_a_reminder_at_a_time_fires_then(hive: Hive) -> None:
    alice = await agent_client(hive, "alice")
    await alice.call("reminders.create", message="standup", at=time.time() + 0.3)
    assert await _take(alice, wait=0) == []
    [msg] = await _take(alice)
    assert msg["body"].endswith("] standup")
    await alice.close()


async def test_a_reminder_fires_after_a_daemon_restart(settings: Settings) -> None:
    async with Hive.open(settings) as hive:
        alice = await agent_client(hive, "alice")
        made = await alice.call("reminders.create", message="wake me", delay_seconds=1.0)
        await alice.close()
    # the daemon was down when it came due
    await asyncio.sleep(1.2)
    async with Hive.open(settings) as hive:
        alice = await HiveClient.connect(hive.settings.agent_socket("alice"))
        [msg] = await _take(alice)
        assert msg["body"] == f"[reminder #{made['id']}] wake me"
        [row] = await hive.reminders.list(agent="alice", status="fired")
        assert row.message_id == msg["id"]
        await alice.close()
    # and a third life delivers nothing again: firing and the message were one transaction
    async with Hive.open(settings) as hive:
        alice = await HiveClient.connect(hive.settings.agent_socket("alice"))
        assert await _take(alice, wait=0.5) == []
        await alice.close()


async def test_a_cancelled_reminder_never_fires(hive: Hive, host: HiveClient) -> None:
    alice = await agent_client(hive, "alice")
    made = await alice.call("reminders.create", message="later", delay_seconds=0.5)
    await host.subscribe(["reminder.*"])
    cancelled = await alice.call("reminders.cancel", id=made["id"])
    assert (cancelled["status"], cancelled["decided_by"]) == ("cancelled", "alice")
    assert (await host.next_event(5))["event"] == "reminder.cancelled"
    assert await _take(alice, wait=1.0) == []
    assert await hive.reminders.fire_due(time.time() + 10) == []
    with pytest.raises(Refused, match="is cancelled, not pending"):
        await alice.call("reminders.cancel", id=made["id"])
    await alice.close()


async def test_the_operator_lists_and_cancels_any_agents_reminder(
    hive: Hive, host: HiveClient
) -> None:
    alice = await agent_client(hive, "alice")
    bob = await agent_client(hive, "bob")
    a = await alice.call("reminders.create", message="a", delay_seconds=600)
    b = await bob.call("reminders.create", message="b", delay_seconds=300)
    listed = (await host.call("reminders.list"))["reminders"]
    assert [r["id"] for r in listed] == [b["id"], a["id"]]  # soonest due first
    only = (await host.call("reminders.list", agent="alice"))["reminders"]
    assert [r["id"] for r in only] == [a["id"]]
    done = await host.call("reminders.cancel", id=a["id"])
    assert (done["status"], done["decided_by"]) == ("cancelled", "operator")
    await alice.close()
    await bob.close()


async def test_an_agent_sees_and_cancels_only_its_own_reminders(hive: Hive) -> None:
    alice = await agent_client(hive, "alice")
    bob = await agent_client(hive, "bob")
    a = await alice.call("reminders.create", message="mine", delay_seconds=600)
    assert (await bob.call("reminders.list"))["reminders"] == []
    with pytest.raises(Refused, match="only its own"):
        await bob.call("reminders.list", agent="alice")
    with pytest.raises(NotFound, match="of yours"):
        await bob.call("reminders.cancel", id=a["id"])
    assert (await hive.reminders.list(agent="alice"))[0].pending
    await alice.close()
    await bob.close()


@pytest.mark.parametrize(
    ("params", "needle"),
    [
        ({"message": "x"}, "exactly one of"),
        ({"message": "x", "delay_seconds": 5, "at": time.time() + 5}, "exactly one of"),
        ({"message": "x", "delay_seconds": -1}, "between 0 and"),
        ({"message": "x", "delay_seconds": 10**9}, "between 0 and"),
        ({"message": "x", "at": 1000.0}, "in the past"),
        ({"message": "  ", "delay_seconds": 5}, "non-empty"),
        ({"message": "x" * 4090, "delay_seconds": 5}, "write the details to a file"),
        ({"message": "x", "delay_seconds": 5, "file_path": "a\nb"}, "one line"),
    ],
)
async def test_a_bad_reminder_is_refused_with_a_clear_error(
    hive: Hive, params: dict[str, Any], needle: str
) -> None:
    alice = await agent_client(hive, "alice")
    with pytest.raises(InvalidInput, match=needle):
        await alice.call("reminders.create", **params)
    await alice.close()


async def test_an_agent_has_at_most_the_limit_of_pending_reminders(
    tmp_path: Any, run_dir: Any
) -> None:
    settings = Settings(
        state_dir=tmp_path / "s", run_dir=run_dir, limits=Limits(reminder_max_pending=2)
    )
    async with Hive.open(settings) as hive:
        alice = await agent_client(hive, "alice")
        for _ in range(2):
            await alice.call("reminders.create", message="x", delay_seconds=600)
        with pytest.raises(Refused, match="already has 2 pending reminders"):
            await alice.call("reminders.create", message="x", delay_seconds=600)
        await alice.close()


async def test_a_reminder_of_a_destroyed_agent_is_dropped_not_fired(hive: Hive) -> None:
    alice = await agent_client(hive, "alice")
    made = await alice.call("reminders.create", message="x", delay_seconds=600)
    await alice.close()
    await hive.agents.set_state("alice", hive.agents.get("alice").state.DESTROYED)
    [done] = await hive.reminders.fire_due(time.time() + 601)
    assert (done.id, done.status) == (made["id"], "dropped")


async def test_creating_a_reminder_is_an_agent_method_only(host: HiveClient) -> None:
    with pytest.raises(ProtocolError, match="unknown method"):
        await host.call("reminders.create", message="x", delay_seconds=1)


async def test_a_reminder_whose_firing_fails_sends_nothing_and_fires_once_later(
    hive: Hive, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Marking a reminder fired and inserting its message are one transaction."""
    import sqlite3

    from hyperhive.core.store import reminders as store_reminders

    alice = await agent_client(hive, "alice")
    made = await alice.call("reminders.create", message="once", delay_seconds=600)
    real_close = store_reminders.close

    def failing(db: Any, *args: Any, **kwargs: Any) -> bool:
        real_close(db, *args, **kwargs)  # the row is marked fired ... then the disk fails
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(store_reminders, "close", failing)
    assert await hive.reminders.fire_due(time.time() + 601) == []  # logged, kept pending
    monkeypatch.setattr(store_reminders, "close", real_close)
    assert await _take(alice, wait=0) == []  # no message: it rolled back with the mark
    [row] = await hive.reminders.list(agent="alice")
    assert (row.id, row.status) == (made["id"], "pending")
    [fired] = await hive.reminders.fire_due(time.time() + 601)
    assert fired.status == "fired"
    [msg] = await _take(alice)
    assert msg["body"] == f"[reminder #{made['id']}] once"
    assert await hive.reminders.fire_due(time.time() + 601) == []
    await alice.close()


async def test_a_reminder_longer_than_a_since_lowered_limit_still_fires_cut(
    settings: Settings,
) -> None:
    from dataclasses import replace

    async with Hive.open(settings) as hive:
        alice = await agent_client(hive, "alice")
        made = await alice.call(
            "reminders.create", message="z" * 3000, delay_seconds=600, file_path="/state/t.md"
        )
        await alice.close()
    smaller = replace(settings, limits=Limits(message_body_bytes=1000))
    async with Hive.open(smaller) as hive:
        [fired] = await hive.reminders.fire_due(time.time() + 601)
        assert fired.id == made["id"]
        alice = await HiveClient.connect(hive.settings.agent_socket("alice"))
        [msg] = await _take(alice)
        assert len(msg["body"].encode()) <= 1000
        assert msg["body"].endswith("…\n(file: /state/t.md)")
        await alice.close()
