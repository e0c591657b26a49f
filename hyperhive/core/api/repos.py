"""RPC methods to browse the config repos: tags, the meta deploy log, files and diffs."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hyperhive.core.names import validate_agent_name
from hyperhive.core.protocol import Caller, Registry, Scope, p

if TYPE_CHECKING:
    from hyperhive.core.hive import Hive

MAX_FILE = 1024 * 1024


def register(reg: Registry, hive: Hive) -> None:
    repos = hive.repos

    @reg.method(
        "repos.tags", Scope.HOST, Scope.MANAGER, agent=p(str), kind=p(str, None, default=None)
    )
    async def tags(caller: Caller, agent: str, kind: str | None) -> Any:
        """An agent's approval tags (of one kind if given), each with ``why``: the first
        line of its approval's commit message."""
        name = validate_agent_name(agent, allow_manager=True)
        found = await repos.tags(name, kind)
        approvals = await hive.approvals.list(agent=name, limit=100_000)
        why = {a.id: a.message.partition("\n")[0] for a in approvals}
        return {"tags": [{**t.to_json(), "why": why.get(t.id, "")} for t in found]}

    @reg.method("repos.meta_log", Scope.HOST, Scope.MANAGER, limit=p(int, default=50))
    async def meta_log(caller: Caller, limit: int) -> Any:
        """The swarm-wide deploy log, newest first."""
        return {"entries": [e.to_json() for e in await repos.meta_log(max(1, min(limit, 5000)))]}

    @reg.method("repos.show", Scope.HOST, Scope.MANAGER, agent=p(str), ref=p(str), path=p(str))
    async def show(caller: Caller, agent: str, ref: str, path: str) -> Any:
        """One file of an agent's applied repo at a tag, sha or ``main``."""
        data = await repos.read_file(validate_agent_name(agent, allow_manager=True), ref, path)
        text = data[:MAX_FILE].decode(errors="replace")
        return {"path": path, "ref": ref, "text": text, "truncated": len(data) > MAX_FILE}

    @reg.method("repos.files", Scope.HOST, Scope.MANAGER, agent=p(str), ref=p(str, default="main"))
    async def files(caller: Caller, agent: str, ref: str) -> Any:
        """The paths of every file at ``ref``."""
        found = await repos.files_at(validate_agent_name(agent, allow_manager=True), ref)
        return {"files": sorted(found)}

    @reg.method(
        "repos.diff",
        Scope.HOST,
        Scope.MANAGER,
        agent=p(str),
        target=p(str),
        base=p(str, None, default=None),
    )
    async def diff(caller: Caller, agent: str, target: str, base: str | None) -> Any:
        """A unified diff between two refs (``base`` null: the empty tree)."""
        name = validate_agent_name(agent, allow_manager=True)
        return {"diff": await repos.diff(name, base, target)}

    @reg.method("repos.gc_tags", Scope.HOST, decides=True, dry_run=p(bool, default=False))
    async def gc_tags(caller: Caller, dry_run: bool) -> Any:
        """Apply tag retention to every agent's applied repo."""
        return {"deleted": await hive.gc_tags(dry_run=dry_run, by=caller.actor)}
