"""The CLI verbs against a real daemon, in text and --json form."""

from __future__ import annotations

from tests.support.cli import cli, cli_json
from tests.support.daemon import DaemonProcess


async def test_agents_lists_the_manager_and_the_agents(daemon: DaemonProcess) -> None:
    names = [a["name"] for a in cli_json(daemon.settings, "agents")]
    assert names == ["manager", "alice"]
    text = cli(daemon.settings, "agents").stdout
    assert text.splitlines()[0].split()[:3] == ["NAME", "ROLE", "STATE"]


async def test_send_then_messages_shows_the_operators_message(daemon: DaemonProcess) -> None:
    sent = cli_json(daemon.settings, "send", "alice", "hello from the operator")
    assert sent["recipients"] == ["alice"]
    history = cli_json(daemon.settings, "messages", "--agent", "alice")
    assert [(m["sender"], m["body"]) for m in history] == [("operator", "hello from the operator")]


async def test_send_to_an_unknown_agent_fails_with_one_clear_line(daemon: DaemonProcess) -> None:
    out = cli(daemon.settings, "send", "ghost", "hi")
    assert out.returncode == 1
    assert out.stderr.strip() == (
        "hyperhive send: unknown recipient 'ghost'; known: *, alice, manager, operator"
    )


async def test_inbox_is_empty_until_an_agent_writes_to_the_operator(
    daemon: DaemonProcess,
) -> None:
    assert cli_json(daemon.settings, "inbox") == []
