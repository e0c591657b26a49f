"""A blocking JSON-lines connection that sends what no client would, and checks every reply."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any


def _reject_constant(name: str) -> Any:
    raise ValueError(f"reply holds {name}, which is not JSON")


def check_reply(line: bytes, sent_id: Any = None, *, check_id: bool = False) -> dict[str, Any]:
    """Assert that ``line`` is one well-formed reply; return it.

    Well-formed: a newline-terminated JSON object (strict: no NaN or Infinity) with an
    ``id`` and exactly one of ``result`` / ``error``; an error has a string ``code`` and a
    string ``message`` and is never an internal error (an exception nobody mapped).
    """
    assert line.endswith(b"\n"), f"reply is not a whole line: {line[:200]!r}"
    reply = json.loads(line, parse_constant=_reject_constant)
    assert isinstance(reply, dict), reply
    assert "id" in reply, reply
    assert ("result" in reply) != ("error" in reply), reply
    if "error" in reply:
        err = reply["error"]
        assert isinstance(err, dict) and set(err) == {"code", "message"}, reply
        assert isinstance(err["code"], str) and isinstance(err["message"], str), reply
        assert not err["message"].startswith("internal error"), reply
    if check_id:
        assert reply["id"] == sent_id, (sent_id, reply)
    return reply


class Wire:
    """One raw connection to a daemon socket."""

    def __init__(self, path: Path, timeout: float = 20.0) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(str(path))
        self.file = self.sock.makefile("rb")

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def line(self) -> bytes:
        """The next line the daemon sent (fails on a timeout or a closed connection)."""
        got = self.file.readline()
        assert got, "the daemon closed the connection"
        return got

    def call(self, method: str, params: Any = None, req_id: Any = 1) -> dict[str, Any]:
        """Send one request (NaN and Infinity allowed, as a hostile client would) and check it."""
        self.send(json.dumps({"id": req_id, "method": method, "params": params}).encode() + b"\n")
        return check_reply(self.line(), req_id, check_id=True)

    def ping(self, method: str) -> None:
        """A request that must still work on this connection."""
        reply = self.call(method, {}, req_id="ping")
        assert "result" in reply, reply

    def close(self) -> None:
        self.file.close()
        self.sock.close()

    def __enter__(self) -> Wire:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
