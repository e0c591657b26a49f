"""Claude Code's stream-json folded: events summarised, tool calls counted, outcomes classified."""

from __future__ import annotations

from typing import Any

import pytest

from hyperhive.agent.drivers.base import ExitClass
from hyperhive.agent.drivers.claude_stream import CliRun, summarise_event, turn_result

# -- folding stream-json ------------------------------------------------------------

# Recorded from Claude Code 2.1.197 against the fake server (ids and noise trimmed): one
# model message calling three tools arrives as three assistant events with one message id
# and placeholder usage; Bash outside the allowed pattern is refused.
RECORDED_TURN = r"""
{"type":"system","subtype":"init","cwd":"/state","session_id":"s-1","tools":["Bash","Edit","mcp__hyperhive__send"],"mcp_servers":[{"name":"hyperhive","status":"connected"}],"model":"claude-test-1","permissionMode":"dontAsk","claude_code_version":"2.1.197"}
{"type":"assistant","message":{"id":"msg_0006","type":"message","role":"assistant","model":"claude-test-1","content":[{"type":"tool_use","id":"toolu_0001","name":"mcp__hyperhive__send","input":{"to":"bob","body":"x"}}],"stop_reason":null,"usage":{"input_tokens":100,"output_tokens":1}},"session_id":"s-1"}
{"type":"assistant","message":{"id":"msg_0006","type":"message","role":"assistant","model":"claude-test-1","content":[{"type":"tool_use","id":"toolu_0002","name":"mcp__hyperhive__send","input":{"to":"carol","body":"y"}}],"stop_reason":null,"usage":{"input_tokens":100,"output_tokens":1}},"session_id":"s-1"}
{"type":"assistant","message":{"id":"msg_0006","type":"message","role":"assistant","model":"claude-test-1","content":[{"type":"tool_use","id":"toolu_0003","name":"Bash","input":{"command":"touch /state/touched"}}],"stop_reason":null,"usage":{"input_tokens":100,"output_tokens":1}},"session_id":"s-1"}
{"type":"user","message":{"role":"user","content":[{"tool_use_id":"toolu_0001","type":"tool_result","content":[{"type":"text","text":"sent"}]}]},"session_id":"s-1"}
{"type":"user","message":{"role":"user","content":[{"tool_use_id":"toolu_0002","type":"tool_result","content":"carol is not in your allowed recipients: route through the manager","is_error":true}]},"session_id":"s-1"}
{"type":"user","message":{"role":"user","content":[{"type":"tool_result","content":"Permission to use Bash has been denied because Claude Code is running in don't ask mode.","is_error":true,"tool_use_id":"toolu_0003"}]},"session_id":"s-1"}
{"type":"assistant","message":{"id":"msg_0007","type":"message","role":"assistant","model":"claude-test-1","content":[{"type":"text","text":"done"}],"stop_reason":null,"usage":{"input_tokens":100,"output_tokens":1}},"session_id":"s-1"}
{"type":"result","subtype":"success","is_error":false,"api_error_status":null,"duration_ms":174,"num_turns":2,"result":"done","session_id":"s-1","total_cost_usd":0.002,"usage":{"input_tokens":200,"cache_creation_input_tokens":3,"cache_read_input_tokens":4,"output_tokens":40},"permission_denials":[{"tool_name":"Bash","tool_use_id":"toolu_0003","tool_input":{"command":"touch /state/touched"}}],"terminal_reason":"completed"}
"""  # noqa: E501

RATE_LIMITED = r"""
{"type":"assistant","message":{"id":"m","model":"<synthetic>","role":"assistant","content":[{"type":"text","text":"API Error: Request rejected (429) · Number of request tokens has exceeded your rate limit"}]},"error":"rate_limit"}
{"type":"result","subtype":"success","is_error":true,"api_error_status":429,"duration_ms":64,"num_turns":1,"result":"API Error: Request rejected (429) · Number of request tokens has exceeded your rate limit","total_cost_usd":0,"usage":{"input_tokens":0,"output_tokens":0},"permission_denials":[]}
"""  # noqa: E501

TOO_LONG = r"""
{"type":"system","subtype":"status","status":"compacting"}
{"type":"system","subtype":"status","status":null,"compact_result":"failed","compact_error":"too_few_groups"}
{"type":"assistant","message":{"id":"c","model":"<synthetic>","role":"assistant","content":[{"type":"text","text":"Prompt is too long"}]},"error":"invalid_request"}
{"type":"result","subtype":"success","is_error":true,"api_error_status":400,"duration_ms":66,"num_turns":1,"result":"Prompt is too long","total_cost_usd":0,"usage":{"input_tokens":0,"output_tokens":0},"permission_denials":[],"terminal_reason":"prompt_too_long"}
"""  # noqa: E501


def fold(lines: str) -> tuple[CliRun, list[dict[str, Any]]]:
    run = CliRun()
    events = [e for line in lines.strip().splitlines() for e in run.feed_line(line)]
    return run, events


def test_tool_calls_are_counted_from_blocks_and_usage_taken_from_the_result_event() -> None:
    run, _ = fold(RECORDED_TURN)
    result = turn_result([run], *run.outcome())
    assert result.exit_class is ExitClass.OK and result.error == ""
    assert result.tool_calls == 3
    assert result.tools == {"mcp__hyperhive__send": 2, "Bash": 1}
    # the assistant events carry placeholder usage (4 x 100 in): only the result counts
    assert (result.input_tokens, result.output_tokens) == (200, 40)
    assert (result.cache_creation_tokens, result.cache_read_tokens) == (3, 4)
    assert (result.cost_usd, result.num_turns, result.duration_ms) == (0.002, 2, 174.0)
    assert result.session_id == "s-1"


def test_refused_sends_are_not_messages_sent_and_denials_name_the_call() -> None:
    run, _ = fold(RECORDED_TURN)
    result = turn_result([run], *run.outcome())
    assert result.messages_sent == ["bob"]
    assert result.permission_denials == ["Bash(touch /state/touched)"]


def test_every_event_is_summarised_for_the_harness() -> None:
    _, events = fold(RECORDED_TURN)
    assert [e["type"] for e in events] == [
        "system", "tool_use", "tool_use", "tool_use",
        "tool_result", "tool_result", "tool_result", "text", "result",
    ]  # fmt: skip
    assert events[0]["mcp_servers"] == {"hyperhive": "connected"}
    assert events[3] == {
        "type": "tool_use",
        "tool": "Bash",
        "id": "toolu_0003",
        "input": {"command": "touch /state/touched"},
    }
    assert events[4] == {
        "type": "tool_result",
        "id": "toolu_0001",
        "is_error": False,
        "text": "sent",
    }
    assert events[6]["is_error"] is True
    assert events[-1]["cost_usd"] == 0.002 and events[-1]["is_error"] is False


def test_summaries_truncate_long_text_and_inputs() -> None:
    long = "x" * 5000
    event = {
        "type": "assistant",
        "message": {
            "content": [
                {"type": "text", "text": long},
                {
                    "type": "tool_use",
                    "id": "t",
                    "name": "Write",
                    "input": {"content": long, "n": 3},
                },
            ]
        },
    }
    text_event, call = summarise_event(event)
    assert len(text_event["text"]) == 500 and text_event["text"].endswith("…")
    assert len(call["input"]["content"]) == 200 and call["input"]["n"] == 3


def test_a_rate_limited_run_asks_the_harness_to_back_off() -> None:
    run, _ = fold(RATE_LIMITED)
    exit_class, error = run.outcome()
    assert exit_class is ExitClass.RATE_LIMITED
    assert "rate limit" in error


@pytest.mark.parametrize(
    ("status", "text", "expected"),
    [
        (401, "Invalid API key · Fix external API key", ExitClass.NEEDS_LOGIN),
        (None, "Invalid API key · Please run /login", ExitClass.NEEDS_LOGIN),
        (529, "API Error: 529 Overloaded.", ExitClass.RATE_LIMITED),
        (None, "Claude AI usage limit reached|1700000000", ExitClass.RATE_LIMITED),
        (500, "API Error: 500 boom.", ExitClass.FAILED),
    ],
)
def test_api_errors_are_classified(status: int | None, text: str, expected: ExitClass) -> None:
    run = CliRun()
    run.feed({"type": "result", "is_error": True, "api_error_status": status, "result": text})
    assert run.outcome() == (expected, text)


def test_a_full_context_is_recognised() -> None:
    run, events = fold(TOO_LONG)
    assert run.prompt_too_long
    assert run.compact_result == "failed"
    assert events[1] == {
        "type": "system",
        "subtype": "status",
        "status": None,
        "compact_result": "failed",
        "compact_error": "too_few_groups",
    }
    assert run.outcome()[0] is ExitClass.FAILED


def test_a_run_without_a_result_fails_with_its_stderr() -> None:
    run = CliRun(returncode=1, stderr="Error: boom\n")
    assert run.outcome() == (ExitClass.FAILED, "Error: boom")
    assert CliRun(returncode=1).outcome() == (ExitClass.FAILED, "claude exited 1 without a result")
    assert CliRun().feed_line("not json") == [
        {"type": "driver", "subtype": "stdout", "text": "not json"}
    ]
