"""RPC methods of the terminal service (`core/terminals.py`), relayed over host.sock.

``pty.open`` starts a login shell and returns a session id; output comes as
``pty.output`` events and the end as ``pty.closed``; ``pty.input``, ``pty.resize`` and
``pty.close`` drive it; ``pty.list`` lists every open session.
"""

from __future__ import annotations

import base64
import binascii
from typing import TYPE_CHECKING, Any

from hyperhive.core.errors import InvalidInput
from hyperhive.core.protocol import Caller, Registry, Scope, p

if TYPE_CHECKING:
    from hyperhive.core.hive import Hive


def register(reg: Registry, hive: Hive) -> None:
    terminals = hive.terminals
    reg.on_disconnect.append(terminals.hang_up_owned)

    @reg.method(
        "pty.open",
        Scope.HOST,
        decides=True,
        agent=p(str),
        rows=p(int, default=24),
        cols=p(int, default=80),
    )
    async def open_(caller: Caller, agent: str, rows: int, cols: int) -> Any:
        """Start a login shell in ``agent``'s container on a ``rows`` x ``cols`` terminal."""
        s = await terminals.open(agent, caller.actor, caller.conn, rows, cols)
        return {"id": s.id, "agent": agent}

    @reg.method("pty.input", Scope.HOST, decides=True, id=p(str), data_b64=p(str))
    async def input_(caller: Caller, id: str, data_b64: str) -> Any:
        """Type into a session (base64 of the bytes, at most 64 KiB per call)."""
        terminals.get(id, caller.conn)
        try:
            data = base64.b64decode(data_b64, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise InvalidInput(f"pty.input: data_b64 is not base64: {exc}") from exc
        return {"written": await terminals.write(id, caller.conn, data)}

    @reg.method("pty.resize", Scope.HOST, id=p(str), rows=p(int), cols=p(int))
    async def resize(caller: Caller, id: str, rows: int, cols: int) -> Any:
        """Tell the session's program its terminal is now ``rows`` x ``cols``."""
        terminals.resize(id, caller.conn, rows, cols)
        return {"rows": rows, "cols": cols}

    @reg.method("pty.close", Scope.HOST, id=p(str))
    async def close(caller: Caller, id: str) -> Any:
        """Hang up a session; ``pty.closed`` follows."""
        await terminals.close(id, caller.conn)
        return {"closed": id}

    @reg.method("pty.list", Scope.HOST)
    async def list_(caller: Caller) -> Any:
        """The open terminal sessions."""
        return {
            "sessions": [
                {"id": s.id, "agent": s.agent, "by": s.actor, "yours": s.owner == caller.conn}
                for s in terminals.sessions()
            ]
        }
