"""Following a harness log live: the daemon watches the file and pushes what is appended."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import pytest

from hyperhive.core.client import HiveClient
from hyperhive.core.errors import NotFound, ProtocolError
from hyperhive.core.hive import Hive


def _log(hive: Hive, name: str) -> Path:
    path = hive.settings.agent_dir(name) / "harness.log"
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


async def _next(client: HiveClient, name: str) -> dict[str, Any]:
    while True:
        event = await client.next_event(timeout=10)
        if event["event"] == name:
            data: dict[str, Any] = event["data"]
            return data


async def test_a_followed_log_pushes_appended_lines_to_the_follower(
    hive: Hive, host: HiveClient
) -> None:
    await hive.create_agent("alice")
    path = _log(hive, "alice")
    path.write_text("one\n")
    await host.subscribe(["log.*"])
    got = await host.call("logs.follow", name="alice", lines=10)
    assert got["text"] == "one\n" and got["id"]
    with path.open("a") as fh:
        fh.write("two\n")
    pushed = await _next(host, "log.output")
    assert (pushed["id"], pushed["name"], pushed["text"]) == (got["id"], "alice", "two\n")
    path.write_text("")  # rotated under the follower: it starts from the top again
    with path.open("a") as fh:
        fh.write("three\n")
    texts = ""
    while "three" not in texts:
        texts += (await _next(host, "log.output"))["text"]
    assert texts == "three\n"
    assert (await host.call("logs.unfollow", id=got["id"]))["stopped"] is True
    assert (await _next(host, "log.closed"))["id"] == got["id"]


async def test_a_multibyte_character_cut_between_chunks_arrives_whole(
    hive: Hive, host: HiveClient
) -> None:
    await hive.create_agent("alice")
    path = _log(hive, "alice")
    path.write_text("")
    await host.subscribe(["log.*"])
    await host.call("logs.follow", name="alice")
    raw = "é\n".encode()
    with path.open("ab") as fh:
        fh.write(raw[:1])
        fh.flush()
        await asyncio.sleep(0.6)  # the daemon reads the half character on its own
        fh.write(raw[1:])
    texts = ""
    while "\n" not in texts:
        texts += (await _next(host, "log.output"))["text"]
    assert texts == "é\n"


async def test_a_log_swapped_for_a_symlink_ends_the_follow_unread(
    hive: Hive, host: HiveClient
) -> None:
    await hive.create_agent("alice")
    path = _log(hive, "alice")
    path.write_text("one\n")
    secret = hive.settings.state_dir / "secret"
    secret.write_text("daemon secret\n")
    await host.subscribe(["log.*"])
    got = await host.call("logs.follow", name="alice")
    path.unlink()
    os.symlink(secret, path)
    while True:
        event = await host.next_event(timeout=10)
        assert "daemon secret" not in str(event)
        if event["event"] == "log.closed":
            break
    assert event["data"]["id"] == got["id"] and "symbolic link" in event["data"]["reason"]


async def test_another_connection_neither_sees_nor_stops_a_follow(
    hive: Hive, host: HiveClient
) -> None:
    await hive.create_agent("alice")
    path = _log(hive, "alice")
    path.write_text("")
    other = await HiveClient.connect(hive.settings.host_socket)
    await other.subscribe(["log.*"])
    await host.subscribe(["log.*"])
    got = await host.call("logs.follow", name="alice")
    with pytest.raises(NotFound):
        await other.call("logs.unfollow", id=got["id"])
    with path.open("a") as fh:
        fh.write("mine\n")
    assert (await _next(host, "log.output"))["text"] == "mine\n"
    with pytest.raises(TimeoutError):
        await other.next_event(timeout=0.8)
    await other.close()


def _followers() -> list[asyncio.Task[object]]:
    """The daemon's log-follow tasks (the ``pump`` of core/api/threads.py)."""
    return [
        t
        for t in asyncio.all_tasks()
        if getattr(t.get_coro(), "cr_code", None) is not None
        and t.get_coro().cr_code.co_filename.endswith("api/threads.py")  # type: ignore[union-attr]
    ]


async def test_closing_the_connection_stops_its_follows(hive: Hive) -> None:
    await hive.create_agent("alice")
    _log(hive, "alice").write_text("")
    client = await HiveClient.connect(hive.settings.host_socket)
    await client.call("logs.follow", name="alice")
    await client.call("logs.follow", name="alice")
    assert len(_followers()) == 2
    await client.close()
    for _ in range(200):
        if not _followers():
            break
        await asyncio.sleep(0.05)
    assert _followers() == []


async def test_an_agent_cannot_follow_a_log(hive: Hive) -> None:
    await hive.create_agent("alice")
    alice = await HiveClient.connect(hive.settings.agent_socket("alice"))
    with pytest.raises(ProtocolError, match="unknown method"):
        await alice.call("logs.follow")
    await alice.close()
