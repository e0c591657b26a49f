"""The audit log notices a cut tail, records every caller, and names each session.

Real daemon, real sqlite file edited behind its back, real terminals (process runtime).
"""

from __future__ import annotations

import asyncio
import getpass
import os
import sqlite3
import stat
import sys

import pytest

from hyperhive.commands import connect_session
from hyperhive.core.client import HiveClient
from hyperhive.core.errors import Refused
from hyperhive.core.hive import Hive
from hyperhive.core.pty import PtySession, read_chunk
from hyperhive.core.settings import Settings, cli_argv
from tests.support.cli import cli, cli_json
from tests.support.daemon import DaemonProcess


async def cancel_questions(settings: Settings, count: int) -> None:
    """``count`` audited decisions: an agent asks, the operator cancels."""
    alice = await HiveClient.connect(settings.agent_socket("alice"))
    host = await HiveClient.connect(settings.host_socket)
    for n in range(count):
        qid = (await alice.call("questions.ask", question=f"q{n}?"))["id"]
        await host.call("questions.cancel", id=qid)
    await alice.close()
    await host.close()


async def test_rows_deleted_from_the_tail_while_stopped_are_reported_on_start_and_by_verify(
    settings: Settings,
) -> None:
    async with Hive.open(settings, serve=False) as hive:
        await hive.create_agent("alice")
    daemon = DaemonProcess(settings)
    await daemon.start()
    await cancel_questions(settings, 3)
    assert cli(settings, "audit", "--verify").returncode == 0
    daemon.stop()

    head = settings.db_path.with_name("hive.sqlite.audit-head")
    assert stat.S_IMODE(head.stat().st_mode) == 0o600
    with sqlite3.connect(settings.db_path) as db:
        last = db.execute("SELECT max(id) FROM audit").fetchone()[0]
        db.execute("DELETE FROM audit WHERE id > ?", (last - 2,))

    await daemon.start()
    try:
        assert "audit log tampered with" in daemon.tail()
        verify = cli(settings, "audit", "--verify")
        assert verify.returncode == 1
        assert f"but row #{last} was written" in verify.stderr
        assert "deleted from the end while the daemon was stopped" in verify.stderr
        entries = cli_json(settings, "audit", "--action", "audit.tail_lost")
        assert [(e["actor"], e["result"], e["id"]) for e in entries] == [
            ("hyperhive", "tampered", last - 1)
        ]
    finally:
        daemon.stop()

    # the evidence is part of the chain: it is still reported after another restart
    await daemon.start()
    try:
        again = cli(settings, "audit", "--verify")
        assert again.returncode == 1 and f"but row #{last} was written" in again.stderr
    finally:
        daemon.stop()


async def test_an_untouched_log_starts_clean_and_verifies(settings: Settings) -> None:
    async with Hive.open(settings, serve=False) as hive:
        await hive.create_agent("alice")
    daemon = DaemonProcess(settings)
    await daemon.start()
    await cancel_questions(settings, 2)
    daemon.stop()
    await daemon.start()
    try:
        assert "tampered" not in daemon.tail()
        assert cli_json(settings, "audit", "--verify") == {"ok": True, "problems": []}
    finally:
        daemon.stop()


@pytest.fixture
async def swarm(swarm: Hive, op: HiveClient) -> Hive:
    """The shared swarm with alice spawned."""
    await op.call("lifecycle.spawn", name="alice")
    return swarm


async def test_a_caller_whose_identity_holds_a_lone_surrogate_is_still_audited(
    swarm: Hive,
) -> None:
    client = await HiveClient.connect(swarm.settings.host_socket)
    await client.call("session.hello", who="\ud800mallory\x1b[2J")
    await client.call("lifecycle.kill", name="alice")
    await client.close()
    kills = await swarm.audit.list(actor=None, action="lifecycle.kill")
    assert [(e.actor, e.target, e.result) for e in kills] == [
        ("\\ud800mallory^[[2J", "alice", "ok")
    ]
    assert (await swarm.audit.verify()) == (True, [])


async def shell_exits(argv: list[str]) -> bytes:
    """Run ``argv`` on a PTY (a real terminal for ``hyperhive shell``), type ``exit``."""
    session = await PtySession.start(argv, env=dict(os.environ), rows=24, cols=80)
    seen = b""
    try:
        async with asyncio.timeout(30):
            os.write(session.fd, b"echo ready-$((40+2))\n")
            while b"ready-42" not in seen:
                seen += await read_chunk(session.fd)
            os.write(session.fd, b"exit\n")
            await session.wait()
    finally:
        await session.close()
    return seen


async def test_a_terminal_opened_from_the_cli_is_audited_as_the_local_user(swarm: Hive) -> None:
    argv = cli_argv(swarm.settings, "shell", "alice")
    assert argv[0] == sys.executable
    await shell_exits(argv)
    who = f"local:{getpass.getuser()}"
    async with asyncio.timeout(10):
        while not await swarm.audit.list(action="pty.close"):
            await asyncio.sleep(0.05)
    rows = [(e.action, e.actor) for e in await swarm.audit.list() if e.action.startswith("pty.")]
    assert rows == [("pty.open", who), ("pty.close", who)]


async def test_an_ssh_sessions_connections_carry_its_name_and_a_viewer_stays_a_viewer(
    swarm: Hive,
) -> None:
    path = swarm.settings.host_socket
    operator = await connect_session(path, "ssh:alice", "operator")
    opened = await operator.call("pty.open", agent="alice")
    await operator.call("pty.close", id=opened["id"])
    await operator.close()
    viewer = await connect_session(path, "ssh:bob", "viewer")
    with pytest.raises(Refused, match="viewer role can look but not decide"):
        await viewer.call("pty.open", agent="alice")
    await viewer.close()
    opens = await swarm.audit.list(action="pty.open")
    assert [e.actor for e in opens] == ["ssh:alice"]


async def test_a_malformed_identity_is_stored_escaped_wherever_the_session_acts(
    swarm: Hive,
) -> None:
    alice = await HiveClient.connect(swarm.settings.agent_socket("alice"))
    qid = (await alice.call("questions.ask", question="ok?", options=["yes"]))["id"]
    await alice.close()
    client = await HiveClient.connect(swarm.settings.host_socket)
    hello = await client.call("session.hello", who="\udcffeve\x07")
    done = await client.call("questions.answer", id=qid, options=["yes"])
    await client.close()
    assert hello["who"] == done["answerer"] == "\\udcffeve^G"
    answers = await swarm.audit.list(action="question.answer")
    assert [e.actor for e in answers] == ["\\udcffeve^G"]


async def test_the_audit_log_records_lone_surrogates_escaped_and_the_chain_holds(
    hive: Hive,
) -> None:
    entry = await hive.audit.record(
        "\ud800who", "question.answer", "question/1", {"text": "free \udcff text"}
    )
    assert entry.actor == "\\ud800who"
    assert entry.detail == {"text": "free \udcff text"}  # JSON's own escape keeps it exact
    assert (await hive.audit.verify()) == (True, [])
