"""The on-disk layout: older installs move their proposed repos out of the daemon's dir."""

from __future__ import annotations

import stat
from pathlib import Path

from hyperhive.core.daemon import migrate_layout
from hyperhive.core.hive import Hive
from hyperhive.core.settings import Settings
from tests.support.swarm import commit_file, git


async def test_an_old_layout_moves_its_proposed_repos_where_the_manager_looks(
    settings: Settings, canary: Path
) -> None:
    async with Hive.open(settings) as hive:
        await hive.repos.create("alice", {"agent.toml": b""})
    new = settings.proposed_dir("alice")
    old = settings.agent_dir("alice") / "config"
    old.parent.mkdir(parents=True)
    new.rename(old)  # as the older layout kept it
    sha = commit_file(old, "prompt.md", "hi")
    (settings.agents_root / "bob").mkdir()
    (settings.agents_root / "bob" / "config").symlink_to(canary.parent)  # never followed
    settings.agents_root.chmod(0o755)

    assert migrate_layout(settings) == ["alice"]
    assert git(new, "rev-parse", "HEAD") == sha
    assert not old.exists()
    assert stat.S_IMODE(settings.agents_root.stat().st_mode) == 0o700
    assert not (settings.proposed_root / "bob").exists()
    assert sorted(p.name for p in canary.parent.iterdir()) == ["canary"]
    assert migrate_layout(settings) == []  # idempotent
