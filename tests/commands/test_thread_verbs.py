"""The reminders, remind-cancel, threads, logs, model and kept verbs against a real daemon."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import AsyncIterator

import pytest

from hyperhive.core.client import HiveClient
from hyperhive.core.settings import Settings, cli_argv
from tests.support.cli import cli, cli_json
from tests.support.daemon import DaemonProcess, daemon_with_agents
from tests.support.swarm import commit_file


@pytest.fixture
async def daemon(settings: Settings) -> AsyncIterator[DaemonProcess]:
    """The shared daemon, with bob created beside alice."""
    async with daemon_with_agents(settings, "alice", "bob") as process:
        yield process


async def test_the_operator_lists_and_cancels_reminders_from_the_cli(
    daemon: DaemonProcess, alice: HiveClient
) -> None:
    s = daemon.settings
    first = await alice.call("reminders.create", message="check \x1b[2Jbuild", delay_seconds=600)
    await alice.call("reminders.create", message="standup", delay_seconds=60)
    listed = cli_json(s, "reminders", "alice")
    assert [r["body"] for r in listed] == ["standup", "check \x1b[2Jbuild"]  # --json exact
    text = cli(s, "reminders").stdout
    assert "check ^[[2Jbuild" in text and "\x1b" not in text  # text is terminal-safe
    assert text.splitlines()[0].split() == ["ID", "AGENT", "STATUS", "WHEN", "MESSAGE", "FILE"]
    done = cli(s, "remind-cancel", str(first["id"]))
    assert done.stdout.strip() == f"cancelled reminder #{first['id']} of alice"
    assert [r["body"] for r in cli_json(s, "reminders")] == ["standup"]
    every = {r["id"]: r["status"] for r in cli_json(s, "reminders", "--all")}
    assert every[first["id"]] == "cancelled"
    again = cli(s, "remind-cancel", str(first["id"]))
    assert again.returncode == 1 and "is cancelled, not pending" in again.stderr


async def test_threads_shows_peer_questions_and_reminders(
    daemon: DaemonProcess, alice: HiveClient
) -> None:
    s = daemon.settings
    qid = (await alice.call("questions.ask", question="Port?", to="bob"))["id"]
    await alice.call("reminders.create", message="later", delay_seconds=600)
    got = cli_json(s, "threads", "alice")
    assert [(q["id"], q["role"]) for q in got["questions"]] == [(qid, "asked")]
    assert len(got["reminders"]) == 1
    bobs = cli_json(s, "threads", "bob")
    assert [(q["id"], q["role"]) for q in bobs["questions"]] == [(qid, "to_answer")]
    text = cli(s, "threads").stdout
    assert "open questions (1)" in text and "pending reminders (1)" in text
    listing = cli(s, "questions").stdout.splitlines()
    assert listing[1].split()[2:4] == ["alice", "bob"]  # asker and target


async def test_logs_prints_the_tail_terminal_safe_and_follows_new_lines(
    daemon: DaemonProcess,
) -> None:
    s = daemon.settings
    log = s.agent_dir("alice") / "harness.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text("".join(f"line {i}\n" for i in range(50)) + "evil \x1b]0;pwned\x07\n")
    out = cli(s, "logs", "alice", "-n", "2")
    assert out.stdout.splitlines() == ["line 49", "evil ^[]0;pwned^G"]
    assert cli_json(s, "logs", "alice", "-n", "1")["text"] == "evil \x1b]0;pwned\x07\n"
    argv = cli_argv(s, "logs", "alice", "-n", "1", "-f", "--json")
    with subprocess.Popen(argv, stdout=subprocess.PIPE, text=True) as follow:
        try:
            assert follow.stdout is not None
            first = json.loads(follow.stdout.readline())
            assert first["text"].startswith("evil")
            with log.open("a") as fh:
                fh.write("appended later\n")
            second = json.loads(follow.stdout.readline())
            assert second["text"] == "appended later\n"
        finally:
            follow.terminate()
            follow.wait(10)
    missing = cli(s, "logs", "zed")
    assert missing.returncode == 1 and "no agent named 'zed'" in missing.stderr


async def test_model_sets_shows_and_clears_an_override(daemon: DaemonProcess) -> None:
    s = daemon.settings
    assert cli_json(s, "model", "alice", "opus") == {"agent": "alice", "model": "opus"}
    assert cli(s, "model", "alice").stdout.strip() == "alice: model override opus"
    agents = cli_json(s, "agents")
    assert next(a for a in agents if a["name"] == "alice")["model_override"] == "opus"
    cleared = cli_json(s, "model", "alice", "--clear")
    assert cleared["cleared"] is True
    assert cli_json(s, "model", "alice") == {"agent": "alice", "model": None}
    bad = cli(s, "model", "alice", "opus", "--clear")
    assert bad.returncode == 1 and "not both" in bad.stderr


async def test_kept_state_lists_its_size_and_whether_creds_exist(
    scripted_swarm: DaemonProcess,
) -> None:
    s = scripted_swarm.settings
    cli_json(s, "spawn", "bob")
    cli_json(s, "spawn", "carol")
    (s.agent_state_dir("bob") / "data.bin").write_bytes(b"x" * 100_000)
    big = s.state_dir / "outside.bin"
    big.write_bytes(b"y" * 5_000_000)
    os.symlink(big, s.agent_state_dir("bob") / "link.bin")  # never followed, never counted
    (s.creds_dir("bob") / "token").write_text("secret")
    for name in ("bob", "carol"):
        cli_json(s, "destroy", name)
    kept = {k["name"]: k for k in cli_json(s, "kept")}
    assert 100_000 <= kept["bob"]["size"] < 5_000_000
    assert kept["bob"]["has_creds"] is True
    assert kept["carol"]["has_creds"] is False
    assert kept["bob"]["destroyed_at"] <= time.time()


async def test_approvals_show_why_from_the_commit_message(scripted_swarm: DaemonProcess) -> None:
    s = scripted_swarm.settings
    cli_json(s, "spawn", "alice")
    repo = s.proposed_dir("alice")
    one = commit_file(repo, "prompt.md", "one\n", message="Shorter prompt\n\nIt rambles.")
    two = commit_file(repo, "prompt.md", "two\n", message="Even shorter")
    manager = await HiveClient.connect(s.agent_socket("manager"))
    first = await manager.call("approvals.request_apply_commit", agent="alice", commit_ref=one)
    second = await manager.call("approvals.request_apply_commit", agent="alice", commit_ref=two)
    bad = commit_file(repo, "agent.toml", "bogus = 1\n")
    with pytest.raises(Exception, match="request refused"):
        await manager.call("approvals.request_apply_commit", agent="alice", commit_ref=bad)
    await manager.close()
    listing = cli(s, "approvals", "--status", "pending").stdout.splitlines()
    assert "WHY" in listing[0].split()
    assert "Shorter prompt" in listing[1] and "Even shorter" in listing[2]
    shown = cli(s, "show-approval", str(second["id"])).stdout
    assert "commit message (by " in shown and "Even shorter" in shown
    assert f"diff vs the previous pending proposal #{first['id']}" in shown
    assert "-one\n+two" in shown
    assert cli_json(s, "show-approval", str(first["id"]))["message"] == (
        "Shorter prompt\n\nIt rambles."
    )
    tags = {t["name"]: t for t in cli_json(s, "tags", "alice")}
    assert tags[f"proposal/{first['id']}"]["why"] == "Shorter prompt"
    assert "Even shorter" in cli(s, "tags", "alice").stdout
