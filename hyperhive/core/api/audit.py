"""RPC methods of the audit log: read it and check its hash chain."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hyperhive.core.protocol import Caller, Registry, Scope, p

if TYPE_CHECKING:
    from hyperhive.core.hive import Hive


def register(reg: Registry, hive: Hive) -> None:
    audit = hive.audit

    @reg.method(
        "audit.list",
        Scope.HOST,
        limit=p(int, default=50),
        before_id=p(int, None, default=None),
        actor=p(str, None, default=None),
        action=p(str, None, default=None),
    )
    async def list_(
        caller: Caller, limit: int, before_id: int | None, actor: str | None, action: str | None
    ) -> Any:
        """The newest entries (oldest first); page back with ``before_id``."""
        found = await audit.list(limit, before_id, actor, action)
        return {"entries": [e.to_json() for e in found]}

    @reg.method("audit.verify", Scope.HOST)
    async def verify(caller: Caller) -> Any:
        """Check the hash chain: ``{"ok": bool, "problems": [...]}``."""
        ok, problems = await audit.verify()
        return {"ok": ok, "problems": problems}
