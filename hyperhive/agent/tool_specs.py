"""The table of the agent's hyperhive tools: one place for names, schemas, limits, handlers.

`TOOLS` holds one `ToolSpec` per tool: its name, description, JSON schema (every
documented limit is in the schema: ``maxLength``, ``minimum``, ``maximum``,
``pattern``) and an async handler over `HiveTools`. `run_tool` validates the arguments
against the schema *before* anything reaches the daemon, then runs the handler. The MCP
server (`mcp_server`) serves this table; an in-process tool server (e.g. through an
agent SDK) can serve the same one: ``spec.name``, ``spec.description``, ``spec.schema``,
``await run_tool(spec, tools, args)`` (a `ToolFailure` is a tool error).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from typing import Any

from hyperhive.agent import tools_threads
from hyperhive.agent.hive_tools import (
    BODY_BYTES,
    ID_MAX,
    QUESTION_BYTES,
    QUESTION_OPTION_CHARS,
    QUESTION_OPTIONS,
    QUESTION_TTL_MAX,
    RECV_MAX,
    RECV_WAIT_MAX,
    HiveTools,
    ToolFailure,
    ToolSpec,
    object_schema,
)

# --- the table -------------------------------------------------------------------------

_NAME = {
    "type": "string",
    "pattern": r"^[a-z][a-z0-9-]{0,8}$",
    "maxLength": 9,
    "description": "agent name: 1-9 chars, a-z 0-9 '-', starts a-z",
}
_COMMIT = {
    "type": "string",
    "pattern": r"^[0-9a-fA-F]{7,40}$",
    "minLength": 7,
    "maxLength": 40,
    "description": "full or abbreviated (7-40 hex) commit sha; not a branch or tag",
}


def _lifecycle(verb: str, description: str) -> ToolSpec:
    async def run(tools: HiveTools, a: dict[str, Any]) -> str:
        return await tools.lifecycle(verb, a["name"])

    return ToolSpec(verb, description, object_schema(["name"], name=_NAME), run, manager_only=True)


def _approval(tool: str, description: str, schema: dict[str, Any]) -> ToolSpec:
    async def run(tools: HiveTools, a: dict[str, Any]) -> str:
        return await tools.approval(tool, f"approvals.{tool}", **a)

    return ToolSpec(tool, description, schema, run, manager_only=True)


async def _send(t: HiveTools, a: dict[str, Any]) -> str:
    return await t.send(a["to"], a["body"], a.get("in_reply_to"))


async def _recv(t: HiveTools, a: dict[str, Any]) -> str:
    return await t.recv(a.get("wait_seconds", 0), a.get("max", 1))


async def _ask(t: HiveTools, a: dict[str, Any]) -> str:
    return await t.ask_operator(
        a["question"], a.get("options"), a.get("multi", False), a.get("ttl_seconds")
    )


async def _whoami(t: HiveTools, a: dict[str, Any]) -> str:
    return await t.whoami()


async def _list_agents(t: HiveTools, a: dict[str, Any]) -> str:
    return await t.list_agents()


TOOLS: tuple[ToolSpec, ...] = (
    ToolSpec(
        "send",
        "Send a message to another agent (by name), to 'manager', to 'operator' (the human), "
        f"or to '*' (every other agent). Bodies are capped at {BODY_BYTES} bytes (4 KiB): for "
        "more, write a file under /state and send its path. If the allow-list refuses a "
        "recipient, send it to the manager and say who it is for. Pass in_reply_to=<message "
        "id> when answering.",
        object_schema(
            ["to", "body"],
            to={
                "type": "string",
                "minLength": 1,
                "maxLength": 64,
                "description": "recipient: agent name, manager, operator or *",
            },
            body={
                "type": "string",
                "maxLength": BODY_BYTES,
                "description": f"the message text (≤ {BODY_BYTES} bytes of UTF-8)",
            },
            in_reply_to={
                "type": ["integer", "null"],
                "minimum": 1,
                "maximum": ID_MAX,
                "description": "id of the message this answers",
            },
        ),
        _send,
    ),
    ToolSpec(
        "recv",
        "Take messages from your inbox. wait_seconds=0 (the default) returns at once; a "
        f"positive wait (up to {RECV_WAIT_MAX}) blocks until a message arrives — use it "
        f"instead of sleeping or polling in a loop. max (1-{RECV_MAX}) is how many to take "
        "at once. Returns '(empty)' when nothing came.",
        object_schema(
            wait_seconds={
                "type": "number",
                "minimum": 0,
                "maximum": RECV_WAIT_MAX,
                "default": 0,
                "description": f"seconds to wait, 0-{RECV_WAIT_MAX}",
            },
            max={
                "type": "integer",
                "minimum": 1,
                "maximum": RECV_MAX,
                "default": 1,
                "description": f"how many messages to take, 1-{RECV_MAX}",
            },
        ),
        _recv,
    ),
    ToolSpec(
        "ask_operator",
        "Ask the human operator a question. Returns a question id at once; the answer "
        "arrives later as a message from 'system' in a later turn, so do not wait or poll "
        "for it now. options: choices to pick from; multi: allow several; ttl_seconds: the "
        "question expires after this (at most 6 hours).",
        object_schema(
            ["question"],
            question={
                "type": "string",
                "minLength": 1,
                "maxLength": QUESTION_BYTES,
                "description": f"the question, self-contained (≤ {QUESTION_BYTES} bytes)",
            },
            options={
                "type": ["array", "null"],
                "items": {"type": "string", "minLength": 1, "maxLength": QUESTION_OPTION_CHARS},
                "maxItems": QUESTION_OPTIONS,
                "description": "choices the operator picks from",
            },
            multi={
                "type": "boolean",
                "default": False,
                "description": "allow picking several options",
            },
            ttl_seconds={
                "type": ["integer", "null"],
                "minimum": 1,
                "maximum": QUESTION_TTL_MAX,
                "description": "expire the question after this many seconds",
            },
        ),
        _ask,
    ),
    ToolSpec(
        "whoami",
        "Your own name, role, state, incarnation, applied config sha and inbox depth.",
        object_schema(),
        _whoami,
    ),
    _approval(
        "request_spawn",
        "Ask the operator to create agent `name` with the default config in one step. "
        "Returns an approval id; a system message tells you when it is decided. Prefer "
        "request_spawn_draft when the new agent needs its own prompt or settings.",
        object_schema(["name"], name=_NAME),
    ),
    _approval(
        "request_spawn_draft",
        "Two-step spawn, step 1: ask the operator for a proposed config repo for a new agent "
        "`name`, without a container. Once approved, edit /agents/<name>/config (agent.toml, "
        "prompt.md), git commit, then call request_spawn_commit with the sha.",
        object_schema(["name"], name=_NAME),
    ),
    _approval(
        "request_spawn_commit",
        "Two-step spawn, step 2: ask the operator to create agent `name` from commit "
        "`commit_ref` of /agents/<name>/config. The commit is pinned at once: later edits "
        "change nothing.",
        object_schema(["name", "commit_ref"], name=_NAME, commit_ref=_COMMIT),
    ),
    _approval(
        "request_apply_commit",
        "Ask the operator to deploy a config change of an existing agent (yourself too: "
        "'manager'). Commit in /agents/<agent>/config first, explaining the change in the "
        "commit message; `commit_ref` is pinned at once and tagged proposal/<id>. The "
        "operator sees the full diff and approves or denies.",
        object_schema(
            ["agent", "commit_ref"],
            agent={**_NAME, "description": "the agent whose config changes"},
            commit_ref=_COMMIT,
        ),
    ),
    *tools_threads.SPECS,
    _lifecycle("kill", "Stop agent `name` (no approval needed). Its state and inbox are kept."),
    _lifecycle("start", "Start a stopped agent `name` (no approval needed)."),
    _lifecycle("restart", "Stop and start agent `name` (no approval needed)."),
    _lifecycle(
        "update",
        "Rebuild agent `name` from its current applied config and restart it (no approval "
        "needed): use it when the agent is flagged stale or after a hyperhive upgrade.",
    ),
    ToolSpec(
        "list_agents",
        "Every agent with its role, state, inbox depth, last turn and applied config sha.",
        object_schema(),
        _list_agents,
        manager_only=True,
    ),
)
AGENT_TOOLS = tuple(t.name for t in TOOLS if not t.manager_only)
MANAGER_TOOLS = tuple(t.name for t in TOOLS if t.manager_only)


def tools_for(*, manager: bool) -> dict[str, ToolSpec]:
    """The tools one agent has, by name (the manager's include its own)."""
    return {t.name: t for t in TOOLS if manager or not t.manager_only}


# --- validation ------------------------------------------------------------------------

_TYPES: dict[str, Callable[[Any], bool]] = {
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "array": lambda v: isinstance(v, list),
    "object": lambda v: isinstance(v, dict),
    "null": lambda v: v is None,
}


def validate(tool: str, schema: Mapping[str, Any], args: Any) -> dict[str, Any]:
    """``args`` checked against ``schema`` (the subset the table uses); defaults filled in.

    Raises:
        ToolFailure: naming the argument and the limit it breaks.
    """
    if args is None:
        args = {}
    if not isinstance(args, dict):
        raise ToolFailure(f"{tool}: the arguments must be an object")
    props: Mapping[str, Any] = schema.get("properties", {})
    unknown = sorted(set(args) - set(props))
    if unknown:
        raise ToolFailure(f"{tool}: unknown argument(s) {', '.join(map(repr, unknown))}")
    missing = [k for k in schema.get("required", []) if k not in args]
    if missing:
        raise ToolFailure(f"{tool}: missing argument(s) {', '.join(map(repr, missing))}")
    out: dict[str, Any] = {}
    for name, rule in props.items():
        if name in args:
            _check(f"{tool}: '{name}'", rule, args[name])
            out[name] = args[name]
        elif "default" in rule:
            out[name] = rule["default"]
    return out


def _check(what: str, rule: Mapping[str, Any], value: Any) -> None:
    types = rule.get("type")
    if types is not None:
        wanted = [types] if isinstance(types, str) else list(types)
        if not any(_TYPES[t](value) for t in wanted):
            raise ToolFailure(f"{what} must be {' or '.join(wanted)}, not {_kind(value)}")
    if value is None:
        return
    if isinstance(value, str):
        if "maxLength" in rule and len(value) > rule["maxLength"]:
            raise ToolFailure(
                f"{what} is {len(value)} characters; the limit is {rule['maxLength']}"
            )
        if "minLength" in rule and len(value) < rule["minLength"]:
            raise ToolFailure(f"{what} must have at least {rule['minLength']} character(s)")
        if "pattern" in rule and not re.search(rule["pattern"], value):
            raise ToolFailure(f"{what} must match {rule['pattern']}: {value[:80]!r}")
    elif isinstance(value, int | float) and not isinstance(value, bool):
        if isinstance(value, float) and not math.isfinite(value):
            raise ToolFailure(f"{what} must be a finite number")
        if "minimum" in rule and value < rule["minimum"]:
            raise ToolFailure(f"{what} must be at least {rule['minimum']}, not {value}")
        if "maximum" in rule and value > rule["maximum"]:
            raise ToolFailure(f"{what} must be at most {rule['maximum']}, not {value}")
    elif isinstance(value, list):
        if "maxItems" in rule and len(value) > rule["maxItems"]:
            raise ToolFailure(f"{what} has {len(value)} items; the limit is {rule['maxItems']}")
        items = rule.get("items")
        if items is not None:
            for i, item in enumerate(value):
                _check(f"{what}[{i}]", items, item)


def _kind(value: Any) -> str:
    return "null" if value is None else type(value).__name__


async def run_tool(spec: ToolSpec, tools: HiveTools, args: Any) -> str:
    """Validate ``args`` for ``spec``, then run it; raises `ToolFailure` with readable text."""
    return await spec.handler(tools, validate(spec.name, spec.schema, args))
