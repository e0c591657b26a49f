"""The TUI's model: snapshots, events, notices once per transition, damaged rows kept."""

from __future__ import annotations

from hyperhive.tui.model import HiveModel, Snapshot, Unavailable
from hyperhive.tui.views import QuestionView

AGENTS = {"agents": [{"name": "manager", "role": "manager", "state": "running", "inbox": 0}]}


def loaded(**results: object) -> HiveModel:
    model = HiveModel()
    model.load(Snapshot(results={"agents": AGENTS, **results}))
    return model


def test_what_waited_before_the_first_snapshot_is_one_summary_notice() -> None:
    model = HiveModel()
    change = model.load(
        Snapshot(
            results={
                "agents": AGENTS,
                "questions": {"questions": [{"id": 1, "asker": "a", "question": "?"}]},
                "approvals": {"approvals": [{"id": 7, "kind": "spawn", "agent": "b"}]},
            }
        )
    )
    assert [(n.key, n.message) for n in change.notices] == [("summary", "1 approval, 1 question")]


def test_a_later_snapshot_announces_only_what_is_new() -> None:
    model = loaded(questions={"questions": [{"id": 1, "asker": "a", "question": "old"}]})
    again = model.load(
        Snapshot(
            results={
                "agents": AGENTS,
                "questions": {
                    "questions": [
                        {"id": 1, "asker": "a", "question": "old"},
                        {"id": 2, "asker": "a", "question": "new"},
                    ]
                },
            }
        )
    )
    assert [n.key for n in again.notices] == ["question:2"]


def test_a_crash_is_announced_per_transition_not_per_event() -> None:
    model = loaded()
    crashed = {"name": "manager", "role": "manager", "state": "crashed"}
    first = model.apply([("agent.changed", crashed)])
    same = model.apply([("agent.changed", {**crashed, "state_reason": "exit 1"})])
    model.apply([("agent.changed", {**crashed, "state": "running"})])
    again = model.apply([("agent.changed", crashed)])
    assert [n.title for n in first.notices] == ["manager crashed"]
    assert same.notices == []
    assert [n.title for n in again.notices] == ["manager crashed"]


def test_inbox_depth_follows_sends_deliveries_and_requeues() -> None:
    model = loaded()
    model.apply(
        [
            (
                "message.sent",
                {"id": 1, "ts": 1.0, "sender": "x", "recipient": "manager", "body": "a"},
            ),
            (
                "message.sent",
                {"id": 2, "ts": 2.0, "sender": "x", "recipient": "manager", "body": "b"},
            ),
        ]
    )
    assert model.agents["manager"].inbox == 2
    model.apply([("message.delivered", {"agent": "manager", "ids": [1, 2]})])
    assert model.agents["manager"].inbox == 0
    assert model.messages[1].status == "delivered"
    model.apply([("message.requeued", {"agent": "manager", "ids": [2]})])
    assert model.agents["manager"].inbox == 1
    model.apply([("message.delivered", {"agent": "manager", "ids": [2]})])
    assert model.messages[2].status == "redelivered"
    model.apply([("message.acked", {"agent": "manager", "ids": [2]})])
    assert model.messages[2].status == "acked"
    # a delivery nobody saw, taken back, does not count as one
    model.apply([("message.requeued", {"agent": "manager", "ids": [1], "unseen": True})])
    model.apply([("message.delivered", {"agent": "manager", "ids": [1]})])
    assert model.messages[1].status == "delivered"


def test_a_destroyed_agent_becomes_kept_state_and_a_purge_forgets_it() -> None:
    model = loaded()
    model.apply([("agent.created", {"name": "alpha", "state": "stopped"})])
    model.apply([("agent.changed", {"name": "alpha", "state": "destroyed", "updated_at": 5.0})])
    assert "alpha" not in model.agents and model.kept["alpha"].destroyed_at == 5.0
    model.apply([("agent.purged", {"name": "alpha"})])
    assert "alpha" not in model.kept


def test_answered_questions_leave_and_peer_questions_never_arrive() -> None:
    model = loaded()
    model.apply([("question.asked", {"id": 3, "asker": "a", "question": "q", "target": "b"})])
    assert model.open_questions() == []
    model.apply([("question.asked", {"id": 4, "asker": "a", "question": "q"})])
    assert [q.id for q in model.open_questions()] == [4]
    model.apply([("question.answered", {"id": 4, "status": "answered"})])
    assert model.open_questions() == []


def test_a_damaged_question_keeps_its_text_and_says_what_is_wrong() -> None:
    q = QuestionView.from_json(
        {"id": 9, "asker": "a", "question": "ship?", "options": "{bad", "status": "weird"}
    )
    assert q.open and q.question == "ship?" and "options do not parse" in q.error
    broken = QuestionView.from_json({"id": 10, "broken": "options_json: not a list"})
    assert broken.open and broken.error == "options_json: not a list; the question text is missing"


def test_unavailable_sections_are_remembered_for_the_panes() -> None:
    model = HiveModel()
    model.load(
        Snapshot(results={"agents": AGENTS}, missing={"approvals": Unavailable("no such method")})
    )
    assert model.missing["approvals"].reason == "no such method"
    assert model.pending_approvals() == []


def test_the_approval_queue_history_records_each_change_of_length() -> None:
    model = loaded()
    model.apply([("approval.created", {"id": 1, "kind": "spawn", "agent": "a"})])
    model.record_queue(10.0)
    model.record_queue(11.0)
    model.apply(
        [("approval.changed", {"id": 1, "kind": "spawn", "agent": "a", "status": "denied"})]
    )
    model.record_queue(12.0)
    assert model.queue_history == [(10.0, 1.0), (12.0, 0.0)]


def test_an_agent_whose_host_is_unreachable_shows_unreachable_not_its_last_state() -> None:
    row = {"name": "alpha", "role": "agent", "state": "running", "host": "one"}
    model = loaded(agents={"agents": [{**row, "host_state": "unreachable"}]})
    assert model.agents["alpha"].state == "unreachable"
    model = loaded(agents={"agents": [{**row, "host_state": "reachable"}]})
    assert model.agents["alpha"].state == "running"
