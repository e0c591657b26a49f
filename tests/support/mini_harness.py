"""A minimal stand-in harness for lifecycle tests: answers ``echo <text>`` and acks.

A first delivery of ``die`` makes it exit before acking (a harness killed mid-turn);
redelivered messages are logged with a ``(redelivered)`` suffix.
"""

from __future__ import annotations

import asyncio
import os

from hyperhive.core.client import HiveClient


async def main() -> None:
    client = await HiveClient.connect(os.environ["HYPERHIVE_SOCKET"])
    name = os.environ["HYPERHIVE_AGENT"]
    log = os.path.join(os.environ["HYPERHIVE_STATE"], "received.log")
    while True:
        got = await client.call("messages.recv", wait_seconds=30, max=8)
        for m in got["messages"]:
            with open(log, "a") as fh:
                again = " (redelivered)" if m.get("redelivered") else ""
                fh.write(f"{m['id']} {m['sender']} {m['body']}{again}\n")
            if m["body"] == "die" and not m.get("redelivered"):
                os._exit(1)
            if m["body"].startswith("echo "):
                await client.call(
                    "messages.send",
                    to=m["sender"],
                    body=f"{name}: {m['body'][5:]}",
                    in_reply_to=m["id"],
                )
        if got["messages"]:
            await client.call("messages.ack", ids=[m["id"] for m in got["messages"]])


if __name__ == "__main__":
    asyncio.run(main())
