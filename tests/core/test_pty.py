"""Tests for the PTY service: real programs on real pseudo-terminals."""

from __future__ import annotations

import asyncio
import os

from hyperhive.core.pty import PtySession, read_chunk, read_until_eof


async def test_echo_output_arrives_on_the_master_fd() -> None:
    session = await PtySession.start(["echo", "hi"])
    async with asyncio.timeout(10):
        out = await read_until_eof(session.fd)
        assert await session.wait() == 0
    await session.close()
    assert b"hi" in out


async def test_resize_is_seen_by_stty_size() -> None:
    session = await PtySession.start(["sh", "-c", "read x; stty size"], rows=24, cols=80)
    session.resize(30, 100)
    os.write(session.fd, b"\n")
    async with asyncio.timeout(10):
        out = await read_until_eof(session.fd)
    await session.close()
    assert b"30 100" in out


async def test_the_pty_is_the_controlling_terminal_of_a_new_session() -> None:
    script = "exec 3</dev/tty && echo ctty=ok; echo sid=$(ps -o sid= -p $$) pid=$$"
    session = await PtySession.start(["sh", "-c", script])
    async with asyncio.timeout(10):
        out = (await read_until_eof(session.fd)).decode()
    await session.close()
    assert "ctty=ok" in out
    sid = out.split("sid=")[1].split()[0]
    pid = out.split("pid=")[1].split()[0]
    assert sid == pid == str(session.pid)


async def test_close_kills_the_whole_process_group() -> None:
    # the background child ignores SIGHUP and SIGTERM: only the SIGKILL after the grace ends it
    script = "trap '' HUP TERM; sleep 300 & echo child=$!; wait"
    session = await PtySession.start(["sh", "-c", script])
    buf = b""
    async with asyncio.timeout(10):
        while b"\n" not in buf.partition(b"child=")[2]:
            buf += await read_chunk(session.fd)
    child = os.pidfd_open(int(buf.partition(b"child=")[2].split()[0]))
    try:
        async with asyncio.timeout(10):
            await session.close(timeout=0.2)
            assert session.fd == -1
            await wait_exit(child)  # SIGKILL was sent to the group: the child exits
    finally:
        os.close(child)


async def wait_exit(pidfd: int) -> None:
    loop = asyncio.get_running_loop()
    exited: asyncio.Future[None] = loop.create_future()
    loop.add_reader(pidfd, exited.set_result, None)
    try:
        await exited
    finally:
        loop.remove_reader(pidfd)
