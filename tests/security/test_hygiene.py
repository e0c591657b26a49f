"""Issue 11, class 7: the host keeps its files private and its paths to itself."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from hyperhive.core.client import HiveClient
from hyperhive.core.errors import HyperhiveError
from hyperhive.core.hive import Hive
from hyperhive.core.names import MANAGER
from hyperhive.core.settings import Settings


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def test_the_state_dir_is_0700_and_the_database_0600(settings: Settings) -> None:
    settings.state_dir.mkdir(parents=True)
    settings.state_dir.chmod(0o755)  # as an older install left it
    async with Hive.open(settings) as hive:
        await hive.create_agent("alice")  # a write: the WAL and its index exist now
        db = settings.db_path
        assert mode(settings.state_dir) == 0o700
        assert mode(settings.run_dir) == 0o700
        for path in (db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")):
            assert mode(path) == 0o600, path.name


async def test_an_older_database_is_made_private(settings: Settings) -> None:
    async with Hive.open(settings):
        pass
    settings.db_path.chmod(0o644)
    async with Hive.open(settings):
        assert mode(settings.db_path) == 0o600


async def test_an_error_reply_to_an_agent_names_no_host_path(hive: Hive) -> None:
    manager = await HiveClient.connect(hive.settings.agent_socket(MANAGER))
    try:
        for method, params in (
            ("repos.files", {"agent": "ghost"}),
            ("approvals.request_apply_commit", {"agent": "ghost", "commit_ref": "abcdef1"}),
            ("repos.show", {"agent": "manager", "ref": "main", "path": "x"}),
        ):
            with pytest.raises(HyperhiveError) as failed:
                await manager.call(method, **params)
            text = str(failed.value)
            assert str(hive.settings.state_dir) not in text, text
            assert str(hive.settings.run_dir) not in text, text
            assert str(hive.settings.state_dir.resolve()) not in text, text
    finally:
        await manager.close()


async def test_the_operator_still_sees_host_paths_in_errors(hive: Hive) -> None:
    op = await HiveClient.connect(hive.settings.host_socket)
    try:
        with pytest.raises(HyperhiveError) as failed:
            await op.call("repos.files", agent="ghost")
        assert str(hive.settings.state_dir) in str(failed.value)
    finally:
        await op.close()


def test_redaction_maps_the_managers_views_to_its_container_paths(settings: Settings) -> None:
    text = f"no git repo at {settings.proposed_dir('bob')} nor {settings.applied_dir('bob')}"
    assert settings.redact_paths(text) == "no git repo at /agents/bob/config nor /applied/bob"
    assert settings.redact_paths(f"{settings.db_path}") == "<state>/hive.sqlite"
