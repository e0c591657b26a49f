"""The approval queue and its state machine: every spawn and config change waits here.

```
pending ──approve──> approved ──> building ──> deployed
   │                                  └──────> failed   (annotated failed/<id>, main unchanged)
   └────deny──────> denied                               (annotated denied/<id> with the note)
```

A request pins its commit at once (``proposal/<id>`` in the applied repo); approve
refuses if the pin moved, and what gets built is always the pinned sha. Two deciders
racing on one approval: the status check and the update are one statement, so exactly
one wins.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, NoReturn, Protocol

from hyperhive.core.agent_config import default_files, parse_agent_toml
from hyperhive.core.agents import AgentRegistry
from hyperhive.core.audit import record_done
from hyperhive.core.errors import Conflict, HyperhiveError, InvalidInput, NotFound, Refused
from hyperhive.core.events import EventBus
from hyperhive.core.models import AgentState, Approval, ApprovalKind, ApprovalStatus, Role
from hyperhive.core.names import MANAGER, SYSTEM, validate_agent_name
from hyperhive.core.notices import notice
from hyperhive.core.repos import Repos
from hyperhive.core.store import Store
from hyperhive.core.store import approvals as q

logger = logging.getLogger(__name__)

Status = ApprovalStatus
Audit = Callable[..., Awaitable[Any]]
# (agent, its agent.toml host, whether it exists) -> (its host, whether the daemon chose it)
Plan = Callable[[str, str | None, bool], Awaitable[tuple[str, bool]]]


class Builder(Protocol):
    """What an approved change is built with (the lifecycle)."""

    async def deploy(self, name: str, sha: str, *, spawn: bool, host: str | None = None) -> None:
        """Build ``name`` at ``sha``; a spawn runs on ``host`` (the approved one) when set."""

    async def create_draft(self, name: str) -> None: ...

    async def destroy(self, name: str, *, by: str) -> None: ...


class Approvals:
    """Requests, decisions and builds of every change to the swarm."""

    def __init__(
        self,
        store: Store,
        events: EventBus,
        repos: Repos,
        agents: AgentRegistry,
        *,
        notify: Callable[[str, str], Awaitable[Any]],
        audit: Audit | None = None,
        driver: str = "claude",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._events = events
        self._repos = repos
        self._agents = agents
        self._notify = notify
        self._audit = audit
        self._clock = clock
        self._driver = driver
        self.builder: Builder | None = None
        # told the agent's name once a new config of it is deployed (clears overrides)
        self.on_deployed: Callable[[str], Awaitable[None]] | None = None
        # the host an agent runs on, and where a change would put it (`Hosts.plan`);
        # both set by the Hive
        self.host_of: Callable[[str], str] = lambda name: "local"
        self.plan_host: Plan = _local
        self._builds: set[asyncio.Task[None]] = set()
        self._requesting = asyncio.Lock()  # a duplicate check and its insert are one step

    # --- reading -------------------------------------------------------------------
    async def get(self, approval_id: int) -> Approval:
        found = await self._store.read(q.get, approval_id)
        if found is None:
            raise NotFound(f"no approval #{approval_id}")
        return found

    async def list(
        self, *, status: str | None = None, agent: str | None = None, limit: int = 500
    ) -> list[Approval]:
        if status is not None and status not in {s.value for s in Status}:
            raise InvalidInput(f"unknown status {status!r}: use one of {', '.join(Status)}")
        return await self._store.read(
            lambda db: q.list_(db, status=status, agent=agent, limit=limit)
        )

    async def pending_count(self) -> int:
        return await self._store.read(q.count_pending)

    async def diffs(self, approval: Approval) -> dict[str, Any]:
        """The pinned change vs the running tree, vs the last approved proposal, and vs
        the previous pending proposal of the same agent (``previous_pending`` its id)."""
        if approval.fetched_sha is None:
            return {
                "vs_running": "",
                "vs_last_approved": "",
                "vs_previous_pending": "",
                "previous_pending": None,
            }
        agent, aid = approval.agent, approval.id
        earlier = await self._store.read(q.previous_pending, agent, aid)
        vs_pending = ""
        if earlier is not None:
            vs_pending = await self._repos.diff(agent, f"proposal/{earlier.id}", f"proposal/{aid}")
        return {
            "vs_running": await self._repos.diff_vs_running(agent, aid),
            "vs_last_approved": await self._repos.diff_vs_last_approved(agent, aid),
            "vs_previous_pending": vs_pending,
            "previous_pending": None if earlier is None else earlier.id,
        }

    # --- requests ------------------------------------------------------------------
    async def request_spawn(self, name: object, *, by: str) -> Approval:
        """One-shot spawn: the default config (or a tombstone's) pinned, container on approve."""
        name = self._new_name(name)
        if not await self._repos.exists(name):
            await self._repos.create(name, default_files(name, Role.AGENT, driver=self._driver))
        head = await self._repos.proposed_head(name)
        assert head is not None
        return await self._create(ApprovalKind.SPAWN, name, by, head)

    async def bootstrap_manager(self) -> Approval | None:
        """The manager exists from the first start: build it from its default config."""
        agent = self._agents.find(MANAGER)
        if agent is not None and agent.applied_sha is not None:
            return None
        if not await self._repos.exists(MANAGER):
            files = default_files(MANAGER, Role.MANAGER, driver=self._driver)
            await self._repos.create(MANAGER, files)
        head = await self._repos.proposed_head(MANAGER)
        assert head is not None
        approval = await self._create(ApprovalKind.SPAWN, MANAGER, SYSTEM, head)
        return await self.approve(approval.id, by=SYSTEM, wait=True)

    async def request_spawn_draft(self, name: object, *, by: str) -> Approval:
        """Two-step spawn, step 1: on approve, a proposed repo and no container."""
        name = self._new_name(name)
        return await self._create(ApprovalKind.SPAWN_DRAFT, name, by, None)

    async def request_spawn_commit(self, name: object, commit_ref: object, *, by: str) -> Approval:
        """Two-step spawn, step 2: a container built from a reviewed commit of the draft."""
        name = validate_agent_name(name)
        agent = self._agents.find(name)
        if agent is None or agent.state is not AgentState.DRAFT:
            raise Refused(f"{name!r} is not a draft: request_spawn_draft first")
        return await self._create(ApprovalKind.SPAWN_COMMIT, name, by, _ref(commit_ref))

    async def request_apply_commit(self, name: object, commit_ref: object, *, by: str) -> Approval:
        """A config change of an existing agent, pinned at ``commit_ref``."""
        name = validate_agent_name(name, allow_manager=True)
        agent = self._agents.get(name)
        if agent.state is AgentState.DRAFT:
            raise Refused(f"{name!r} is a draft: use request_spawn_commit")
        return await self._create(ApprovalKind.APPLY_COMMIT, name, by, _ref(commit_ref))

    async def request_destroy(self, name: object, *, by: str) -> Approval:
        name = validate_agent_name(name)
        self._agents.get(name)
        return await self._create(ApprovalKind.DESTROY, name, by, None)

    def _new_name(self, name: object) -> str:
        name = validate_agent_name(name)
        found = self._agents.find(name)
        if found is not None and found.state is not AgentState.DESTROYED:
            raise Refused(f"agent {name!r} already exists")
        return name

    async def _create(
        self, kind: ApprovalKind, name: str, by: str, commit_ref: str | None
    ) -> Approval:
        """A new pending approval; one that would pin a commit already pending is refused.

        Raises:
            Conflict: naming the pending approval that already asks for the same commit.
        """
        if commit_ref is None:
            return await self._insert(kind, name, by, None)
        async with self._requesting:
            sha = await self._repos.resolve(name, commit_ref)
            if sha is not None:
                dup = await self._store.read(q.pending_with_sha, name, sha)
                if dup is not None:
                    raise Conflict(
                        f"approval #{dup.id} already asks for commit {sha[:12]} of {name} "
                        f"and is pending: wait for the operator's decision on #{dup.id}"
                    )
            return await self._insert(kind, name, by, commit_ref)

    async def _insert(
        self, kind: ApprovalKind, name: str, by: str, commit_ref: str | None
    ) -> Approval:
        base = await self._repos.running_sha(name) if self._agents.find(name) else None
        now = self._clock()
        where = self.host_of(name) if kind is ApprovalKind.DESTROY else None
        approval = await self._store.write(
            lambda db: q.insert(
                db, kind, name, by, now, commit_ref=commit_ref, base_sha=base, host=where
            )
        )
        if commit_ref is not None:
            try:
                sha = await self._repos.pin(name, commit_ref, approval.id)
            except HyperhiveError as exc:
                # the request never existed for anyone: drop the row we reserved
                await self._store.write(q.delete, approval.id)
                raise exc
            message, author = await self._repos.commit_info(name, sha)
            try:
                host, picked = await self._planned_host(kind, name, sha)
            except HyperhiveError as exc:
                problem = f"agent.toml at {sha[:12]}: {exc.message}"
                await self._refuse_at_submit(approval, sha, message, author, by, problem)
            now = self._clock()

            def pin(db: Any) -> Approval | None:
                q.set_pin(db, approval.id, sha, now, message=message, author=author)
                return q.set_host(db, approval.id, host, picked, now)

            pinned: Approval | None = await self._store.write(pin)
            approval = pinned or approval
            await self._repos.tag(name, "proposal", approval.id, sha=sha)
        await self._record(
            by,
            f"request.{kind.value}",
            name,
            {"approval": approval.id, "sha": approval.fetched_sha},
        )
        self._events.publish("approval.created", approval.to_json())
        return approval

    async def _planned_host(self, kind: ApprovalKind, name: str, sha: str) -> tuple[str, bool]:
        """Where the agent runs if ``sha`` is approved, and whether the daemon chose it."""
        try:
            wanted = parse_agent_toml(await self._repos.read_file(name, sha, "agent.toml")).host
        except NotFound:
            wanted = None  # no agent.toml: the defaults apply
        return await self.plan_host(name, wanted, kind is ApprovalKind.APPLY_COMMIT)

    async def _refuse_at_submit(
        self, approval: Approval, sha: str, message: str, author: str, by: str, problem: str
    ) -> NoReturn:
        """Close a request whose config cannot build: recorded as failed, never queued."""
        now = self._clock()

        def op(db: Any) -> Approval | None:
            q.set_pin(db, approval.id, sha, now, message=message, author=author)
            return q.transition(
                db, approval.id, [Status.PENDING], Status.FAILED, now, error=problem
            )

        failed = await self._store.write(op)
        try:
            await self._repos.tag(approval.agent, "failed", approval.id, sha=sha, message=problem)
        except HyperhiveError as exc:
            logger.error("could not tag failed/%d: %s", approval.id, exc)
        await self._record(
            by,
            f"request.{approval.kind.value}",
            approval.agent,
            {"approval": approval.id, "sha": sha, "error": problem},
            result="refused",
        )
        if failed is not None:
            self._events.publish("approval.created", failed.to_json())
        raise InvalidInput(f"request refused: {problem}")

    # --- decisions -----------------------------------------------------------------
    async def approve(self, approval_id: int, *, by: str, wait: bool = False) -> Approval:
        """Approve and start the build; with ``wait``, return after the build ends."""
        current = await self.get(approval_id)
        if current.status is not Status.PENDING:
            raise Refused(f"approval #{approval_id} is {current.status.value}, not pending")
        if current.fetched_sha is not None:
            pinned = await self._repos.approval_sha(current.agent, approval_id)
            if pinned != current.fetched_sha:
                raise Refused(
                    f"approval #{approval_id}: the pinned commit moved "
                    f"({current.fetched_sha[:12]} → {pinned[:12]}); refusing to approve"
                )
        now = self._clock()
        approval = await self._store.write(
            lambda db: q.transition(
                db,
                approval_id,
                [Status.PENDING],
                Status.APPROVED,
                now,
                decided_by=by,
                decided_at=now,
            )
        )
        if approval is None:
            raise Conflict(f"approval #{approval_id} was decided by someone else first")
        if approval.fetched_sha is not None:
            await self._repos.tag(approval.agent, "approved", approval.id)
        await self._record(by, "approve", approval.agent, {"approval": approval.id})
        self._changed(approval)
        task = asyncio.create_task(self._build(approval), name=f"build #{approval.id}")
        self._builds.add(task)
        task.add_done_callback(self._builds.discard)
        if wait:
            await asyncio.shield(task)
            return await self.get(approval_id)
        return approval

    async def deny(self, approval_id: int, *, by: str, note: str = "") -> Approval:
        """Deny with an optional note; the note is kept in an annotated ``denied/<id>`` tag."""
        if not isinstance(note, str) or len(note) > 4096:
            raise InvalidInput("the note must be a string of at most 4096 characters")
        current = await self.get(approval_id)
        if current.status is not Status.PENDING:
            raise Refused(f"approval #{approval_id} is {current.status.value}, not pending")
        now = self._clock()
        approval = await self._store.write(
            lambda db: q.transition(
                db,
                approval_id,
                [Status.PENDING],
                Status.DENIED,
                now,
                decided_by=by,
                decided_at=now,
                note=note,
            )
        )
        if approval is None:
            raise Conflict(f"approval #{approval_id} was decided by someone else first")
        if approval.fetched_sha is not None:
            await self._repos.tag(approval.agent, "denied", approval.id, message=note or "denied")
        await self._record(by, "deny", approval.agent, {"approval": approval.id, "note": note})
        self._changed(approval)
        await self._tell_manager(approval)
        return approval

    # --- building ------------------------------------------------------------------
    async def _build(self, approval: Approval) -> None:
        name, aid = approval.agent, approval.id
        try:
            building = await self._store.write(
                lambda db: q.transition(
                    db, aid, [Status.APPROVED, Status.BUILDING], Status.BUILDING, self._clock()
                )
            )
            if building is None:
                return
            self._changed(building)
            if self.builder is None:
                raise Refused("no builder is configured")
            sha = approval.fetched_sha
            if sha is not None and await self._deployed_in_repo(name, aid):
                # a crash came after the deploy itself: finish the meta commit and the
                # bookkeeping, never build twice
                recorded = (await self._repos.meta_agents()).get(name) or {}
                if recorded.get("approval_id") != aid:
                    await self._repos.advance_applied(name, aid, host=self.host_of(name))
                await self._agents.update(name, applied_sha=sha, stale=0)
                done = await self._store.write(
                    lambda db: q.transition(
                        db, aid, [Status.BUILDING], Status.DEPLOYED, self._clock()
                    )
                )
                await self._record(SYSTEM, "deployed", name, {"approval": aid, "sha": sha})
                if done is not None:
                    self._changed(done)
                    await self._tell_manager(done)
                return
            if sha is not None:
                await self._repos.tag(name, "building", aid)
            if approval.kind in (ApprovalKind.SPAWN, ApprovalKind.SPAWN_COMMIT):
                assert sha is not None
                await self.builder.deploy(name, sha, spawn=True, host=approval.host)
                await self._landed(approval)
            elif approval.kind is ApprovalKind.APPLY_COMMIT:
                assert sha is not None
                await self.builder.deploy(name, sha, spawn=False)
            elif approval.kind is ApprovalKind.SPAWN_DRAFT:
                await self.builder.create_draft(name)
            elif approval.kind is ApprovalKind.DESTROY:
                await self.builder.destroy(name, by=approval.decided_by or "operator")
            if sha is not None:
                await self._repos.advance_applied(name, aid, host=self.host_of(name))
                if self._agents.find(name) is not None:
                    await self._agents.update(name, applied_sha=sha, stale=0)
            done = await self._store.write(
                lambda db: q.transition(db, aid, [Status.BUILDING], Status.DEPLOYED, self._clock())
            )
            await self._record(SYSTEM, "deployed", name, {"approval": aid, "sha": sha})
            if sha is not None and self.on_deployed is not None:
                await self.on_deployed(name)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            error = str(exc) if isinstance(exc, HyperhiveError) else f"{type(exc).__name__}: {exc}"
            if not isinstance(exc, HyperhiveError):
                logger.exception("build of approval #%d failed", aid)
            done = await self._fail(approval, error)
        if done is not None:
            self._changed(done)
            await self._tell_manager(done)

    async def _landed(self, a: Approval) -> None:
        """Record the host a spawn landed on when it is not the one the approval showed."""
        if (host := self.host_of(a.agent)) != a.host:
            now = self._clock()
            if moved := await self._store.write(q.set_host, a.id, host, a.host_picked, now):
                self._changed(moved)

    async def _deployed_in_repo(self, name: str, approval_id: int) -> bool:
        if not self._repos.applied_exists(name):
            return False
        return any(t.id == approval_id for t in await self._repos.tags(name, "deployed"))

    async def _fail(self, approval: Approval, error: str) -> Approval | None:
        now = self._clock()
        failed = await self._store.write(
            lambda db: q.transition(
                db,
                approval.id,
                [Status.APPROVED, Status.BUILDING],
                Status.FAILED,
                now,
                error=error[:4000],
            )
        )
        if approval.fetched_sha is not None and not await self._deployed_in_repo(
            approval.agent, approval.id
        ):
            try:
                await self._repos.tag(
                    approval.agent, "failed", approval.id, message=error or "failed"
                )
            except HyperhiveError as exc:
                logger.error("could not tag failed/%d: %s", approval.id, exc)
        await self._record(
            SYSTEM,
            "build_failed",
            approval.agent,
            {"approval": approval.id, "error": error},
            result="failed",
        )
        return failed

    async def resume(self) -> None:
        """After a restart: finish builds that a crash interrupted."""
        for approval in await self._store.read(q.unfinished):
            logger.warning("resuming the build of approval #%d after a restart", approval.id)
            task = asyncio.create_task(self._build(approval), name=f"build #{approval.id}")
            self._builds.add(task)
            task.add_done_callback(self._builds.discard)

    async def wait_builds(self) -> None:
        """Wait for every running build (tests, shutdown)."""
        while self._builds:
            await asyncio.gather(*list(self._builds), return_exceptions=True)

    # --- helpers -------------------------------------------------------------------
    def _changed(self, approval: Approval) -> None:
        self._events.publish("approval.changed", approval.to_json())

    async def _tell_manager(self, approval: Approval) -> None:
        """One notice per decision and build result (a deploy names its commit)."""
        a = approval
        head = f"approval #{a.id} {a.kind.value} {a.agent}: {a.status.value}"
        remark = ""
        if a.status is Status.DEPLOYED and a.fetched_sha:
            remark = f"at config {a.fetched_sha[:12]}"
        parts = [f"{what}: {text}" for what, text in (("note", a.note), ("error", a.error)) if text]
        await self._notify(MANAGER, notice(head, remark, detail="; ".join(parts)))

    async def _record(
        self, actor: str, action: str, target: str, detail: dict[str, Any], result: str = "ok"
    ) -> None:
        await record_done(self._audit, actor, f"approval.{action}", target, detail, result)


async def _local(agent: str, wanted: str | None, existing: bool) -> tuple[str, bool]:
    """Where agents go without a host registry: the one ``local`` machine."""
    return wanted or "local", wanted is None


def _ref(commit_ref: object) -> str:
    if not isinstance(commit_ref, str):
        raise InvalidInput("commit_ref must be a string")
    return commit_ref
