"""Regressions for the bugs the fuzzing found, each named for its bug."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from hyperhive.core.client import HiveClient
from hyperhive.core.errors import InvalidInput, ProtocolError, StoreError
from hyperhive.core.hive import Hive
from hyperhive.core.models import Message
from hyperhive.core.protocol import BadRequest, p, parse_request
from hyperhive.core.store import Store
from hyperhive.core.store import messages as q
from tests.conftest import agent_client

# --- protocol.py: numbers ----------------------------------------------------------------


@pytest.mark.parametrize("value", [2**63, -(2**63) - 1, 10**30])
def test_an_integer_beyond_64_bits_is_invalid_input_not_an_internal_overflow(value: int) -> None:
    with pytest.raises(InvalidInput, match="out of range"):
        p(int).check("approvals.get", "id", value)
    with pytest.raises(InvalidInput, match="out of range"):
        p(float).check("messages.recv", "wait_seconds", 10**400 if value > 0 else -(10**400))
    assert p(int).check("m", "x", 2**63 - 1) == 2**63 - 1


@pytest.mark.parametrize("token", [b"NaN", b"Infinity", b"-Infinity", b"1e400", b"[1, -1e999]"])
def test_nan_and_infinity_in_params_are_refused_with_the_request_id(token: bytes) -> None:
    line = b'{"id": 9, "method": "stats.record", "params": {"samples": {"k": ' + token + b"}}}"
    with pytest.raises(BadRequest) as caught:
        parse_request(line)
    assert caught.value.req_id == 9
    assert isinstance(caught.value.error, ProtocolError)
    assert "NaN and Infinity" in caught.value.error.message


async def test_huge_numbers_over_the_wire_get_clean_errors(hive: Hive, host: HiveClient) -> None:
    alice = await agent_client(hive, "alice")
    with pytest.raises(InvalidInput, match="out of range"):
        await host.call("approvals.get", id=2**64)
    with pytest.raises(InvalidInput, match="out of range"):
        await alice.call("messages.send", to="alice", body="x", in_reply_to=2**63)
    with pytest.raises(InvalidInput, match="out of range"):
        await host.call("messages.mark_read", ids=[2**70])  # nested: caught at the store
    assert (await alice.call("agent.whoami"))["name"] == "alice"
    await alice.close()


# --- store/__init__.py: the group commit --------------------------------------------------


@pytest.fixture
async def store(tmp_path: Path) -> Store:
    return await Store.open(tmp_path / "hive.sqlite")


def _message(i: int) -> Message:
    return Message(i, 0.0, "a", "b", f"m{i}", None, None, None)


async def test_an_overflowing_op_fails_alone_and_its_group_still_commits(store: Store) -> None:
    results = await asyncio.gather(
        store.write(q.insert, [_message(1)]),
        store.write(q.ack, [2**70], 0.0),
        store.write(q.insert, [_message(2)]),
        return_exceptions=True,
    )
    assert results[0] is None and results[2] is None
    assert isinstance(results[1], InvalidInput)
    assert await store.read(q.count) == 2
    with pytest.raises(InvalidInput, match="out of range"):
        await store.read(q.get, 2**70)
    await store.close()


def _explode(db: sqlite3.Connection) -> None:
    raise RuntimeError("a bug in a query function")


async def test_an_unexpected_error_in_a_group_commit_answers_every_writer_instead_of_hanging(
    store: Store,
) -> None:
    async with asyncio.timeout(5):
        results = await asyncio.gather(
            store.write(q.insert, [_message(1)]),
            store.write(_explode),
            store.write(q.insert, [_message(2)]),
            return_exceptions=True,
        )
        assert all(isinstance(r, StoreError) for r in results), results
        # the store keeps working afterwards, and close does not hang on a dead flusher
        await store.write(q.insert, [_message(3)])
        assert await store.read(q.count) == 1
        await store.close()
