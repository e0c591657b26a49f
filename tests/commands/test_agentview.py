"""Verbs that look into one agent and steer its turns, against a real swarm."""

from __future__ import annotations

import pytest

from hyperhive.core.client import HiveClient
from tests.support.cli import cli, cli_json
from tests.support.daemon import DaemonProcess


@pytest.fixture
async def scripted_swarm(scripted_swarm: DaemonProcess) -> DaemonProcess:
    """The shared scripted swarm with alice spawned from the CLI."""
    cli_json(scripted_swarm.settings, "spawn", "alice")
    return scripted_swarm


async def test_notes_files_and_diff_show_what_an_agent_keeps_and_runs(
    scripted_swarm: DaemonProcess,
) -> None:
    s = scripted_swarm.settings
    (s.agent_state_dir("alice") / "notes.md").write_text("# alice's notes\n")
    assert cli(s, "notes", "alice").stdout == "# alice's notes\n"
    assert {"agent.toml", "prompt.md"} <= set(cli_json(s, "files", "alice"))
    assert "+++ b/agent.toml" in cli(s, "diff", "alice", "main").stdout


async def test_turn_steering_and_reading_the_inbox(scripted_swarm: DaemonProcess) -> None:
    s = scripted_swarm.settings
    idle = cli(s, "cancel-turn", "alice")
    assert idle.returncode == 1 and "alice" in idle.stderr
    assert cli(s, "new-session", "alice").returncode == 0
    assert cli_json(s, "compact", "alice") == {"agent": "alice", "queued": "compact"}
    assert isinstance(cli_json(s, "turns", "alice"), list)

    client = await HiveClient.connect(s.agent_socket("alice"))
    await client.call("messages.send", to="operator", body="done")
    await client.close()
    [unread] = cli_json(s, "inbox", "--mark-read")
    assert unread["acked_at"] is None
    [read] = cli_json(s, "inbox")
    assert read["acked_at"] is not None
