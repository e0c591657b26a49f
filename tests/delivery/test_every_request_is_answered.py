"""Every request gets exactly one answer, fast: oversize lines, in-flight overflow, deadlines."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from hyperhive.agent.hive_tools import HiveLink
from hyperhive.core.client import HiveClient
from hyperhive.core.errors import DaemonUnavailable, ProtocolError, Refused
from hyperhive.core.hive import Hive
from hyperhive.core.protocol import CANCEL, peek_id
from hyperhive.core.server import MAX_IN_FLIGHT
from tests.delivery.wire import RawLine


async def test_a_2_mib_line_is_answered_with_its_own_id_and_the_connection_goes_on(
    hive: Hive,
) -> None:
    await hive.create_agent("alice")
    wire = await RawLine.open(hive.settings.agent_socket("alice"))
    body = "x" * (2 * 1024 * 1024)
    t0 = time.monotonic()
    wire.write(json.dumps({"id": 41, "method": "messages.send", "params": {"body": body}}).encode())
    reply = await wire.reply(timeout=1.0)
    assert time.monotonic() - t0 < 1.0
    assert reply["id"] == 41
    assert (
        reply["error"]["code"] == "protocol_error" and "line too long" in reply["error"]["message"]
    )
    await wire.request(42, "agent.whoami")
    assert (await wire.reply())["result"]["name"] == "alice"
    await wire.close()


async def test_a_line_too_long_whose_id_comes_late_or_nested_is_answered_with_a_null_id(
    hive: Hive,
) -> None:
    await hive.create_agent("alice")
    wire = await RawLine.open(hive.settings.agent_socket("alice"))
    big = "y" * (2 * 1024 * 1024)
    wire.write(json.dumps({"params": {"id": 7, "body": big}, "method": "x", "id": 8}).encode())
    reply = await wire.reply()
    assert reply["id"] is None and reply["error"]["code"] == "protocol_error"
    await wire.close()


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (b'{"id": 7, "method": "x", "params": {"body": "', 7),
        (b'{"method":"x","id":"req-1","params":{', "req-1"),
        (b'{"method":"x","params":{"id":3,"body":"zz', None),  # nested: not the request's
        (b'{"params":{"body":"\\"id\\": 5, more', None),  # inside a string
        (b'{"method":"x","params":{"body":"a \\\\"},"id":9', 9),  # an escaped backslash
        (b'{"id": 99999999999999999999, "method"', None),  # not a 64-bit integer
        (b'{"id": true', None),
        (b'[{"id": 1}', None),
        (b"", None),
    ],
)
def test_the_id_of_an_oversized_line_is_read_from_its_top_level_only(
    head: bytes, expected: Any
) -> None:
    assert peek_id(head) == expected


async def test_the_65th_request_in_flight_is_refused_with_its_id_at_once(hive: Hive) -> None:
    await hive.create_agent("alice")
    wire = await RawLine.open(hive.settings.agent_socket("alice"))
    for i in range(1, MAX_IN_FLIGHT + 1):
        await wire.request(i, "messages.recv", wait_seconds=30)
    await wire.request("one-too-many", "messages.recv", wait_seconds=30)
    reply = await wire.reply(timeout=1.0)
    assert reply["id"] == "one-too-many"
    assert reply["error"]["code"] == "refused" and "in flight" in reply["error"]["message"]
    # a cancel is answered even when the connection is full, and so is what it cancels
    await wire.request("c1", CANCEL, id=1)
    got = await wire.replies(2)
    assert got["c1"]["result"] == {"cancelled": True}
    assert got[1]["error"]["code"] == "refused" and "cancelled" in got[1]["error"]["message"]
    await wire.close()


async def test_65_concurrent_calls_on_one_link_each_get_an_answer_within_a_second(
    hive: Hive,
) -> None:
    await hive.create_agent("alice")
    link = HiveLink(hive.settings.agent_socket("alice"))
    await link.call("agent.whoami")  # connected

    async def one() -> Any:
        try:
            return await link.call("messages.recv", wait_seconds=0.3)
        except Refused as exc:
            return exc

    t0 = time.monotonic()
    async with asyncio.timeout(1.0):
        results = await asyncio.gather(*(one() for _ in range(MAX_IN_FLIGHT + 1)))
    assert time.monotonic() - t0 < 1.0
    refused = [r for r in results if isinstance(r, Refused)]
    assert len(refused) == 1 and "in flight" in refused[0].message
    assert sum(1 for r in results if isinstance(r, dict)) == MAX_IN_FLIGHT
    await link.close()


@contextlib.asynccontextmanager
async def fake_daemon(path: Path, answer: bytes | None) -> AsyncIterator[list[bytes]]:
    """A socket that reads requests and answers each with ``answer`` (None: never)."""
    lines: list[bytes] = []
    writers: list[asyncio.StreamWriter] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)
        while line := await reader.readline():
            lines.append(line)
            if answer is not None:
                writer.write(answer + b"\n")
                await writer.drain()

    server = await asyncio.start_unix_server(handle, path=str(path))
    try:
        yield lines
    finally:
        server.close()
        for writer in writers:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()
        await server.wait_closed()


async def test_an_error_the_daemon_could_not_tie_to_a_request_fails_the_oldest_call(
    run_dir: Path,
) -> None:
    path = run_dir / "null.sock"
    answer = b'{"id": null, "error": {"code": "protocol_error", "message": "line too long"}}'
    async with fake_daemon(path, answer):
        client = await HiveClient.connect(path)
        with pytest.raises(ProtocolError, match="line too long"):
            async with asyncio.timeout(1.0):
                await client.call("agent.whoami")
        await client.close()


async def test_a_call_without_an_answer_ends_at_its_deadline_and_is_cancelled_at_the_daemon(
    run_dir: Path,
) -> None:
    path = run_dir / "mute.sock"
    async with fake_daemon(path, None) as lines:
        client = await HiveClient.connect(path, deadline=0.2)
        with pytest.raises(DaemonUnavailable, match=r"agent.whoami: no answer .* 0.2 s"):
            await client.call("agent.whoami")
        # a long poll's wait is added to the deadline
        t0 = time.monotonic()
        with pytest.raises(DaemonUnavailable):
            await client.call("messages.recv", wait_seconds=0.3)
        assert time.monotonic() - t0 >= 0.5
        await asyncio.sleep(0.05)
        await client.close()
    sent = [json.loads(line) for line in lines]
    assert [m["method"] for m in sent] == ["agent.whoami", CANCEL, "messages.recv", CANCEL]
    assert sent[1]["params"] == {"id": sent[0]["id"]}
    assert sent[3]["params"] == {"id": sent[2]["id"]}
