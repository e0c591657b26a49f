"""Issue 11, class 4: trusted code never imports or runs what an agent wrote.

The harness runs ``python -I`` (no cwd or script dir on ``sys.path``,
no ``PYTHON*`` variables); the harness starts in a directory the agent cannot write.
A planted ``hyperhive`` package in the agent's writable dir would otherwise shadow the
real one: ``python -m`` puts the cwd first on ``sys.path``.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from hyperhive.agent.drivers.base import ExitClass
from hyperhive.agent.drivers.scripted import ScriptedDriver
from hyperhive.agent.harness import wake_prompt
from hyperhive.agent.sdk_tools import hive_server
from hyperhive.core.hive import Hive
from hyperhive.core.settings import Settings
from tests.security.conftest import acked, inside, spawned


def plant(directory: Path, canary: Path) -> None:
    """A ``hyperhive`` package that records its import in ``canary``."""
    pkg = directory / "hyperhive"
    (pkg / "agent").mkdir(parents=True, exist_ok=True)
    code = f"open({str(canary)!r}, 'a').write('imported\\n')\n"
    for name in ("__init__.py", "__main__.py", "agent/__init__.py", "agent/mcp_relay.py"):
        (pkg / name).write_text(code)


async def test_the_process_harness_never_imports_a_module_planted_in_its_state(
    settings: Settings, tmp_path: Path
) -> None:
    canary = tmp_path / "imported"
    async with Hive.open(replace(settings, driver="scripted")) as hive:
        try:
            await spawned(hive, "alice")
            plant(hive.settings.agent_state_dir("alice"), canary)
            await hive.lifecycle.restart("alice", by="operator")
            await acked(hive, "alice")  # the real harness runs and works
            assert not canary.exists()
        finally:
            await hive.approvals.wait_builds()
            for status in await hive.runtime.list():
                await hive.runtime.stop(status.name, timeout=5)


@pytest.mark.root
async def test_the_nspawn_harness_never_imports_a_module_planted_in_its_state(
    nspawn_swarm: Hive,
) -> None:
    hive = nspawn_swarm
    await spawned(hive, "alice")
    script = """
    set -e
    mkdir -p /state/hyperhive/agent
    for f in __init__.py __main__.py agent/__init__.py agent/mcp_relay.py; do
      echo "open('/state/imported', 'a').write('x')" > /state/hyperhive/$f
    done
    """
    assert (await inside(hive, "alice", script)).returncode == 0
    await hive.lifecycle.restart("alice", by="operator")
    await acked(hive, "alice")
    assert not (hive.settings.agent_state_dir("alice") / "imported").exists()


async def test_the_scripted_manager_commits_without_running_repo_hooks(tmp_path: Path) -> None:
    repo = tmp_path / "alice" / "config"
    repo.mkdir(parents=True)
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    hooked = tmp_path / "hooked"
    for name in ("pre-commit", "commit-msg", "post-commit"):
        hook = repo / ".git" / "hooks" / name
        hook.write_text(f"#!/bin/sh\necho {name} >> {hooked}\n")
        hook.chmod(0o755)
    script = tmp_path / "s.json"
    step = {"commit": {"agent": "alice", "files": {"a.txt": "x"}, "message": "m"}}
    script.write_text(json.dumps([{"on": "body:go", "steps": [step]}]))
    server, link = hive_server(tmp_path / "none.sock", manager=True, etc_dir=tmp_path / "etc")
    driver = ScriptedDriver(
        script,
        mcp=server,
        closing=[link],
        name="manager",
        state_dir=tmp_path / "state",
        agents_root=tmp_path,
    )

    async def ignore(event: dict[str, Any]) -> None:
        return None

    result = await driver.run_turn(
        wake_prompt({"id": 1, "sender": "op", "body": "go"}, 0), on_event=ignore
    )
    assert result.exit_class is ExitClass.OK, result.error
    assert not hooked.exists()


@pytest.mark.root
async def test_no_directory_on_an_nspawn_agents_path_is_writable_by_it(nspawn_swarm: Hive) -> None:
    hive = nspawn_swarm
    await spawned(hive, "alice")
    probe = """
    for d in $(echo "$PATH" | tr ':' ' '); do
      if touch "$d/.hh-probe" 2>/dev/null; then echo "writable $d"; rm -f "$d/.hh-probe"; fi
      [ -L "$d" ] && echo "link $d"
    done
    echo "path $PATH"
    """
    done = await inside(hive, "alice", probe)
    assert done.returncode == 0, done.stderr
    assert "writable" not in done.stdout and "link" not in done.stdout, done.stdout
