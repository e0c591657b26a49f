"""The approval, repo and lifecycle verbs against a real daemon running a swarm."""

from __future__ import annotations

from hyperhive.core.client import HiveClient
from tests.support.cli import cli, cli_json
from tests.support.daemon import DaemonProcess
from tests.support.swarm import commit_file


async def test_an_operator_reviews_approves_and_denies_from_the_cli(
    scripted_swarm: DaemonProcess,
) -> None:
    s = scripted_swarm.settings
    spawned = cli_json(s, "spawn", "alice")
    assert spawned["agent"]["state"] == "running"

    sha = commit_file(s.proposed_dir("alice"), "prompt.md", "write the docs\n")
    client = await HiveClient.connect(s.agent_socket("manager"))
    first = await client.call("approvals.request_apply_commit", agent="alice", commit_ref=sha)
    # the same commit twice is refused while pending: the second asks for a later one
    later = commit_file(s.proposed_dir("alice"), "prompt.md", "write the docs twice\n")
    second = await client.call("approvals.request_apply_commit", agent="alice", commit_ref=later)
    await client.close()

    pending = cli_json(s, "approvals", "--status", "pending")
    assert [a["id"] for a in pending] == [first["id"], second["id"]]
    shown = cli(s, "show-approval", str(first["id"]))
    assert "+write the docs" in shown.stdout

    assert cli_json(s, "approve", str(first["id"]))["status"] == "deployed"
    assert cli_json(s, "deny", str(second["id"]), "--note", "duplicate")["status"] == "denied"
    kinds = {t["kind"] for t in cli_json(s, "tags", "alice")}
    assert {"proposal", "approved", "building", "deployed", "denied"} <= kinds
    assert cli_json(s, "show", "alice", f"deployed/{first['id']}", "prompt.md")["text"] == (
        "write the docs\n"
    )
    log = cli_json(s, "meta-log")
    assert log[0]["message"].startswith(f"deploy alice deployed/{first['id']} {sha[:12]}")
    assert "alice" in cli_json(s, "gc-tags", "--dry-run")

    again = cli(s, "approve", str(first["id"]))
    assert again.returncode == 1 and "is deployed, not pending" in again.stderr


async def test_destroy_kept_and_purge_from_the_cli(scripted_swarm: DaemonProcess) -> None:
    s = scripted_swarm.settings
    cli_json(s, "spawn", "bob")
    cli_json(s, "destroy", "bob")
    assert [k["name"] for k in cli_json(s, "kept")] == ["bob"]
    cli_json(s, "purge", "bob")
    assert cli_json(s, "kept") == []
    refused = cli(s, "destroy", "manager")
    assert refused.returncode == 1
    assert refused.stderr.strip() == "hyperhive destroy: the manager cannot be destroyed"


async def test_exec_runs_in_the_agents_environment(scripted_swarm: DaemonProcess) -> None:
    s = scripted_swarm.settings
    cli_json(s, "spawn", "carol")
    done = cli(s, "exec", "carol", "--", "sh", "-c", "echo $HYPERHIVE_AGENT")
    assert done.stdout.strip() == "carol"
