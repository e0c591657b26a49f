"""A client that never reads its replies is paused, not buffered, and starves nobody."""

from __future__ import annotations

import asyncio
import json
import socket

from hyperhive.core.hive import Hive
from tests.conftest import agent_client

# a request without a method is answered at once, inline (no task, no in-flight cap): the
# cheapest reply to provoke; a long line keeps the sockets' own buffers from hiding much
LINE = b'{"id": 1, "params": {"pad": "' + b"x" * 4000 + b'"}}\n'
CHUNK = LINE * 16
FLOOD_BYTES = 16 * 1024 * 1024


async def test_a_client_that_never_reads_its_replies_stops_being_read_and_others_are_served(
    hive: Hive,
) -> None:
    await hive.create_agent("alice")
    await hive.create_agent("bob")
    path = hive.settings.agent_socket("alice")
    loop = asyncio.get_running_loop()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.setblocking(False)
    await loop.sock_connect(sock, str(path))
    written = 0

    async def flood() -> None:  # writes, never reads
        nonlocal written
        while written < FLOOD_BYTES:
            await loop.sock_sendall(sock, CHUNK)
            written += len(CHUNK)

    task = asyncio.create_task(flood())
    try:
        await asyncio.sleep(1.0)
        assert not task.done(), "the daemon read everything although no reply was read"
        assert written < FLOOD_BYTES // 2
        assert hive.server is not None
        [conn] = [c for c in hive.server._connections if c.path == path]
        assert conn.transport is not None
        assert conn.transport.get_write_buffer_size() < 256 * 1024

        bob = await agent_client(hive, "bob")
        async with asyncio.timeout(1.0):
            assert (await bob.call("agent.whoami"))["name"] == "bob"
        await bob.close()

        # reading the replies lets the rest through: every line gets its one answer
        lines = -(-FLOOD_BYTES // len(CHUNK)) * 16
        buf = b""
        answered = 0
        async with asyncio.timeout(60):
            while answered < lines:
                data = await loop.sock_recv(sock, 1 << 16)
                assert data, "the daemon closed the connection"
                buf += data
                *replies, buf = buf.split(b"\n")
                for raw in replies:
                    reply = json.loads(raw)
                    assert reply["id"] == 1 and reply["error"]["code"] == "protocol_error"
                answered += len(replies)
            await task
        assert answered == lines and buf == b""
    finally:
        task.cancel()
        sock.close()
