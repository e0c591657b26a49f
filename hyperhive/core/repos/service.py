"""Config as git: the `Repos` service and its pin/deploy steps; the git work is in its siblings."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping
from contextlib import suppress
from pathlib import Path
from typing import Any, TypeVar

from dulwich.objects import Blob, Commit
from dulwich.refs import Ref
from dulwich.repo import Repo

from hyperhive.core import safefs
from hyperhive.core.errors import (
    Conflict,
    HyperhiveError,
    InvalidInput,
    NotFound,
    Refused,
    RepoError,
)
from hyperhive.core.names import validate_agent_name
from hyperhive.core.repos import meta as repos_meta
from hyperhive.core.repos import tags as repos_tags
from hyperhive.core.repos import tree as repos_tree
from hyperhive.core.repos.git import (
    GIT_ERRORS,
    MAIN,
    RAISE,
    TAGS,
    check_id,
    clear_stale_locks,
    commit_files,
    in_repo,
    load,
    main_id,
    main_sha,
    open_repo,
    proposed_snapshot,
    resolve,
    resolve_prefix,
    safe_path,
)
from hyperhive.core.repos.meta import MetaEntry
from hyperhive.core.repos.tags import TAG_KINDS, Tag
from hyperhive.core.settings import Settings

_COMMIT_REF = re.compile(r"[0-9a-fA-F]{7,40}")
T = TypeVar("T")


class Repos:
    """Every git repository of the swarm. dulwich runs in worker threads, one writer per repo."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._locks: dict[str, asyncio.Lock] = {}
        self._meta_lock = asyncio.Lock()

    async def _run(self, lock: asyncio.Lock | None, fn: Callable[..., T], *args: Any) -> T:
        try:
            if lock is None:
                return await asyncio.to_thread(fn, *args)
            async with lock:
                return await asyncio.to_thread(fn, *args)
        except HyperhiveError:
            raise
        except GIT_ERRORS as exc:
            raise RepoError(f"git operation failed: {exc}") from exc

    async def _read(self, path: Path, fn: Callable[..., T], *args: Any, missing: Any = None) -> T:
        """Run ``fn(repo, *args)`` on the repo at ``path``; ``missing`` if there is none."""
        return await self._run(None, in_repo, path, missing, fn, *args)

    def _lock(self, name: str) -> asyncio.Lock:
        return self._locks.setdefault(name, asyncio.Lock())

    def _applied(self, name: str) -> Path:
        return self._settings.applied_dir(validate_agent_name(name, allow_manager=True))

    def _in_proposed(self, name: str, fn: Callable[..., T], *args: Any) -> T:
        """``fn(repo, *args)`` on a private snapshot of the proposed repo (worker thread)."""
        name = validate_agent_name(name, allow_manager=True)
        s = self._settings
        with proposed_snapshot(s.proposed_root, name, s.tmp_dir) as path, open_repo(path) as repo:
            return fn(repo, *args)

    async def clear_stale_locks(self) -> list[Path]:
        """At start-up: drop lock files a crash left in the applied and meta repos."""
        applied_root = self._settings.state_dir / "applied"
        repos = [self._settings.meta_dir]
        if applied_root.is_dir():
            repos += sorted(p for p in applied_root.iterdir() if p.is_dir())
        return await asyncio.to_thread(clear_stale_locks, repos)

    # --- proposed repo ---------------------------------------------------------------
    async def create(
        self, name: str, files: Mapping[str, bytes], *, message: str = "initial config"
    ) -> str:
        """Create the proposed repo of ``name`` holding ``files`` in one commit; return its sha.

        Raises:
            Conflict: the proposed repo exists already.
            InvalidInput: a path is not a safe relative path.
        """
        blobs = {safe_path(path): data for path, data in files.items()}
        name = validate_agent_name(name, allow_manager=True)
        s = self._settings
        return await self._run(
            self._lock(name), _create, s.proposed_root, name, s.tmp_dir, blobs, message
        )

    async def exists(self, name: str) -> bool:
        """Whether the proposed repo of ``name`` exists (its ``.git`` a real directory)."""
        name = validate_agent_name(name, allow_manager=True)
        root = self._settings.proposed_root
        return await asyncio.to_thread(safefs.is_dir, root, f"{name}/config/.git")

    def applied_exists(self, name: str) -> bool:
        """Whether the applied repo of ``name`` exists (a cheap stat)."""
        return (self._applied(name) / ".git").is_dir()

    async def proposed_head(self, name: str) -> str | None:
        """The commit the proposed repo's HEAD points at, or None before the first commit."""
        return await self._run(None, self._in_proposed, name, _head)

    async def remove(self, name: str) -> None:
        """Purge the proposed and applied repos of ``name``; drop it from agents.json."""
        name = validate_agent_name(name, allow_manager=True)
        await self._run(self._lock(name), safefs.remove, self._settings.proposed_root, name)
        await self._run(self._lock(name), _rmtrees, self._applied(name))
        await self._run(
            self._meta_lock, repos_meta.meta_commit, self._settings.meta_dir, name, None, 0
        )

    # --- pinning, tags, deploy -------------------------------------------------------
    async def pin(self, name: str, commit_ref: str, approval_id: int) -> str:
        """Copy a proposed commit (and its history) into the applied repo as ``proposal/<id>``.

        Args:
            name: the agent.
            commit_ref: 7-40 hex digits naming one commit of the proposed repo.
            approval_id: the approval the proposal belongs to.

        Returns:
            The full sha pinned; later edits in the proposed repo change nothing.

        Raises:
            InvalidInput: not hex, ambiguous, not a commit, or a tree with unsafe entries.
            NotFound: no proposed repo, or no such commit in it.
            Conflict: ``proposal/<id>`` already pins another commit.
        """
        if not isinstance(commit_ref, str) or not _COMMIT_REF.fullmatch(commit_ref):
            raise InvalidInput(
                f"commit_ref must be a 7-40 character hex sha, not {commit_ref!r} "
                "(branch and tag names are not accepted)"
            )
        check_id(approval_id)
        args = (_pin, self._applied(name), commit_ref.lower(), approval_id)
        return await self._run(self._lock(name), self._in_proposed, name, *args)

    async def resolve(self, name: str, commit_ref: str) -> str | None:
        """The full sha ``commit_ref`` names in the proposed repo (nothing is pinned).

        None when there is no proposed repo; bad refs raise as `pin` does.
        """
        if not isinstance(commit_ref, str) or not _COMMIT_REF.fullmatch(commit_ref):
            return None  # pin says why
        ref = commit_ref.lower()
        try:  # through a private snapshot, as every read of a proposed repo
            found: bytes | None = await self._run(
                None, self._in_proposed, name, resolve_prefix, ref
            )
        except NotFound:
            return None
        return None if found is None else found.decode()

    async def tag(
        self,
        name: str,
        kind: str,
        approval_id: int,
        *,
        sha: str | None = None,
        message: str | None = None,
        at: float | None = None,
    ) -> Tag:
        """Tag one step of an approval; ``failed``/``denied`` are annotated with ``message``.

        ``sha`` defaults to the approval's pinned commit. Tagging the same commit again is
        a no-op; another commit raises `Conflict`. ``at`` overrides the tag time.
        """
        if kind not in TAG_KINDS:
            raise InvalidInput(f"unknown tag kind {kind!r}: use one of {', '.join(TAG_KINDS)}")
        check_id(approval_id)
        args = (kind, approval_id, sha, message or "", time.time() if at is None else at)
        return await self._run(self._lock(name), repos_tags.create_tag, self._applied(name), *args)

    async def advance_applied(
        self, name: str, approval_id: int, *, at: float | None = None, host: str | None = None
    ) -> str:
        """Tag ``deployed/<id>`` (annotated ``host: <host>``, where the agent runs), move
        applied ``main`` there, commit to the meta repo (whose entry names the ``host``
        when it is not ``local``).

        Raises:
            NotFound: the approval has no pinned commit.
            Refused: the approval has failed or was denied.
        """
        check_id(approval_id)
        when = time.time() if at is None else at
        sha = await self._run(
            self._lock(name), _deploy, self._applied(name), approval_id, host or "local", when
        )
        entry: dict[str, Any] = {"sha": sha, "approval_id": approval_id, "deployed_at": int(when)}
        if host not in (None, "local"):
            entry["host"] = host
        await self._run(
            self._meta_lock, repos_meta.meta_commit, self._settings.meta_dir, name, entry, when
        )
        return sha

    async def running_sha(self, name: str) -> str | None:
        """Where applied ``main`` points (what the agent runs), or None."""
        return await self._read(self._applied(name), main_sha)

    async def approval_sha(self, name: str, approval_id: int) -> str:
        """The commit pinned for an approval, found through any of its tags."""
        sha = await self._read(
            self._applied(name), repos_tags.approval_sha, approval_id, missing=RAISE
        )
        return sha.decode()

    async def tags(self, name: str, kind: str | None = None) -> list[Tag]:
        """The approval tags of ``name`` (of one kind if given), sorted by id, then step."""
        found = await self._read(self._applied(name), repos_tags.tags_in, missing=[])
        return [t for t in found if kind is None or t.kind == kind]

    async def create_tags_bulk(self, name: str, tags: Iterable[Tag]) -> int:
        """Create many tags at once as packed refs (imports, benchmarks); return how many."""
        return await self._run(
            self._lock(name), repos_tags.create_bulk, self._applied(name), list(tags)
        )

    async def gc_tags(
        self, name: str, *, now: float, keep_days: float, dry_run: bool = False
    ) -> list[str]:
        """Apply tag retention; return the names deleted (or, with ``dry_run``, to delete).

        Keeps ``deployed/*`` forever; drops ``proposal|approved|building/<id>`` once
        ``deployed|failed|denied/<id>`` exists; drops ``failed/*`` and ``denied/*`` tagged
        more than ``keep_days`` before ``now``.
        """
        cutoff = now - keep_days * 86400
        return await self._run(
            self._lock(name), repos_tags.gc, self._applied(name), cutoff, dry_run
        )

    # --- reading -----------------------------------------------------------------------
    async def diff(self, name: str, base: str | None, target: str) -> str:
        """Unified diff between two refs of the applied repo, as ``git diff --no-renames``.

        Refs are tag names (``proposal/3``), ``main``, full ref names or hex shas; a
        ``base`` of None is the empty tree.
        """
        return await self._read(self._applied(name), repos_tree.diff, base, target, missing=RAISE)

    async def diff_vs_running(self, name: str, approval_id: int) -> str:
        """The diff of an approval's pinned commit against what the agent runs now."""
        return await self._read(self._applied(name), _diff_vs, approval_id, True, missing=RAISE)

    async def diff_vs_last_approved(self, name: str, approval_id: int) -> str:
        """The diff against the last approved or deployed proposal before this one."""
        applied = self._applied(name)
        return await self._read(applied, _diff_vs, approval_id, False, missing=RAISE)

    async def read_file(self, name: str, ref: str, path: str) -> bytes:
        """One file of the applied repo at ``ref``."""
        raw = safe_path(path)
        return await self._read(self._applied(name), repos_tree.read_file, ref, raw, missing=RAISE)

    async def commit_info(self, name: str, ref: str) -> tuple[str, str]:
        """``(message, author)`` of a commit of the applied repo (the message cut at 8 KiB)."""
        return await self._read(self._applied(name), _commit_info, ref, missing=RAISE)

    async def files_at(self, name: str, ref: str) -> dict[str, bytes]:
        """Every file of the applied repo at ``ref``, by path."""
        return await self._read(self._applied(name), repos_tree.files_at, ref, missing=RAISE)

    async def export_tree(self, name: str, ref: str, dest: Path) -> str:
        """Write the tree at ``ref`` into ``dest`` (absent or empty); return the commit sha."""
        return await self._run(None, repos_tree.export, self._applied(name), ref, Path(dest))

    async def meta_log(self, limit: int = 50) -> list[MetaEntry]:
        """The newest ``limit`` commits of the meta repo, newest first."""
        return await self._read(self._settings.meta_dir, repos_meta.meta_log, limit, missing=[])

    async def meta_agents(self) -> dict[str, dict[str, Any]]:
        """The meta repo's agents.json: per agent the sha, approval id and deploy time."""
        meta = self._settings.meta_dir
        return await self._read(
            meta, lambda repo: repos_meta.meta_tree(repo, main_id(repo)), missing={}
        )


# --- the steps, run in worker threads ------------------------------------------------------


def _create(root: Path, name: str, scratch: Path, files: dict[bytes, bytes], message: str) -> str:
    """Build the repo in the daemon's scratch dir, then move it into ``root/<name>/config``.

    ``root`` is the manager's to write: nothing is written through a path there, the
    finished repo is renamed in relative to a directory fd reached without links.
    """
    scratch.mkdir(mode=0o700, parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f"create-{name}-", dir=scratch))
    try:
        staged = work / "config"
        with open_repo(staged, create=True) as repo:
            entries = {path: (0o100644, Blob.from_string(data)) for path, data in files.items()}
            commit = commit_files(repo, entries, None, message, time.time())
            repos_tree.checkout(repo, None, load(repo, commit, Commit).tree)
        os.chmod(staged, 0o755)
        root.mkdir(mode=0o755, parents=True, exist_ok=True)
        safefs.ensure_dir(root, name)
        with safefs.parent_of(root, f"{name}/config") as (dfd, leaf):
            try:
                os.stat(leaf, dir_fd=dfd, follow_symlinks=False)
            except FileNotFoundError:
                os.rename(staged, leaf, dst_dir_fd=dfd)
            else:
                raise Conflict(f"/agents/{name}/config already exists")
        return commit.decode()
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _head(repo: Repo) -> str | None:
    with suppress(KeyError):
        return repo.refs[Ref(b"HEAD")].decode()
    return None


def _rmtrees(*paths: Path) -> None:
    for path in paths:
        if path.exists():
            shutil.rmtree(path)


def _pin(src: Repo, applied: Path, ref: str, approval_id: int) -> str:
    """Copy commit ``ref`` of ``src`` (a snapshot of the proposed repo) into ``applied``."""
    sha = resolve_prefix(src, ref)
    repos_tree.check_tree(src, load(src, sha, Commit).tree, sha.decode())
    tag_ref = Ref(TAGS + b"proposal/%d" % approval_id)
    with open_repo(applied, create=True) as dst:
        existing = repos_tags.tag_refs(dst).get(tag_ref)
        if existing is not None and existing != sha:
            raise Conflict(f"proposal/{approval_id} already pins {existing.decode()[:12]}")
        objects = repos_tree.missing_objects(src, dst, sha)
        if objects:
            dst.object_store.add_objects([(o, None) for o in objects])
        if existing is None:
            dst.refs.add_if_new(tag_ref, sha)
    return sha.decode()


def _deploy(applied: Path, approval_id: int, host: str, when: float) -> str:
    with open_repo(applied) as repo:
        refs = repos_tags.tag_refs(repo)
        for kind in ("failed", "denied"):
            if repos_tags.tag_ref(kind, approval_id) in refs:
                raise Refused(f"approval {approval_id} is {kind}; it cannot be deployed")
        sha = repos_tags.approval_sha(repo, approval_id)
        if repos_tags.tag_ref("deployed", approval_id) not in refs:
            repos_tags.add_annotated(repo, "deployed", approval_id, sha, f"host: {host}", when)
        old = main_id(repo)
        if old != sha and not repo.refs.set_if_equals(MAIN, old, sha):
            raise Conflict("applied main moved during the deploy")
        old_tree = load(repo, old, Commit).tree if old else None
        repos_tree.checkout(repo, old_tree, load(repo, sha, Commit).tree)
        return sha.decode()


def _diff_vs(repo: Repo, approval_id: int, running: bool) -> str:
    target = repos_tags.approval_sha(repo, approval_id).decode()
    if running:
        return repos_tree.diff(repo, main_sha(repo), target)
    earlier = [t for t in repos_tags.tags_in(repo) if t.kind in ("approved", "deployed")]
    earlier = [t for t in earlier if t.id < approval_id]
    return repos_tree.diff(repo, max(earlier, key=lambda t: t.id).sha if earlier else None, target)


COMMIT_MESSAGE_MAX = 8192


def _commit_info(repo: Repo, ref: str) -> tuple[str, str]:
    commit = load(repo, resolve(repo, ref), Commit)
    message = commit.message[:COMMIT_MESSAGE_MAX].decode("utf-8", "replace").strip()
    return message, commit.author.decode("utf-8", "replace")[:500]
