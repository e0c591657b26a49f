"""A full disk and a read-only database: writes fail with a clear error, reads go on.

The real cases need root to mount: a 2 MiB tmpfs for the state dir (a disk that really
fills up) and a read-only bind mount over ``hive.sqlite``. The sqlite ``max_page_count``
case needs nothing and runs everywhere.
"""

from __future__ import annotations

import errno
import os
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from hyperhive.core.client import HiveClient
from hyperhive.core.errors import StoreError
from hyperhive.core.hive import Hive
from hyperhive.core.settings import Settings
from tests.conftest import agent_client
from tests.support.daemon import DaemonProcess

BODY = "x" * 4000


def mount(*argv: str) -> None:
    """Run ``mount``; skip the test with the reason when this machine does not allow it."""
    done = subprocess.run(["mount", *argv], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount here (needs root in a mount-capable namespace): {done.stderr}")


def umount(target: Path) -> None:
    done = subprocess.run(["umount", str(target)], capture_output=True, text=True)
    if done.returncode != 0:  # still busy: detach now, the kernel frees it when unused
        subprocess.run(["umount", "-l", str(target)], check=True)


async def fill_until_refused(op: HiveClient, to: str, limit: int = 2000) -> StoreError:
    """Send as the operator until the store refuses; the error it refused with."""
    for i in range(limit):
        try:
            await op.call("messages.send", to=to, body=f"{i} {BODY}")
        except StoreError as exc:
            return exc
    raise AssertionError(f"{limit} sends of 4 KB and the store never filled up")


async def assert_reads_still_work(op: HiveClient) -> None:
    assert "manager" in [a["name"] for a in (await op.call("agents.list"))["agents"]]
    history = (await op.call("messages.history", limit=1000))["messages"]
    assert history[0]["body"] == "before the disk filled"
    assert (await op.call("daemon.status"))["pid"] > 0


def fill_disk(path: Path) -> None:
    """Write ``path`` until the file system has no byte left."""
    with open(path, "wb", buffering=0) as f:
        for size in (1 << 16, 1 << 12, 1 << 9, 1):
            while True:
                try:
                    f.write(b"\0" * size)
                except OSError as exc:
                    if exc.errno != errno.ENOSPC:
                        raise
                    break


# --- simulated: max_page_count on the writer connection ---------------------------------


async def test_a_full_database_refuses_writes_clearly_and_keeps_serving_reads(
    hive: Hive, host: HiveClient
) -> None:
    alice = await agent_client(hive, "alice")
    await host.call("messages.send", to="alice", body="before the disk filled")
    writer = hive.store._writer
    pages = writer.execute("PRAGMA page_count").fetchone()[0]
    writer.execute(f"PRAGMA max_page_count = {pages}")

    err = await fill_until_refused(host, "alice")
    assert err.code == "store_error" and "disk is full" in err.message
    assert (await alice.call("agent.whoami"))["name"] == "alice"
    got = await alice.call("messages.recv", wait_seconds=0, max=1)
    assert got["messages"][0]["body"] == "before the disk filled"
    seen = [got["messages"][0]["id"]]
    await assert_reads_still_work(host)

    writer.execute("PRAGMA max_page_count = 1073741823")  # space again: writes resume
    await host.call("messages.send", to="alice", body="after")
    assert (await alice.call("messages.ack", ids=seen))["acked"] == 1
    await alice.close()


# --- real: a tmpfs that fills up, a read-only bind mount --------------------------------


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    target = tmp_path / "disk"
    target.mkdir()
    mount("-t", "tmpfs", "-o", "size=2m", "tmpfs", str(target))
    yield target
    umount(target)


@pytest.fixture
async def daemon_on_small_disk(
    small_disk: Path, run_dir: Path, tmp_path: Path
) -> AsyncIterator[DaemonProcess]:
    d = DaemonProcess(Settings(state_dir=small_disk / "state", run_dir=run_dir, runtime="process"))
    d.log = tmp_path / "daemon.log"  # not on the disk that fills up
    await d.start()
    yield d
    d.stop()


async def test_a_full_disk_refuses_writes_clearly_and_recovers_when_space_returns(
    daemon_on_small_disk: DaemonProcess, small_disk: Path
) -> None:
    settings = daemon_on_small_disk.settings
    op = await HiveClient.connect(settings.host_socket)
    await op.call("messages.send", to="manager", body="before the disk filled")
    filler = small_disk / "filler"
    fill_disk(filler)

    err = await fill_until_refused(op, "manager")
    assert err.code == "store_error" and "disk is full" in err.message
    await assert_reads_still_work(op)
    assert daemon_on_small_disk.proc is not None and daemon_on_small_disk.proc.poll() is None

    filler.unlink()
    await op.call("messages.send", to="manager", body="after")
    history = (await op.call("messages.history", agent="manager", limit=1))["messages"]
    assert history[-1]["body"] == "after"
    await op.close()


@pytest.fixture
async def read_only_db(settings: Settings) -> AsyncIterator[Path]:
    if os.geteuid() != 0:
        pytest.skip("a read-only bind mount needs root")
    async with Hive.open(settings, serve=False) as hive:
        await hive.create_agent("alice")
        await hive.broker.send("operator", "alice", "written before")
    db = settings.db_path
    mount("--bind", str(db), str(db))
    try:
        mount("-o", "remount,ro,bind", str(db), str(db))
        yield db
    finally:
        umount(db)


async def test_a_read_only_database_refuses_writes_clearly_and_keeps_serving_reads(
    read_only_db: Path, settings: Settings
) -> None:
    daemon = DaemonProcess(settings)
    await daemon.start()
    try:
        op = await HiveClient.connect(settings.host_socket)
        with pytest.raises(StoreError, match="read-only"):
            await op.call("messages.send", to="alice", body="refused")
        history = (await op.call("messages.history", agent="alice"))["messages"]
        assert [m["body"] for m in history] == ["written before"]
        assert [a["name"] for a in (await op.call("agents.list"))["agents"]] == [
            "manager",
            "alice",
        ]
        alice = await HiveClient.connect(settings.agent_socket("alice"))
        got = await alice.call("messages.recv", wait_seconds=0)
        assert got["messages"][0]["body"] == "written before"
        with pytest.raises(StoreError, match="read-only"):
            await alice.call("messages.ack", ids=[got["messages"][0]["id"]])
        await alice.close()
        await op.close()
        assert daemon.proc is not None and daemon.proc.poll() is None
    finally:
        daemon.stop()
