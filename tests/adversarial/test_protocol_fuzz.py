"""Fuzzing the JSON-lines protocol of a real daemon on host.sock, an agent's and the manager's.

Whatever arrives, the daemon answers every line with one well-formed reply, keeps the
connection usable, never crashes, and never stores an invalid state (a badly named
agent, an oversize message). Methods that act on the host (operator decisions,
lifecycle) only ever get parameters that must be rejected; everything an agent may call
is also fuzzed with well-typed hostile values, since an agent is untrusted by design.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hyperhive.core.errors import InvalidInput
from hyperhive.core.names import validate_agent_name
from hyperhive.core.protocol import Method, Param
from tests.adversarial.hostile import (
    HOSTILE_STRINGS,
    HUGE_INTS,
    assert_no_invalid_state,
    values,
)
from tests.adversarial.wire import Wire, check_reply
from tests.support.daemon import DaemonProcess

# HYPOTHESIS_PROFILE=fuzz: ten times the examples, fresh randomness (a local bug hunt)
SCALE = 10 if os.environ.get("HYPOTHESIS_PROFILE") == "fuzz" else 1
SOCKETS = ("host", "agent", "manager")
PING = {"host": "daemon.status", "agent": "agent.whoami", "manager": "agent.whoami"}
SCOPES = {"host": {"host"}, "agent": {"agent"}, "manager": {"manager", "agent"}}

BY_TYPE: dict[Any, st.SearchStrategy[Any]] = {
    str: st.one_of(st.sampled_from(HOSTILE_STRINGS), st.text(max_size=40)),
    int: st.one_of(st.integers(-(2**31), 2**31), st.sampled_from(HUGE_INTS + [-1, 0, 1])),
    float: st.one_of(
        st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([0, 1, -1, 10**6])
    ),
    bool: st.booleans(),
    list: st.lists(values, max_size=6),
    dict: st.dictionaries(st.text(max_size=12), values, max_size=6),
    None: st.none(),
}


def typed(spec: Param) -> st.SearchStrategy[Any]:
    """Values of the declared types, chosen to hurt (huge, negative, NaN, path-like, ...)."""
    return st.one_of(*(BY_TYPE[t] for t in spec.types))


def accepts(spec: Param, value: Any) -> bool:
    try:
        spec.check("m", "p", value)
    except InvalidInput:
        return False
    return True


def wrong(spec: Param) -> st.SearchStrategy[Any]:
    """Values ``spec`` refuses."""
    return values.filter(lambda v: not accepts(spec, v))


def binds(method: Method, params: Any) -> bool:
    try:
        method.bind(params)
    except InvalidInput:
        return False
    return True


def unsafe(method: Method) -> bool:
    """Whether running the method for real could act on the host (containers, PTYs, decisions)."""
    return method.decides or method.name.startswith(("lifecycle.", "pty."))


def expected_id(req_id: Any) -> Any:
    ok = isinstance(req_id, int | str) and not isinstance(req_id, bool) and len(str(req_id)) <= 64
    return req_id if ok else None


def socket_path(daemon: DaemonProcess, kind: str) -> Path:
    s = daemon.settings
    return {
        "host": s.host_socket,
        "agent": s.agent_socket("alice"),
        "manager": s.agent_socket("manager"),
    }[kind]


# --- bytes --------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", SOCKETS)
@settings(max_examples=40 * SCALE)
@given(data=st.binary(max_size=1500))
def test_random_bytes_get_one_well_formed_reply_per_line(
    daemon: DaemonProcess, kind: str, data: bytes
) -> None:
    lines = [line for line in (data + b"\n").split(b"\n") if line.strip()]
    with Wire(socket_path(daemon, kind)) as w:
        w.send(data + b"\n")
        for _ in lines:
            check_reply(w.line())
        w.ping(PING[kind])


@pytest.mark.parametrize("kind", SOCKETS)
@settings(max_examples=40 * SCALE)
@given(obj=values, req_id=values)
def test_any_json_value_as_a_request_gets_a_well_formed_reply(
    daemon: DaemonProcess, kind: str, obj: Any, req_id: Any
) -> None:
    if isinstance(obj, dict):
        obj = {**obj, "id": req_id}
        obj.pop("method", None)
    with Wire(socket_path(daemon, kind)) as w:
        w.send(json.dumps(obj).encode() + b"\n")
        reply = check_reply(w.line())
        assert reply["error"]["code"] == "protocol_error"
        assert reply["id"] == (expected_id(req_id) if isinstance(obj, dict) else None)
        w.ping(PING[kind])


# --- every registered method --------------------------------------------------------------


@st.composite
def requests(draw: st.DrawFn, method: Method, kind: str) -> tuple[Any, Any]:
    """``(params, id)`` for ``method``: wrong types, hostile values, unknown keys."""
    req_id = draw(st.one_of(st.integers(), st.text(max_size=70), values))
    if not draw(st.integers(0, 9)):
        return draw(values), req_id  # params of any shape at all
    params: dict[str, Any] = {}
    for pname, spec in method.params.items():
        how = draw(st.sampled_from(["omit", "wrong", "any", "typed", "typed", "typed"]))
        if how == "wrong":
            params[pname] = draw(wrong(spec))
        elif how == "any":
            params[pname] = draw(values)
        elif how == "typed":
            params[pname] = draw(typed(spec))
    if not draw(st.integers(0, 7)):
        params[draw(st.text(max_size=12))] = draw(values)
    if here(method, kind) and unsafe(method) and binds(method, params):
        # never run a host action for real: make one parameter the wrong type
        if method.params:
            first, spec = next(iter(method.params.items()))
            params[first] = draw(wrong(spec))
        else:
            params["not_a_param"] = 1
    for pname, v in params.items():  # no long polls: a valid wait becomes 0
        if "wait" in pname and isinstance(v, int | float) and not isinstance(v, bool):
            if 0 < v <= 180:
                params[pname] = 0
    return params, req_id


def here(method: Method, kind: str) -> bool:
    """Whether ``method`` exists on a socket of ``kind``."""
    return bool({s.value for s in method.scopes} & SCOPES[kind])


def fuzz(daemon: DaemonProcess, method: Method, kind: str) -> None:
    """Send ``method`` hostile params on a ``kind`` socket; every reply must be clean."""

    @settings(max_examples=15 * SCALE)
    @given(request=requests(method, kind))
    def run(request: tuple[Any, Any]) -> None:
        params, req_id = request
        with Wire(socket_path(daemon, kind)) as w:
            line = json.dumps({"id": req_id, "method": method.name, "params": params})
            w.send(line.encode() + b"\n")
            reply = check_reply(w.line(), expected_id(req_id), check_id=True)
            if not here(method, kind):
                assert reply["error"]["code"] == "protocol_error", reply
            w.ping(PING[kind])

    run()


@pytest.mark.parametrize("kind", SOCKETS)
def test_every_method_with_hostile_params_gets_a_clean_reply(
    daemon: DaemonProcess, methods: dict[str, Method], kind: str
) -> None:
    for method in methods.values():
        fuzz(daemon, method, kind)
    assert_no_invalid_state(daemon)


@pytest.mark.parametrize("kind", SOCKETS)
@settings(max_examples=30 * SCALE)
@given(
    name=st.sampled_from(["", "no.such", "../agents.list", "agents.list\x00", "AGENTS.LIST"]),
    params=values,
)
def test_an_unknown_method_is_refused_whatever_its_params(
    daemon: DaemonProcess, kind: str, name: str, params: Any
) -> None:
    with Wire(socket_path(daemon, kind)) as w:
        w.send(json.dumps({"id": 5, "method": name, "params": params}).encode() + b"\n")
        assert check_reply(w.line(), 5, check_id=True)["error"]["code"] == "protocol_error"
        w.ping(PING[kind])


# --- names --------------------------------------------------------------------------------


def _invalid(name: str) -> bool:
    try:
        validate_agent_name(name)
    except InvalidInput:
        return True
    return False


bad_names = st.one_of(st.sampled_from(HOSTILE_STRINGS), st.text(max_size=20)).filter(_invalid)
NAMED = [
    ("host", "lifecycle.spawn"),
    ("host", "lifecycle.start"),
    ("host", "lifecycle.destroy"),
    ("host", "lifecycle.purge"),
    ("host", "approvals.request_spawn"),
    ("host", "approvals.request_spawn_draft"),
    ("manager", "approvals.request_spawn"),
    ("manager", "approvals.request_spawn_draft"),
    ("manager", "approvals.request_destroy"),
    ("manager", "lifecycle.restart"),
]


@settings(max_examples=120 * SCALE)
@given(name=bad_names, where=st.sampled_from(NAMED))
def test_no_agent_is_ever_created_under_a_bad_name(
    daemon: DaemonProcess, name: str, where: tuple[str, str]
) -> None:
    kind, method = where
    if name == "manager" and method.startswith("lifecycle."):
        return  # the manager is a real agent: refusals for it are tested elsewhere
    with Wire(socket_path(daemon, kind)) as w:
        reply = w.call(method, {"name": name})
    assert reply["error"]["code"] in ("invalid_input", "refused"), reply
    assert_no_invalid_state(daemon)


# --- sizes, depths and numbers no client would send ---------------------------------------


@pytest.mark.parametrize("kind", SOCKETS)
@pytest.mark.parametrize("size", [1024 * 1024 + 1, 5 * 1024 * 1024])
def test_a_huge_line_is_refused_and_the_connection_stays_usable(
    daemon: DaemonProcess, kind: str, size: int
) -> None:
    with Wire(socket_path(daemon, kind)) as w:
        w.send(b'{"id": 1, "method": "' + b"m" * size + b'"}\n')
        reply = check_reply(w.line())
        assert "line too long" in reply["error"]["message"]
        w.ping(PING[kind])


@pytest.mark.parametrize("depth", [100, 500, 900, 990, 1000, 5000, 200_000])
@pytest.mark.parametrize(
    ("method", "param"),
    [
        ("messages.ack", "ids"),
        ("harness.event", "events"),
        ("stats.record", "samples"),
        ("messages.send", "body"),
        ("agent.whoami", "x"),
    ],
)
def test_deep_nesting_anywhere_is_refused_cleanly(
    daemon: DaemonProcess, method: str, param: str, depth: int
) -> None:
    nested = "[" * depth + "]" * depth
    with Wire(socket_path(daemon, "agent")) as w:
        w.send(f'{{"id": 7, "method": "{method}", "params": {{"{param}": {nested}}}}}\n'.encode())
        check_reply(w.line())
        w.send(("{" + '"a":{' * depth + "}" * depth + "}\n").encode())
        check_reply(w.line())
        w.ping("agent.whoami")


NUMBERS = [
    "NaN",
    "Infinity",
    "-Infinity",
    "1e400",
    "-1e400",
    "-1",
    "0",
    "-0.0",
    "1e-400",
    str(2**63),
    str(-(2**63) - 1),
    "1" + "0" * 400,
    "0.5",
    "true",
    "null",
    '"1"',
]
NUMBERED = [
    ("host", "approvals.get", "id"),
    ("host", "messages.history", "limit"),
    ("host", "messages.history", "before_id"),
    ("host", "audit.list", "before_id"),
    ("host", "turns.events", "limit"),
    ("host", "stats.query", "since"),
    ("host", "repos.meta_log", "limit"),
    ("agent", "messages.recv", "wait_seconds"),
    ("agent", "messages.recv", "max"),
    ("agent", "harness.control", "wait_seconds"),
    ("agent", "messages.send", "in_reply_to"),
    ("agent", "questions.ask", "ttl_seconds"),
    ("agent", "stats.record", "ts"),
    ("agent", "harness.turn_ended", "duration_ms"),
]


@pytest.mark.parametrize("number", NUMBERS)
@pytest.mark.parametrize(("kind", "method", "param"), NUMBERED)
def test_odd_numbers_in_numeric_params_get_a_clean_reply(
    daemon: DaemonProcess,
    methods: dict[str, Method],
    kind: str,
    method: str,
    param: str,
    number: str,
) -> None:
    if method not in methods:
        pytest.skip(f"{method} is not registered")
    base = {
        "messages.send": '"to": "bob", "body": "hi", ',
        "questions.ask": '"question": "q?", ',
        "stats.query": '"agent": "alice", "key": "k", ',
        "turns.events": '"agent": "alice", ',
        "stats.record": '"samples": {}, ',
        "harness.turn_ended": '"turn": 1, "exit_class": "ok", ',
    }.get(method, "")
    if number in ("0.5", "-0.0", "1e-400", "0") and "wait" in param:
        number = "0"  # a valid short wait, not a long poll
    line = f'{{"id": 3, "method": "{method}", "params": {{{base}"{param}": {number}}}}}\n'
    with Wire(socket_path(daemon, kind)) as w:
        w.send(line.encode())
        check_reply(w.line(), 3, check_id=True)
        w.ping(PING[kind])
    assert_no_invalid_state(daemon)


@settings(max_examples=60 * SCALE)
@given(pad=st.integers(3900, 4200), tail=st.text(st.characters(codec="utf-8"), max_size=60))
def test_a_body_over_4_kib_is_never_stored(daemon: DaemonProcess, pad: int, tail: str) -> None:
    body = "x" * pad + tail
    with Wire(socket_path(daemon, "agent")) as w:
        reply = w.call("messages.send", {"to": "bob", "body": body})
        size = len(body.encode())
        if size > 4096:
            assert reply["error"]["code"] == "invalid_input", (size, reply)
        else:
            assert "result" in reply or reply["error"]["code"] == "refused", reply
    assert_no_invalid_state(daemon)
