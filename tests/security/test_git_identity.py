"""Issue 14: every runtime gives every agent a git identity, so the manager can commit."""

from __future__ import annotations

import socket
from dataclasses import replace

import pytest

from hyperhive.core.hive import Hive
from hyperhive.core.models import AgentState
from hyperhive.core.names import MANAGER
from hyperhive.core.settings import Settings
from tests.security.conftest import inside, spawned
from tests.support.waiting import wait_for

EXPECTED = f"manager <manager@{socket.gethostname()}.hyperhive>"


def commit_and_log(repo: str) -> list[str]:
    return [
        "sh",
        "-c",
        f"git -C {repo} commit --allow-empty -qm 'from the manager' && "
        f"git -C {repo} log -1 --format='%an <%ae>|%cn <%ce>'",
    ]


@pytest.mark.root
async def test_the_nspawn_manager_commits_with_its_identity(nspawn_swarm: Hive) -> None:
    hive = nspawn_swarm
    await spawned(hive, "alice")
    done = await inside(hive, MANAGER, " ".join(commit_and_log("/agents/alice/config")[2:]))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"{EXPECTED}|{EXPECTED}"


async def test_the_process_manager_commits_with_its_identity(settings: Settings) -> None:
    async with Hive.open(replace(settings, driver="scripted"), run_agents=True) as hive:
        try:
            await wait_for(lambda: hive.agents.get(MANAGER).state is AgentState.RUNNING, timeout=60)
            await spawned(hive, "alice")
            repo = str(hive.settings.proposed_dir("alice"))
            done = await hive.runtime.exec(MANAGER, commit_and_log(repo), timeout=60)
            assert done.returncode == 0, done.stderr
            assert done.stdout.strip() == f"{EXPECTED}|{EXPECTED}"
        finally:
            await hive.approvals.wait_builds()
            for status in await hive.runtime.list():
                await hive.runtime.stop(status.name, timeout=5)


def test_agent_toml_names_the_identity_and_bad_ones_are_refused() -> None:
    from hyperhive.core.agent_config import AgentConfig, git_env, parse_agent_toml
    from hyperhive.core.errors import InvalidInput

    config = parse_agent_toml('git_name = "Alice Bot"\ngit_email = "alice@example.org"\n')
    env = git_env(config, "alice")
    assert env["GIT_AUTHOR_NAME"] == env["GIT_COMMITTER_NAME"] == "Alice Bot"
    assert env["GIT_AUTHOR_EMAIL"] == env["GIT_COMMITTER_EMAIL"] == "alice@example.org"
    assert git_env(AgentConfig(), "bob")["GIT_AUTHOR_EMAIL"].startswith("bob@")
    for bad in ('git_name = "a <b>"', 'git_email = "no-at-sign"', 'git_email = "a@b c"'):
        with pytest.raises(InvalidInput):
            parse_agent_toml(bad)
