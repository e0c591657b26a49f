"""needs_update after an upgrade: builds record their hyperhive version and runtime inputs.

A daemon that believes it is another version (``hyperhive.__version__`` patched, as an
upgrade would change it) restarts over a running agent: the agent is flagged stale, an
event is published, the manager is told once (not again at the next start), and
``hyperhive update`` rebuilds it and clears the flag.
"""

from __future__ import annotations

import asyncio
import sys
from dataclasses import replace
from pathlib import Path

import pytest

import hyperhive
from hyperhive.core.builds import stale_reason
from hyperhive.core.client import HiveClient
from hyperhive.core.hive import Hive
from hyperhive.core.runner import ProcessRunner
from hyperhive.core.runtimes import build_inputs
from hyperhive.core.runtimes.nixos import NixosRuntime
from hyperhive.core.runtimes.process import ProcessRuntime
from hyperhive.core.settings import Settings
from hyperhive.core.store.agents import Build
from tests.support.cli import cli_json
from tests.support.swarm import open_swarm
from tests.support.waiting import wait_for

UPGRADED = "99.0.0+test"
SLEEPER = (sys.executable, "-c", "import time; time.sleep(120)")
BUILT = hyperhive.__version__


def received(hive: Hive, name: str) -> list[str]:
    log = hive.settings.agent_state_dir(name) / "received.log"
    return log.read_text().splitlines() if log.exists() else []


def needs_update_lines(hive: Hive) -> list[str]:
    return [r for r in received(hive, "manager") if " system [needs_update alice]" in r]


async def _never(name: str, *, timeout: float = 10.0) -> None:
    return None


def leave_running(hive: Hive) -> None:
    """Close the hive without stopping its agents, as a daemon exiting for an upgrade does."""
    hive.runtime.stop = _never  # type: ignore[method-assign]


async def settle_manager(hive: Hive) -> None:
    """Wait until the manager's harness has taken everything sent to it so far."""
    await hive.broker.send("operator", "manager", "marker")
    await wait_for(lambda: any(r.endswith("operator marker") for r in received(hive, "manager")))


async def test_an_upgrade_flags_a_running_agent_tells_the_manager_once_and_update_clears_it(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = replace(settings, crash_poll_seconds=0.2)
    async with open_swarm(settings, run_agents=True) as hive:
        # alice runs something that outlives its daemon (the mini harness exits when its
        # socket closes), so the next daemon adopts her running, as after an upgrade
        hive.lifecycle.command = SLEEPER
        client = await HiveClient.connect(settings.host_socket)
        await client.call("lifecycle.spawn", name="alice")
        await client.close()
        assert hive.agents.describe(hive.agents.get("alice"))["built_version"] == BUILT
        leave_running(hive)

    monkeypatch.setattr(hyperhive, "__version__", UPGRADED)
    async with open_swarm(settings, run_agents=True) as hive:
        alice = hive.agents.get("alice")
        assert alice.stale and alice.state.value == "running"  # adopted, not rebuilt
        audit = await hive.audit.list(20, action="lifecycle.needs_update", actor="system")
        assert "alice" in [e.target for e in audit]
        await settle_manager(hive)
        [line] = needs_update_lines(hive)
        assert line.endswith(
            f"[needs_update alice] was built by hyperhive {BUILT} (process); this is "
            f"{UPGRADED} (process); `update` rebuilds it"
        )
        # the manager may be flagged as well (if it was adopted); it is never told about itself
        assert not any("[needs_update manager]" in r for r in received(hive, "manager"))
        leave_running(hive)

    async with open_swarm(settings, run_agents=True) as hive:
        assert hive.agents.get("alice").stale
        await settle_manager(hive)
        assert len(needs_update_lines(hive)) == 1  # told once, not at every start

        updated = await asyncio.to_thread(cli_json, settings, "update", "alice")
        assert (updated["stale"], updated["built_version"]) == (False, UPGRADED)
        assert updated["state"] == "running"
        assert not hive.agents.get("alice").stale


async def test_a_stale_agent_is_announced_as_an_event(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with open_swarm(settings) as hive:
        op = await HiveClient.connect(settings.host_socket)
        await op.call("lifecycle.spawn", name="alice")
        await op.call("lifecycle.kill", name="alice")  # stopped agents are flagged too
        await op.subscribe(["agent.needs_update"])
        monkeypatch.setattr(hyperhive, "__version__", UPGRADED)
        await hive.lifecycle.reconcile()
        event = await op.next_event(timeout=5)
        assert event["data"]["name"] == "alice"
        assert f"was built by hyperhive {BUILT} (process)" in event["data"]["reason"]
        started = await op.call("lifecycle.start", name="alice")  # a start rebuilds
        assert (started["stale"], started["built_version"]) == (False, UPGRADED)
        await op.close()


def test_new_runtime_inputs_make_a_build_stale_like_a_new_version(tmp_path: Path) -> None:
    settings = Settings(state_dir=tmp_path, run_dir=tmp_path, runtime="nixos")
    old = NixosRuntime(settings, ProcessRunner(), flake="path:/nix/store/aaa-source")
    new = NixosRuntime(settings, ProcessRunner(), flake="path:/nix/store/bbb-source")
    assert build_inputs(old) == "nixos path:/nix/store/aaa-source"
    assert build_inputs(ProcessRuntime(settings, ProcessRunner())) == "process"
    built = Build(version="0.1.0", inputs=build_inputs(old))
    assert stale_reason("abc", "abc", built, ("0.1.0", build_inputs(old))) is None
    key, why = stale_reason("abc", "abc", built, ("0.1.0", build_inputs(new))) or ("", "")
    assert key == "build 0.1.0 nixos path:/nix/store/bbb-source"
    assert why.startswith("was built by hyperhive 0.1.0 (nixos path:/nix/store/aaa-source)")


def test_an_agent_built_before_versions_were_recorded_is_stale_and_a_draft_never_is() -> None:
    stamp = ("0.2.0", "process")
    reason = stale_reason("abc", "abc", Build(), stamp)
    assert reason is not None and "built by an older hyperhive" in reason[1]
    assert stale_reason(None, None, Build(), stamp) is None
    config = stale_reason("abc", "def", Build("0.2.0", "process"), stamp)
    assert config is not None and config[0] == "config def"
