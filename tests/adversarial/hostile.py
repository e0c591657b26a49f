"""Hostile values shared by the fuzz tests, and the invariants no input may break."""

from __future__ import annotations

import math
import sqlite3

from hypothesis import strategies as st

from hyperhive.core.names import validate_agent_name
from tests.support.daemon import DaemonProcess

HOSTILE_STRINGS = [
    "",
    ".",
    "..",
    "../x",
    "../../../../etc/passwd",
    "/etc",
    "/etc/passwd",
    "a/b",
    "a\\b",
    "\x00",
    "alice\x00",
    "al\x00ice",
    "Alice",
    "ALICE",
    "é",
    "名前",
    "🐝🐝",
    "\u202eecila",
    "\ud7ff",
    "x" * 10,
    "x" * 5000,
    "manager",
    "operator",
    "system",
    "hm1nd",
    "*",
    "alice",
    "bob",
    "ghost",
    "-a",
    "a-",
    "1a",
    "NaN",
    "-1",
    "0x10",
    "deadbeef",
    "0" * 40,
    "main",
    "HEAD",
    "refs/heads/main",
    "proposal/1",
    "%s%n%x",
    "${HOME}",
    "$(touch /tmp/pwned)",
    "`id`",
    "\n",
    '\r\n{"id":1}',
    "' OR 1=1 --",
    "*/*",
    "**",
]
HUGE_INTS = [2**63 - 1, 2**63, -(2**63) - 1, 2**64, 10**30, -(10**30)]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**31), max_value=2**31),
    st.sampled_from(HUGE_INTS + [-1, 0, 1]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([math.nan, math.inf, -math.inf, -0.0, 1e308, 5e-324]),
    st.sampled_from(HOSTILE_STRINGS),
    st.text(max_size=40),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(
            st.one_of(st.sampled_from(HOSTILE_STRINGS), st.text(max_size=8)), inner, max_size=4
        ),
    ),
    max_leaves=12,
)


def assert_no_invalid_state(daemon: DaemonProcess) -> None:
    """The daemon lives, and nothing it stored or created breaks a rule."""
    assert daemon.proc is not None and daemon.proc.poll() is None, daemon.tail()
    s = daemon.settings
    db = sqlite3.connect(f"file:{s.db_path}?mode=ro", uri=True)
    try:
        for (name,) in db.execute("SELECT name FROM agents"):
            validate_agent_name(name, allow_manager=True)
        for (name,) in db.execute("SELECT DISTINCT agent FROM approvals"):
            validate_agent_name(name, allow_manager=True)
        (longest,) = db.execute(
            "SELECT coalesce(max(length(CAST(body AS BLOB))), 0) FROM messages"
        ).fetchone()
        assert longest <= 4096
    finally:
        db.close()
    for root in (s.agents_root, s.proposed_root, s.applied_root, s.run_dir / "agents"):
        for entry in root.iterdir() if root.exists() else []:
            validate_agent_name(entry.name, allow_manager=True)
    # nothing was written next to the state dir (a path escaping through a name)
    assert {p.name for p in s.state_dir.parent.iterdir()} <= {"state", "daemon.log"}
