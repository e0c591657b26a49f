"""An idle harness imports neither ``mcp`` nor the Agent SDK: every agent would pay ~1 s of
start and ~25 MB of memory for tools it has not used yet. The first turn builds them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

PROBE = r"""
import asyncio, json, sys
from hyperhive.agent.config import load_agent_env
from hyperhive.agent.driver_setup import make_driver

env = json.loads(sys.argv[1])
tools = []
driver, _ = make_driver(load_agent_env(env), tools_out=tools)
heavy = lambda: sorted({m.split(".")[0] for m in sys.modules} & {"mcp", "claude_agent_sdk"})
before = heavy()
if env["HYPERHIVE_DRIVER"] == "claude":
    asyncio.run(driver.check())  # what the harness does at boot: finds and runs the CLI
at_boot = heavy()
server = driver.mcp if env["HYPERHIVE_DRIVER"] == "scripted" else driver.config.hyperhive_server
served = server.get()  # what the first turn does
print(json.dumps({"before": before, "at_boot": at_boot, "after": heavy(),
                  "same": server.get() is served, "tools": len(tools),
                  "kind": type(served).__name__}))
"""


def probe(tmp_path: Path, driver: str) -> dict[str, object]:
    script = tmp_path / "script.json"
    script.write_text(json.dumps({"turns": []}))
    env = {
        "HYPERHIVE_AGENT": "alpha",
        "HYPERHIVE_DRIVER": driver,
        "HYPERHIVE_SOCKET": str(tmp_path / "hive.sock"),
        "HYPERHIVE_STATE": str(tmp_path),
        "HYPERHIVE_ETC": str(tmp_path),
        "HYPERHIVE_SCRIPT": str(script),
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
    }
    out = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(env)], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


@pytest.mark.parametrize("driver", ["scripted", "claude"])
def test_an_idle_harness_builds_its_tool_server_only_when_a_turn_needs_it(
    tmp_path: Path, driver: str
) -> None:
    seen = probe(tmp_path, driver)
    assert seen["before"] == [] and seen["at_boot"] == []
    assert "mcp" in seen["after"]  # type: ignore[operator]
    assert seen["kind"] == "HiveMcpServer" and seen["same"] is True  # built once
    assert seen["tools"] == 1  # the harness holds the tools (for acks) from the start
