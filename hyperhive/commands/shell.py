"""`hyperhive shell NAME`: an interactive terminal in an agent's container, through the daemon."""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import os
import shutil
import signal
import sys
import termios
import tty
from typing import Any

from hyperhive.commands import Context, Output, Verb
from hyperhive.core.client import HiveClient
from hyperhive.core.errors import InvalidInput


def _args(p: argparse.ArgumentParser) -> None:
    p.add_argument("name", metavar="NAME", help="the agent")


async def _relay(client: HiveClient, sid: str, fd_in: int, fd_out: int) -> int | None:
    loop = asyncio.get_running_loop()
    keys: asyncio.Queue[bytes] = asyncio.Queue()

    def readable() -> None:
        data = os.read(fd_in, 4096)
        keys.put_nowait(data)
        if not data:
            loop.remove_reader(fd_in)

    loop.add_reader(fd_in, readable)

    def resized() -> None:
        size = shutil.get_terminal_size()
        asyncio.ensure_future(client.call("pty.resize", id=sid, rows=size.lines, cols=size.columns))

    loop.add_signal_handler(signal.SIGWINCH, resized)

    async def typing() -> None:
        while data := await keys.get():
            await client.call("pty.input", id=sid, data_b64=base64.b64encode(data).decode())

    typer = asyncio.create_task(typing())
    code: int | None = None
    try:
        async for event in client.events():
            data: dict[str, Any] = event.get("data") or {}
            if data.get("id") != sid:
                continue
            if event["event"] == "pty.output":
                os.write(fd_out, base64.b64decode(data["data_b64"]))
            elif event["event"] == "pty.closed":
                code = data.get("code")
                break
    finally:
        typer.cancel()
        loop.remove_reader(fd_in)
        loop.remove_signal_handler(signal.SIGWINCH)
    return code


async def shell(ctx: Context) -> Output:
    if not sys.stdin.isatty():
        raise InvalidInput("shell needs a terminal; use `hyperhive exec NAME -- CMD` in scripts")
    size = shutil.get_terminal_size()
    async with ctx.client() as client:
        await client.subscribe(["pty.*"])
        opened = await client.call(
            "pty.open", agent=ctx.args.name, rows=size.lines, cols=size.columns
        )
        fd = sys.stdin.fileno()
        saved = termios.tcgetattr(fd)
        tty.setraw(fd, termios.TCSANOW)  # keep what was typed before the shell opened
        try:
            code = await _relay(client, opened["id"], fd, sys.stdout.fileno())
        finally:
            termios.tcsetattr(fd, termios.TCSADRAIN, saved)
            with contextlib.suppress(Exception):
                await client.call("pty.close", id=opened["id"])
    return {"agent": ctx.args.name, "code": code}, ""


VERBS = [Verb("shell", "open an interactive shell in an agent's container", shell, _args)]
