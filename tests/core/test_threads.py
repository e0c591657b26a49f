"""Loose ends, the harness log tail, whoami and the model override, through the protocol."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from hyperhive import __version__
from hyperhive.core.client import HiveClient
from hyperhive.core.errors import InvalidInput, NotFound, ProtocolError, Refused
from hyperhive.core.hive import Hive
from hyperhive.core.settings import Settings
from tests.conftest import agent_client


async def test_an_agent_sees_its_own_loose_ends_and_the_manager_the_swarms(hive: Hive) -> None:
    alice = await agent_client(hive, "alice")
    bob = await agent_client(hive, "bob")
    carol = await agent_client(hive, "carol")
    manager = await HiveClient.connect(hive.settings.agent_socket("manager"))
    to_bob = (await alice.call("questions.ask", question="Port?", to="bob"))["id"]
    to_op = (await alice.call("questions.ask", question="Deploy?"))["id"]
    carols = (await carol.call("questions.ask", question="Lunch?"))["id"]
    rem = (await alice.call("reminders.create", message="x", delay_seconds=600))["id"]
    await carol.call("reminders.create", message="y", delay_seconds=600)
    spawn = (await manager.call("approvals.request_spawn", name="dave"))["id"]

    mine = await alice.call("threads.get")
    assert mine["agent"] == "alice"
    assert [(q["id"], q["role"]) for q in mine["questions"]] == [
        (to_bob, "asked"),
        (to_op, "asked"),
    ]
    assert [r["id"] for r in mine["reminders"]] == [rem]
    assert mine["approvals"] == []
    bobs = await bob.call("threads.get")
    assert [(q["id"], q["role"]) for q in bobs["questions"]] == [(to_bob, "to_answer")]
    with pytest.raises(Refused, match="only its own"):
        await bob.call("threads.get", agent="alice")

    swarm = await manager.call("threads.get")
    assert swarm["agent"] is None
    assert [q["id"] for q in swarm["questions"]] == [to_bob, to_op, carols]
    assert len(swarm["reminders"]) == 2
    assert [a["id"] for a in swarm["approvals"]] == [spawn]
    # an answered question is no longer a loose end
    await bob.call("questions.reply", id=to_bob, answer="443")
    assert [q["id"] for q in (await alice.call("threads.get"))["questions"]] == [to_op]
    for c in (alice, bob, carol, manager):
        await c.close()


async def test_the_operator_reads_one_agents_loose_ends(hive: Hive, host: HiveClient) -> None:
    alice = await agent_client(hive, "alice")
    await alice.call("reminders.create", message="x", delay_seconds=600)
    got = await host.call("threads.get", agent="alice")
    assert got["agent"] == "alice" and len(got["reminders"]) == 1
    await alice.close()


def _log(hive: Hive, name: str) -> Path:
    path = hive.settings.agent_dir(name) / "harness.log"
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


async def test_an_agent_reads_the_tail_of_its_own_harness_log(hive: Hive) -> None:
    alice = await agent_client(hive, "alice")
    _log(hive, "alice").write_text("".join(f"line {i}\n" for i in range(500)))
    got = await alice.call("logs.tail", lines=3)
    assert got["text"] == "line 497\nline 498\nline 499\n"
    assert got["truncated"] is True and got["offset"] == got["size"]
    await alice.close()


async def test_following_a_log_reads_what_was_appended_since_the_offset(
    hive: Hive, host: HiveClient
) -> None:
    await hive.create_agent("alice")
    path = _log(hive, "alice")
    path.write_text("one\n")
    first = await host.call("logs.tail", name="alice")
    with path.open("a") as fh:
        fh.write("two\n")
    more = await host.call("logs.tail", name="alice", offset=first["offset"])
    assert (first["text"], more["text"]) == ("one\n", "two\n")
    path.write_text("")  # rotated: truncated under the reader
    with path.open("a") as fh:
        fh.write("three\n")
    again = await host.call("logs.tail", name="alice", offset=more["offset"])
    assert again["text"] == "three\n"


async def test_a_symlinked_log_is_never_followed(hive: Hive, host: HiveClient) -> None:
    await hive.create_agent("alice")
    secret = hive.settings.state_dir / "secret"
    secret.write_text("daemon secret\n")
    os.symlink(secret, _log(hive, "alice"))
    with pytest.raises(Refused, match="symbolic link"):
        await host.call("logs.tail", name="alice")


async def test_a_fifo_as_log_is_refused_without_blocking(hive: Hive, host: HiveClient) -> None:
    await hive.create_agent("alice")
    os.mkfifo(_log(hive, "alice"))
    with pytest.raises(Refused, match="not a regular file"):
        await host.call("logs.tail", name="alice")


async def test_only_the_manager_reads_another_agents_log(hive: Hive) -> None:
    alice = await agent_client(hive, "alice")
    await hive.create_agent("bob")
    _log(hive, "bob").write_text("bob's\n")
    manager = await HiveClient.connect(hive.settings.agent_socket("manager"))
    with pytest.raises(Refused, match="only the manager"):
        await alice.call("logs.tail", name="bob")
    assert (await manager.call("logs.tail", name="bob"))["text"] == "bob's\n"
    with pytest.raises(NotFound):
        await manager.call("logs.tail", name="zed")
    with pytest.raises(InvalidInput, match="'lines'"):
        await manager.call("logs.tail", name="bob", lines=0)
    await alice.close()
    await manager.close()


async def test_an_absent_log_reads_empty(hive: Hive, host: HiveClient) -> None:
    await hive.create_agent("alice")
    got = await host.call("logs.tail", name="alice")
    assert (got["text"], got["size"]) == ("", 0)


async def test_whoami_names_the_version_and_the_operator(tmp_path: Path, run_dir: Path) -> None:
    settings = Settings(
        state_dir=tmp_path / "s",
        run_dir=run_dir,
        operator_name="Sam",
        operator_pronouns="they/them",
    )
    async with Hive.open(settings) as hive:
        alice = await agent_client(hive, "alice")
        me = await alice.call("agent.whoami")
        assert (me["name"], me["version"]) == ("alice", __version__)
        assert (me["operator_name"], me["operator_pronouns"]) == ("Sam", "they/them")
        await alice.close()


async def test_the_operator_overrides_a_model_until_cleared(hive: Hive, host: HiveClient) -> None:
    alice = await agent_client(hive, "alice")
    await host.subscribe(["agent.model_changed", "agent.changed"])
    assert (await alice.call("harness.started"))["model"] is None
    await host.call("agents.set_model", name="alice", model="opus")
    event = await host.next_event(5)
    assert event["data"] == {"agent": "alice", "model": "opus", "by": "operator"}
    changed = await host.next_event(5)
    assert changed["event"] == "agent.changed"
    assert (changed["data"]["name"], changed["data"]["model_override"]) == ("alice", "opus")
    # the running harness hears it as a control command, a new life from harness.started
    [command] = (await alice.call("harness.control", wait_seconds=1))["commands"]
    assert (command["command"], command["model"]) == ("model", "opus")
    assert (await alice.call("harness.started"))["model"] == "opus"
    [listed] = [a for a in (await host.call("agents.list"))["agents"] if a["name"] == "alice"]
    assert listed["model_override"] == "opus"
    cleared = await host.call("agents.set_model", name="alice")
    assert cleared["cleared"] is True
    [command] = (await alice.call("harness.control", wait_seconds=1))["commands"]
    assert (command["command"], command["model"]) == ("model", None)
    assert (await alice.call("agent.whoami"))["model_override"] is None
    await alice.close()


async def test_a_model_override_survives_a_daemon_restart(settings: Settings) -> None:
    async with Hive.open(settings) as hive:
        await hive.create_agent("alice")
        await hive.overrides.set_model("alice", "haiku", by="operator")
    async with Hive.open(settings) as hive:
        assert hive.overrides.model_of("alice") == "haiku"


async def test_a_bad_model_name_or_agent_is_refused(hive: Hive, host: HiveClient) -> None:
    await hive.create_agent("alice")
    with pytest.raises(InvalidInput, match="not a model name"):
        await host.call("agents.set_model", name="alice", model="bad model; rm")
    with pytest.raises(NotFound):
        await host.call("agents.set_model", name="zed", model="opus")
    alice = await agent_client(hive, "alice")
    with pytest.raises(ProtocolError, match="unknown method"):
        await alice.call("agents.set_model", name="alice", model="opus")
    await alice.close()
