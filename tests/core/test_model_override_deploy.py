"""A newly approved config clears the operator's model override: the config decides again."""

from __future__ import annotations

from hyperhive.core.client import HiveClient
from hyperhive.core.settings import Settings
from tests.support.swarm import commit_file, open_swarm


async def test_a_deployed_config_clears_the_model_override(settings: Settings) -> None:
    async with open_swarm(settings) as hive:
        op = await HiveClient.connect(hive.settings.host_socket)
        manager = await HiveClient.connect(hive.settings.agent_socket("manager"))
        req = await manager.call("approvals.request_spawn", name="alice")
        await op.call("approvals.approve", id=req["id"], wait=True)
        await op.call("agents.set_model", name="alice", model="opus")
        await op.subscribe(["agent.model_changed"])
        # a denied proposal changes nothing
        sha = commit_file(hive.settings.proposed_dir("alice"), "agent.toml", 'model = "haiku"\n')
        req = await manager.call("approvals.request_apply_commit", agent="alice", commit_ref=sha)
        await op.call("approvals.deny", id=req["id"])
        assert hive.overrides.model_of("alice") == "opus"
        req = await manager.call("approvals.request_apply_commit", agent="alice", commit_ref=sha)
        done = await op.call("approvals.approve", id=req["id"], wait=True)
        assert done["status"] == "deployed"
        assert hive.overrides.model_of("alice") is None
        event = await op.next_event(5)
        assert event["data"] == {"agent": "alice", "model": None, "by": "system"}
        assert (await hive.overrides.model("alice")) is None  # the row is gone too
        for c in (op, manager):
            await c.close()
