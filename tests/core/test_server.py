"""The JSON-lines protocol on real sockets: identity, scopes, and every kind of bad input."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from hyperhive.core.client import HiveClient
from hyperhive.core.errors import InvalidInput, NotFound, ProtocolError, Refused
from hyperhive.core.events import EventBus
from hyperhive.core.hive import Hive
from hyperhive.core.protocol import Caller, Registry, Scope
from hyperhive.core.server import SocketServer
from tests.conftest import agent_client


class RawConnection:
    """Writes raw bytes and reads reply lines, to send what no client would."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    async def send(self, data: bytes) -> dict[str, Any]:
        self.writer.write(data)
        await self.writer.drain()
        async with asyncio.timeout(5):
            line = await self.reader.readline()
        reply: dict[str, Any] = json.loads(line)
        return reply

    async def ping(self) -> None:
        reply = await self.send(b'{"id": 99, "method": "agent.whoami"}\n')
        assert reply["id"] == 99 and "result" in reply, reply


@pytest.fixture
async def raw(hive: Hive) -> AsyncIterator[RawConnection]:
    await hive.create_agent("alice")
    path: Path = hive.settings.agent_socket("alice")
    reader, writer = await asyncio.open_unix_connection(str(path), limit=16 * 1024 * 1024)
    yield RawConnection(reader, writer)
    writer.close()


@pytest.mark.parametrize(
    ("line", "code", "text"),
    [
        (b"this is not json\n", "protocol_error", "not valid JSON"),
        (b"[1, 2, 3]\n", "protocol_error", "must be a JSON object"),
        (b'{"id": 1}\n', "protocol_error", "needs a 'method'"),
        (b'{"id": 1, "method": "no.such"}\n', "protocol_error", "unknown method 'no.such'"),
        (
            b'{"id": 1, "method": "messages.send", "params": {"to": "bob"}}\n',
            "invalid_input",
            "missing param 'body'",
        ),
        (
            b'{"id": 1, "method": "messages.send", "params": {"to": 5, "body": "x"}}\n',
            "invalid_input",
            "'to' must be str",
        ),
        (
            b'{"id": 1, "method": "messages.send", "params": [1]}\n',
            "invalid_input",
            "'params' must be an object",
        ),
        (
            b'{"id": 1, "method": "messages.recv", "params": {"bogus": 1}}\n',
            "invalid_input",
            "unknown param(s) 'bogus'",
        ),
        (
            b'{"id": 1, "method": "approvals.approve", "params": {"id": 1}}\n',
            "protocol_error",
            "on an agent socket",
        ),
        (b'{"id": 1, "method": "agents.list"}\n', "protocol_error", "on an agent socket"),
        (
            b'{"id": 1, "method": "messages.send", "params": {"to": "ghost", "body": "x"}}\n',
            "not_found",
            "unknown recipient 'ghost'",
        ),
        (
            b'{"id": 1, "method": "messages.send", "params": {"to": "manager", "body": "'
            + b"x" * 5000
            + b'"}}\n',
            "invalid_input",
            "limit is 4096",
        ),
        (b"[" * 100_000 + b"]" * 100_000 + b"\n", "protocol_error", "not valid JSON"),
    ],
    ids=[
        "not-json",
        "not-an-object",
        "no-method",
        "unknown-method",
        "missing-param",
        "wrong-type",
        "params-not-object",
        "unknown-param",
        "manager-method-on-agent-socket",
        "host-method-on-agent-socket",
        "unknown-recipient",
        "oversize-body",
        "deep-nesting",
    ],
)
async def test_bad_input_gets_a_clear_error_and_the_connection_stays_usable(
    raw: RawConnection, line: bytes, code: str, text: str
) -> None:
    reply = await raw.send(line)
    assert reply["error"]["code"] == code
    assert text in reply["error"]["message"]
    await raw.ping()


async def test_an_oversize_line_is_refused_and_the_connection_stays_usable(
    raw: RawConnection,
) -> None:
    reply = await raw.send(
        b'{"id": 1, "method": "x", "pad": "' + b"a" * (1024 * 1024 + 10) + b'"}\n'
    )
    assert reply["error"]["code"] == "protocol_error"
    assert "line too long" in reply["error"]["message"]
    await raw.ping()


async def test_an_agent_socket_can_only_send_as_its_own_agent(hive: Hive) -> None:
    alice = await agent_client(hive, "alice")
    bob = await agent_client(hive, "bob")
    await alice.call("messages.send", to="bob", body="from me")
    got = await bob.call("messages.recv", wait_seconds=1, max=1)
    assert got["messages"][0]["sender"] == "alice"
    assert (await alice.call("agent.whoami"))["name"] == "alice"
    await alice.close()
    await bob.close()


async def test_manager_methods_exist_only_on_the_manager_socket(hive: Hive) -> None:
    manager = await HiveClient.connect(hive.settings.agent_socket("manager"))
    assert (await manager.call("agents.list"))["agents"][0]["name"] == "manager"
    alice = await agent_client(hive, "alice")
    with pytest.raises(ProtocolError, match="unknown method 'agents.list' on an agent socket"):
        await alice.call("agents.list")
    await manager.close()
    await alice.close()


async def test_the_host_socket_is_private_to_the_daemon_user(hive: Hive) -> None:
    assert hive.settings.host_socket.stat().st_mode & 0o777 == 0o600


async def test_the_operator_sends_as_operator_and_reads_its_inbox(
    hive: Hive, host: HiveClient
) -> None:
    alice = await agent_client(hive, "alice")
    await host.call("messages.send", to="alice", body="hi alice")
    got = await alice.call("messages.recv", wait_seconds=1)
    assert got["messages"][0]["sender"] == "operator"
    await alice.call("messages.send", to="operator", body="hi operator")
    inbox = await host.call("messages.inbox")
    assert [m["body"] for m in inbox["messages"]] == ["hi operator"]
    await alice.close()


async def test_subscribers_get_events_pushed_for_new_messages(hive: Hive, host: HiveClient) -> None:
    await host.subscribe(["message.*"])
    await host.call("messages.send", to="manager", body="ping")
    event = await host.next_event(timeout=5)
    assert event["event"] == "message.sent"
    assert event["data"]["body"] == "ping"


async def test_a_viewer_can_look_but_not_decide(hive: Hive, host: HiveClient) -> None:
    await host.call("session.hello", who="ssh:carol", role="viewer")
    assert (await host.call("agents.list"))["agents"]
    with pytest.raises(Refused, match="viewer"):
        await host.call("messages.send", to="manager", body="x")
    with pytest.raises(Refused, match="cannot become an operator"):
        await host.call("session.hello", role="operator")


async def test_a_long_poll_does_not_block_other_calls_on_the_same_connection(
    hive: Hive,
) -> None:
    alice = await agent_client(hive, "alice")
    waiting = asyncio.create_task(alice.call("messages.recv", wait_seconds=30))
    async with asyncio.timeout(5):
        assert (await alice.call("agent.whoami"))["name"] == "alice"
    await hive.broker.send("operator", "alice", "now")
    async with asyncio.timeout(5):
        got = await waiting
    assert got["messages"][0]["body"] == "now"
    await alice.close()


async def test_client_errors_are_raised_as_the_error_tree(hive: Hive, host: HiveClient) -> None:
    with pytest.raises(NotFound):
        await host.call("messages.send", to="ghost", body="x")
    with pytest.raises(InvalidInput):
        await host.call("messages.send", to="manager", body=3)


async def test_closing_the_server_waits_for_the_cleanup_of_a_connection_already_closing(
    tmp_path: Path,
) -> None:
    registry = Registry()
    began, ended = asyncio.Event(), asyncio.Event()

    async def slow_cleanup(conn: int) -> None:  # e.g. hanging up the terminals it opened
        began.set()
        await asyncio.sleep(0.2)
        ended.set()

    registry.on_disconnect.append(slow_cleanup)
    server = SocketServer(registry, EventBus(), line_limit=1024)
    path = tmp_path / "a.sock"
    await server.listen(path, Caller(Scope.AGENT, "alice"))
    client = await HiveClient.connect(path)
    await client.close()
    async with asyncio.timeout(5):
        await began.wait()
    await server.close()
    assert ended.is_set()
