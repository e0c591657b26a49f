"""Approvals through the daemon's protocol: every flow ends in the right tags and state."""

from __future__ import annotations

import asyncio

import pytest

from hyperhive.core.client import HiveClient
from hyperhive.core.errors import Conflict, ContainerError, InvalidInput, NotFound, Refused
from hyperhive.core.hive import Hive
from tests.support.swarm import commit_file, git


async def spawn(op: HiveClient, manager: HiveClient, name: str) -> dict:  # type: ignore[type-arg]
    req = await manager.call("approvals.request_spawn", name=name)
    return await op.call("approvals.approve", id=req["id"], wait=True)


def tags(hive: Hive, name: str) -> list[str]:
    return git(hive.settings.applied_dir(name), "tag", "-l").split()


async def test_spawn_then_approve_deploys_a_running_agent_with_every_tag(
    swarm: Hive, op: HiveClient, manager: HiveClient
) -> None:
    done = await spawn(op, manager, "alice")
    assert done["status"] == "deployed"
    n = done["id"]
    assert tags(swarm, "alice") == [
        f"approved/{n}",
        f"building/{n}",
        f"deployed/{n}",
        f"proposal/{n}",
    ]
    agent = swarm.agents.get("alice")
    assert (agent.state.value, agent.applied_sha) == ("running", done["fetched_sha"])
    assert git(swarm.settings.applied_dir("alice"), "rev-parse", "main") == done["fetched_sha"]


async def test_apply_commit_then_approve_deploys_and_writes_the_meta_commit(
    swarm: Hive, op: HiveClient, manager: HiveClient
) -> None:
    await spawn(op, manager, "alice")
    sha = commit_file(swarm.settings.proposed_dir("alice"), "prompt.md", "be terse\n")
    req = await manager.call("approvals.request_apply_commit", agent="alice", commit_ref=sha[:12])
    shown = await op.call("approvals.get", id=req["id"])
    assert "+be terse" in shown["diffs"]["vs_running"]
    done = await op.call("approvals.approve", id=req["id"], wait=True)
    assert done["status"] == "deployed"
    [top, *_] = (await op.call("repos.meta_log", limit=5))["entries"]
    assert top["message"].splitlines()[0] == f"deploy alice deployed/{req['id']} {sha[:12]}"
    assert (swarm.lifecycle.tree_dir("alice") / "prompt.md").read_text() == "be terse\n"
    assert git(swarm.settings.meta_dir, "fsck", "--strict") == ""


async def test_deny_with_a_note_leaves_an_annotated_tag_and_tells_the_manager(
    swarm: Hive, op: HiveClient, manager: HiveClient
) -> None:
    await spawn(op, manager, "alice")
    sha = commit_file(swarm.settings.proposed_dir("alice"), "prompt.md", "x\n")
    req = await manager.call("approvals.request_apply_commit", agent="alice", commit_ref=sha)
    denied = await op.call("approvals.deny", id=req["id"], note="too vague, be specific")
    assert denied["status"] == "denied"
    body = git(swarm.settings.applied_dir("alice"), "cat-file", "-p", f"denied/{req['id']}")
    assert "too vague, be specific" in body
    inbox = await manager.call("messages.recv", wait_seconds=0, max=32)
    assert any("denied" in m["body"] and "too vague" in m["body"] for m in inbox["messages"])


async def test_a_failed_build_tags_failed_with_the_error_and_leaves_main_unchanged(
    swarm: Hive, op: HiveClient, manager: HiveClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = await spawn(op, manager, "alice")
    sha = commit_file(swarm.settings.proposed_dir("alice"), "prompt.md", "new\n")
    req = await manager.call("approvals.request_apply_commit", agent="alice", commit_ref=sha)

    async def broken(name: str, sha: str, *, spawn: bool) -> None:
        raise ContainerError("bogus: the container would not build")

    monkeypatch.setattr(swarm.lifecycle, "deploy", broken)
    done = await op.call("approvals.approve", id=req["id"], wait=True)
    assert done["status"] == "failed"
    assert "bogus" in done["error"]
    applied = swarm.settings.applied_dir("alice")
    assert git(applied, "rev-parse", "main") == first["fetched_sha"]
    assert "bogus" in git(applied, "cat-file", "-p", f"failed/{req['id']}")
    assert swarm.agents.get("alice").state.value == "running"


async def test_a_proposal_whose_agent_toml_does_not_validate_is_refused_at_submit(
    swarm: Hive, op: HiveClient, manager: HiveClient
) -> None:
    first = await spawn(op, manager, "alice")
    await op.subscribe(["approval.*"])
    sha = commit_file(swarm.settings.proposed_dir("alice"), "agent.toml", "bogus = 1\n")
    with pytest.raises(InvalidInput, match="request refused: agent.toml at .*bogus"):
        await manager.call("approvals.request_apply_commit", agent="alice", commit_ref=sha)
    # recorded as failed at once, never queued for the operator
    assert (await op.call("approvals.list", status="pending"))["approvals"] == []
    [failed] = (await op.call("approvals.list", status="failed"))["approvals"]
    assert (failed["fetched_sha"], failed["agent"]) == (sha, "alice")
    assert "bogus" in failed["error"]
    event = await op.next_event(5)
    assert (event["event"], event["data"]["status"]) == ("approval.created", "failed")
    with pytest.raises(Refused, match="not pending"):
        await op.call("approvals.approve", id=failed["id"])
    applied = swarm.settings.applied_dir("alice")
    assert git(applied, "rev-parse", "main") == first["fetched_sha"]
    # the next request is queued normally
    good = commit_file(swarm.settings.proposed_dir("alice"), "agent.toml", 'model = "opus"\n')
    req = await manager.call("approvals.request_apply_commit", agent="alice", commit_ref=good)
    assert req["status"] == "pending"


async def test_an_approval_carries_the_commit_message_and_author(
    swarm: Hive, op: HiveClient, manager: HiveClient
) -> None:
    await spawn(op, manager, "alice")
    repo = swarm.settings.proposed_dir("alice")
    sha = commit_file(repo, "prompt.md", "terse\n", message="Be terse\n\nThe operator asked.")
    req = await manager.call("approvals.request_apply_commit", agent="alice", commit_ref=sha)
    assert req["message"] == "Be terse\n\nThe operator asked."
    assert req["author"].startswith(git(repo, "log", "-1", "--format=%an <%ae>"))
    [listed] = (await op.call("approvals.list", status="pending"))["approvals"]
    assert listed["message"].startswith("Be terse")


async def test_a_proposal_diffs_against_the_previous_pending_one_of_its_agent(
    swarm: Hive, op: HiveClient, manager: HiveClient
) -> None:
    await spawn(op, manager, "alice")
    repo = swarm.settings.proposed_dir("alice")
    one = commit_file(repo, "prompt.md", "one\n")
    first = await manager.call("approvals.request_apply_commit", agent="alice", commit_ref=one)
    two = commit_file(repo, "prompt.md", "two\n")
    second = await manager.call("approvals.request_apply_commit", agent="alice", commit_ref=two)
    shown = await op.call("approvals.get", id=second["id"])
    assert shown["diffs"]["previous_pending"] == first["id"]
    assert "-one\n+two" in shown["diffs"]["vs_previous_pending"]
    lone = await op.call("approvals.get", id=first["id"])
    assert (lone["diffs"]["previous_pending"], lone["diffs"]["vs_previous_pending"]) == (None, "")


async def test_two_step_spawn_drafts_then_builds_from_the_reviewed_commit(
    swarm: Hive, op: HiveClient, manager: HiveClient
) -> None:
    draft = await manager.call("approvals.request_spawn_draft", name="bob")
    await op.call("approvals.approve", id=draft["id"], wait=True)
    assert swarm.agents.get("bob").state.value == "draft"
    sha = commit_file(swarm.settings.proposed_dir("bob"), "prompt.md", "you are bob\n")
    req = await manager.call("approvals.request_spawn_commit", name="bob", commit_ref=sha)
    done = await op.call("approvals.approve", id=req["id"], wait=True)
    assert done["status"] == "deployed"
    assert swarm.agents.get("bob").state.value == "running"
    assert (swarm.lifecycle.tree_dir("bob") / "prompt.md").read_text() == "you are bob\n"


async def test_a_spawn_commit_whose_agent_toml_does_not_validate_is_refused_at_submit(
    swarm: Hive, op: HiveClient, manager: HiveClient
) -> None:
    draft = await manager.call("approvals.request_spawn_draft", name="bob")
    await op.call("approvals.approve", id=draft["id"], wait=True)
    sha = commit_file(swarm.settings.proposed_dir("bob"), "agent.toml", 'driver = "gpt"\n')
    with pytest.raises(InvalidInput, match="request refused: agent.toml at .*driver"):
        await manager.call("approvals.request_spawn_commit", name="bob", commit_ref=sha)
    assert swarm.agents.get("bob").state.value == "draft"  # still a draft, nothing queued
    assert (await op.call("approvals.list", status="pending"))["approvals"] == []


async def test_what_gets_deployed_is_the_pinned_sha_even_if_proposed_moves_on(
    swarm: Hive, op: HiveClient, manager: HiveClient
) -> None:
    await spawn(op, manager, "alice")
    repo = swarm.settings.proposed_dir("alice")
    pinned = commit_file(repo, "prompt.md", "reviewed\n")
    req = await manager.call("approvals.request_apply_commit", agent="alice", commit_ref=pinned)
    git(repo, "commit", "-q", "--amend", "-m", "sneaky amend")
    commit_file(repo, "prompt.md", "unreviewed\n")
    done = await op.call("approvals.approve", id=req["id"], wait=True)
    assert done["fetched_sha"] == pinned
    assert git(swarm.settings.applied_dir("alice"), "rev-parse", "main") == pinned
    assert (swarm.lifecycle.tree_dir("alice") / "prompt.md").read_text() == "reviewed\n"


async def test_approve_refuses_when_the_pinned_sha_moved(
    swarm: Hive, op: HiveClient, manager: HiveClient
) -> None:
    first = await spawn(op, manager, "alice")
    sha = commit_file(swarm.settings.proposed_dir("alice"), "prompt.md", "x\n")
    req = await manager.call("approvals.request_apply_commit", agent="alice", commit_ref=sha)
    git(
        swarm.settings.applied_dir("alice"),
        "tag",
        "-f",
        f"proposal/{req['id']}",
        first["fetched_sha"],
    )
    with pytest.raises(Refused, match="pinned commit moved"):
        await op.call("approvals.approve", id=req["id"])
    assert (await op.call("approvals.get", id=req["id"]))["status"] == "pending"


async def test_concurrent_decisions_on_one_approval_have_exactly_one_winner(
    swarm: Hive, op: HiveClient, manager: HiveClient
) -> None:
    req = await manager.call("approvals.request_spawn_draft", name="carol")
    second = await HiveClient.connect(swarm.settings.host_socket)
    results = await asyncio.gather(
        op.call("approvals.approve", id=req["id"]),
        second.call("approvals.deny", id=req["id"], note="no"),
        return_exceptions=True,
    )
    await second.close()
    errors = [r for r in results if isinstance(r, Exception)]
    assert len(errors) == 1 and isinstance(errors[0], Refused | Conflict)


@pytest.mark.parametrize(
    ("commit_ref", "error", "message"),
    [
        ("main", InvalidInput, "7-40 character hex"),
        ("abc", InvalidInput, "7-40 character hex"),
        ("zzzzzzzz", InvalidInput, "7-40 character hex"),
        ("deadbeefdeadbeef", NotFound, "deadbeef"),
    ],
)
async def test_a_bad_commit_ref_is_refused_and_changes_nothing(
    swarm: Hive, op: HiveClient, manager: HiveClient, commit_ref: str, error: type, message: str
) -> None:
    await spawn(op, manager, "alice")
    before = (await op.call("approvals.list"))["approvals"]
    with pytest.raises(error, match=message):
        await manager.call("approvals.request_apply_commit", agent="alice", commit_ref=commit_ref)
    assert (await op.call("approvals.list"))["approvals"] == before


@pytest.mark.parametrize("name", ["a/b", "..", "Alice", "muchtoolong", "operator"])
async def test_a_bad_agent_name_is_refused(manager: HiveClient, name: str) -> None:
    with pytest.raises(InvalidInput):
        await manager.call("approvals.request_spawn", name=name)


async def test_unknown_ids_and_double_decisions_are_refused(
    swarm: Hive, op: HiveClient, manager: HiveClient
) -> None:
    with pytest.raises(NotFound, match="no approval #999"):
        await op.call("approvals.approve", id=999)
    done = await spawn(op, manager, "alice")
    with pytest.raises(Refused, match="is deployed, not pending"):
        await op.call("approvals.approve", id=done["id"])
    with pytest.raises(Refused, match="already exists"):
        await manager.call("approvals.request_spawn", name="alice")


async def test_the_repos_are_valid_for_the_real_git_cli(
    swarm: Hive, op: HiveClient, manager: HiveClient
) -> None:
    await spawn(op, manager, "alice")
    for repo in (
        swarm.settings.applied_dir("alice"),
        swarm.settings.proposed_dir("alice"),
        swarm.settings.meta_dir,
    ):
        assert git(repo, "fsck", "--strict") == ""
    assert "deploy alice" in git(swarm.settings.meta_dir, "log", "--oneline")


async def test_tag_gc_keeps_deployed_and_drops_the_steps_of_finished_approvals(
    swarm: Hive, op: HiveClient, manager: HiveClient
) -> None:
    done = await spawn(op, manager, "alice")
    sha = commit_file(swarm.settings.proposed_dir("alice"), "prompt.md", "x\n")
    pending = await manager.call("approvals.request_apply_commit", agent="alice", commit_ref=sha)
    preview = await op.call("repos.gc_tags", dry_run=True)
    n = done["id"]
    assert sorted(preview["deleted"]["alice"]) == [
        f"approved/{n}",
        f"building/{n}",
        f"proposal/{n}",
    ]
    assert len(tags(swarm, "alice")) == 5
    await op.call("repos.gc_tags")
    assert tags(swarm, "alice") == [f"deployed/{n}", f"proposal/{pending['id']}"]
