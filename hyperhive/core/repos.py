"""Config as git: proposed and applied repos per agent, approval tags, diffs, the meta repo."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import stat
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from dulwich import errors as dulwich_errors
from dulwich.diff_tree import tree_changes
from dulwich.file import GitFile
from dulwich.index import Index, commit_tree, index_entry_from_stat
from dulwich.objects import Blob, Commit, ObjectID, ShaFile, Tree
from dulwich.objects import Tag as TagObject
from dulwich.refs import Ref, check_ref_format, write_packed_refs
from dulwich.repo import Repo

from hyperhive.core import repos_diff
from hyperhive.core.errors import (
    Conflict,
    HyperhiveError,
    InvalidInput,
    NotFound,
    Refused,
    RepoError,
)
from hyperhive.core.settings import Settings, validate_agent_name

IDENTITY = b"hyperhive <hyperhive@localhost>"
TAG_KINDS = ("proposal", "approved", "building", "deployed", "failed", "denied")
ANNOTATED_KINDS = frozenset({"failed", "denied"})
TERMINAL_KINDS = frozenset({"deployed", "failed", "denied"})
META_FILE = b"agents.json"
MAIN = Ref(b"refs/heads/main")
_TAGS = b"refs/tags/"
_COMMIT_REF = re.compile(r"[0-9a-fA-F]{7,40}")
_TAG_NAME = re.compile(rf"({'|'.join(TAG_KINDS)})/([0-9]+)")
_DEPLOY_MSG = re.compile(r"deploy (\S+) deployed/([0-9]+) ([0-9a-f]{12})")
_FILE_MODES = (0o100644, 0o100755)
_MAX_PACKS = 32  # every pin adds a pack; repack past this so object lookups stay fast
_GIT_ERRORS: tuple[type[Exception], ...] = (
    OSError,
    ValueError,
    KeyError,
    dulwich_errors.ChecksumMismatch,
    dulwich_errors.FileFormatException,
    dulwich_errors.WrongObjectException,
    dulwich_errors.ObjectMissing,
)
T = TypeVar("T")


@dataclass(frozen=True)
class Tag:
    """One approval tag of an applied repo, e.g. ``failed/12``."""

    name: str
    kind: str
    id: int
    sha: str  # the commit it points at (peeled)
    message: str = ""  # annotated tags only: the error or the operator's note
    tagged_at: float | None = None  # annotated tags only

    @classmethod
    def make(
        cls, kind: str, id: int, sha: str, message: str = "", tagged_at: float | None = None
    ) -> Tag:
        """A tag value whose name is derived from kind and id."""
        return cls(f"{kind}/{id}", kind, id, sha, message, tagged_at)

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class MetaEntry:
    """One commit of the meta repo: a deploy (or the removal) of one agent."""

    sha: str
    ts: float
    message: str
    agent: str | None
    approval_id: int | None
    agent_sha: str | None

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


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
        except _GIT_ERRORS as exc:
            raise RepoError(f"git operation failed: {exc}") from exc

    async def _read(self, path: Path, fn: Callable[..., T], *args: Any, missing: Any = None) -> T:
        """Run ``fn(repo, *args)`` on the repo at ``path``; ``missing`` if there is none."""
        return await self._run(None, _in_repo, path, missing, fn, *args)

    def _lock(self, name: str) -> asyncio.Lock:
        return self._locks.setdefault(name, asyncio.Lock())

    def _applied(self, name: str) -> Path:
        return self._settings.applied_dir(validate_agent_name(name, allow_manager=True))

    def _proposed(self, name: str) -> Path:
        return self._settings.proposed_dir(validate_agent_name(name, allow_manager=True))

    # --- proposed repo ---------------------------------------------------------------
    async def create(
        self, name: str, files: Mapping[str, bytes], *, message: str = "initial config"
    ) -> str:
        """Create the proposed repo of ``name`` holding ``files`` in one commit; return its sha.

        Raises:
            Conflict: the proposed repo exists already.
            InvalidInput: a path is not a safe relative path.
        """
        blobs = {_safe_path(path): data for path, data in files.items()}
        return await self._run(self._lock(name), _create, self._proposed(name), blobs, message)

    async def exists(self, name: str) -> bool:
        """Whether the proposed repo of ``name`` exists."""
        return await asyncio.to_thread((self._proposed(name) / ".git").is_dir)

    async def proposed_head(self, name: str) -> str | None:
        """The commit the proposed repo's HEAD points at, or None before the first commit."""
        return await self._read(self._proposed(name), _head, missing=_RAISE)

    async def remove(self, name: str) -> None:
        """Purge the proposed and applied repos of ``name``; drop it from agents.json."""
        dirs = (self._proposed(name), self._applied(name))
        await self._run(self._lock(name), _rmtrees, *dirs)
        await self._run(self._meta_lock, _meta_commit, self._settings.meta_dir, name, None, 0)

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
        _check_id(approval_id)
        dirs = (self._proposed(name), self._applied(name))
        return await self._run(self._lock(name), _pin, *dirs, commit_ref.lower(), approval_id)

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
        _check_id(approval_id)
        args = (kind, approval_id, sha, message or "", time.time() if at is None else at)
        return await self._run(self._lock(name), _tag, self._applied(name), *args)

    async def deploy(self, name: str, approval_id: int, *, at: float | None = None) -> str:
        """Tag ``deployed/<id>``, move applied ``main`` there, commit to the meta repo.

        Raises:
            NotFound: the approval has no pinned commit.
            Refused: the approval has failed or was denied.
        """
        _check_id(approval_id)
        when = time.time() if at is None else at
        sha = await self._run(self._lock(name), _deploy, self._applied(name), approval_id)
        entry = {"sha": sha, "approval_id": approval_id, "deployed_at": int(when)}
        await self._run(self._meta_lock, _meta_commit, self._settings.meta_dir, name, entry, when)
        return sha

    async def running_sha(self, name: str) -> str | None:
        """Where applied ``main`` points (what the agent runs), or None."""
        return await self._read(self._applied(name), _main)

    async def approval_sha(self, name: str, approval_id: int) -> str:
        """The commit pinned for an approval, found through any of its tags."""
        sha = await self._read(self._applied(name), _approval_sha, approval_id, missing=_RAISE)
        return sha.decode()

    async def tags(self, name: str, kind: str | None = None) -> list[Tag]:
        """The approval tags of ``name`` (of one kind if given), sorted by id, then step."""
        found = await self._read(self._applied(name), _tags_in, missing=[])
        return [t for t in found if kind is None or t.kind == kind]

    async def create_tags_bulk(self, name: str, tags: Iterable[Tag]) -> int:
        """Create many tags at once as packed refs (imports, benchmarks); return how many."""
        return await self._run(self._lock(name), _create_bulk, self._applied(name), list(tags))

    async def gc_tags(
        self, name: str, *, now: float, keep_days: float, dry_run: bool = False
    ) -> list[str]:
        """Apply tag retention; return the names deleted (or, with ``dry_run``, to delete).

        Keeps ``deployed/*`` forever; drops ``proposal|approved|building/<id>`` once
        ``deployed|failed|denied/<id>`` exists; drops ``failed/*`` and ``denied/*`` tagged
        more than ``keep_days`` before ``now``.
        """
        cutoff = now - keep_days * 86400
        return await self._run(self._lock(name), _gc, self._applied(name), cutoff, dry_run)

    # --- reading -----------------------------------------------------------------------
    async def diff(self, name: str, base: str | None, target: str) -> str:
        """Unified diff between two refs of the applied repo, as ``git diff --no-renames``.

        Refs are tag names (``proposal/3``), ``main``, full ref names or hex shas; a
        ``base`` of None is the empty tree.
        """
        return await self._read(self._applied(name), _diff, base, target, missing=_RAISE)

    async def diff_vs_running(self, name: str, approval_id: int) -> str:
        """The diff of an approval's pinned commit against what the agent runs now."""
        return await self._read(self._applied(name), _diff_vs, approval_id, True, missing=_RAISE)

    async def diff_vs_last_approved(self, name: str, approval_id: int) -> str:
        """The diff against the last approved or deployed proposal before this one."""
        applied = self._applied(name)
        return await self._read(applied, _diff_vs, approval_id, False, missing=_RAISE)

    async def read_file(self, name: str, ref: str, path: str) -> bytes:
        """One file of the applied repo at ``ref``."""
        raw = _safe_path(path)
        return await self._read(self._applied(name), _read_file, ref, raw, missing=_RAISE)

    async def files_at(self, name: str, ref: str) -> dict[str, bytes]:
        """Every file of the applied repo at ``ref``, by path."""
        return await self._read(self._applied(name), _files_at, ref, missing=_RAISE)

    async def export_tree(self, name: str, ref: str, dest: Path) -> str:
        """Write the tree at ``ref`` into ``dest`` (absent or empty); return the commit sha."""
        return await self._run(None, _export, self._applied(name), ref, Path(dest))

    async def meta_log(self, limit: int = 50) -> list[MetaEntry]:
        """The newest ``limit`` commits of the meta repo, newest first."""
        return await self._read(self._settings.meta_dir, _meta_log, limit, missing=[])

    async def meta_agents(self) -> dict[str, dict[str, Any]]:
        """The meta repo's agents.json: per agent the sha, approval id and deploy time."""
        meta = self._settings.meta_dir
        return await self._read(meta, lambda repo: _meta_tree(repo, _branch(repo)), missing={})


# --- helpers, run in worker threads -------------------------------------------------------


def _check_id(approval_id: object) -> None:
    if not isinstance(approval_id, int) or isinstance(approval_id, bool) or approval_id < 0:
        raise InvalidInput(f"approval id must be a non-negative integer, not {approval_id!r}")


def _safe_name(name: bytes) -> bool:
    return name not in (b"", b".", b"..") and name.lower() != b".git" and b"\0" not in name


def _safe_path(path: str) -> bytes:
    raw = path.encode("utf-8", "surrogateescape") if isinstance(path, str) else b""
    if not raw or not all(_safe_name(part) for part in raw.split(b"/")):
        raise InvalidInput(f"unsafe path {path!r}: use a relative path without '..' or '.git'")
    return raw


@contextmanager
def _open(path: Path, *, create: bool = False) -> Iterator[Repo]:
    if create and not _exists(path):
        path.mkdir(parents=True, exist_ok=True)
        repo = Repo.init(str(path), default_branch=b"main")
    else:
        try:
            repo = Repo(str(path))
        except dulwich_errors.NotGitRepository as exc:
            raise NotFound(f"no git repo at {path}") from exc
    try:
        yield repo
    finally:
        repo.close()


_RAISE: Any = object()  # `missing` sentinel: a repo that is not there is an error


def _in_repo(path: Path, missing: Any, fn: Callable[..., T], *args: Any) -> T:
    if not _exists(path):
        if missing is _RAISE:
            raise NotFound(f"no git repo at {path}")
        result: T = missing
        return result
    with _open(path) as repo:
        return fn(repo, *args)


def _exists(path: Path) -> bool:
    return (path / ".git" / "HEAD").exists()


def _branch(repo: Repo) -> ObjectID | None:
    return repo.refs.as_dict(Ref(b"refs/heads")).get(Ref(b"main"))


def _obj(repo: Repo, sha: bytes, cls: type[T]) -> T:
    obj = repo[ObjectID(sha)]
    if not isinstance(obj, cls):
        raise InvalidInput(f"{sha.decode()[:12]} is a {obj.type_name.decode()}, not what was asked")
    return obj


def _commit(tree: bytes, parents: list[ObjectID], message: str, when: float) -> Commit:
    commit = Commit()
    commit.tree = ObjectID(tree)
    commit.parents = parents
    commit.author = commit.committer = IDENTITY
    commit.author_time = commit.commit_time = int(when)
    commit.author_timezone = commit.commit_timezone = 0
    commit.message = message.encode() + b"\n"
    return commit


def _create(proposed: Path, files: dict[bytes, bytes], message: str) -> str:
    if _exists(proposed):
        raise Conflict(f"{proposed} already holds a repo")
    with _open(proposed, create=True) as repo:
        entries = {path: (0o100644, Blob.from_string(data)) for path, data in files.items()}
        commit = _commit_files(repo, entries, None, message, time.time())
        _checkout(repo, None, _obj(repo, commit, Commit).tree)
        return commit.decode()


def _commit_files(
    repo: Repo,
    files: Mapping[bytes, tuple[int, Blob]],
    parent: ObjectID | None,
    message: str,
    when: float,
) -> ObjectID:
    """Commit ``{path: (mode, blob)}`` on top of ``parent`` and move main there."""
    for _mode, blob in files.values():
        if blob.id not in repo.object_store:
            repo.object_store.add_object(blob)
    tree = commit_tree(repo.object_store, [(p, b.id, m) for p, (m, b) in sorted(files.items())])
    commit = _commit(tree, [parent] if parent else [], message, when)
    repo.object_store.add_object(commit)
    if not repo.refs.set_if_equals(MAIN, parent, commit.id):
        raise Conflict(f"main of {repo.path} moved during the commit")
    return commit.id


def _checkout(repo: Repo, old_tree: ObjectID | None, new_tree: ObjectID) -> None:
    """Make the working tree and index match ``new_tree``, file by file, in place.

    In place because runtimes bind-mount the directory; each file is replaced atomically.
    Only paths of ``old_tree`` are deleted: anything else in the directory is left alone.
    """
    root = Path(repo.path)
    new = {path: (mode, sha) for path, mode, sha in _walk(repo, new_tree)}
    for path, _mode, _sha in _walk(repo, old_tree) if old_tree else ():
        if path not in new:
            target = root / os.fsdecode(path)
            target.unlink(missing_ok=True)
            with suppress(OSError):  # not empty: fine
                for parent in target.relative_to(root).parents[:-1]:
                    (root / parent).rmdir()
    index = Index(repo.index_path(), read=False)
    for path, (mode, sha) in new.items():
        if not all(_safe_name(part) for part in path.split(b"/")):
            raise InvalidInput(f"unsafe path {path!r} in {repo.path}")
        target = root / os.fsdecode(path)
        _write_atomic(target, _obj(repo, sha, Blob).data, 0o755 if mode == 0o100755 else 0o644)
        index[path] = index_entry_from_stat(os.lstat(target), sha, mode)
    index.write()


def _write_atomic(target: Path, data: bytes, mode: int) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.hyperhive-tmp")
    tmp.write_bytes(data)
    tmp.chmod(mode)
    os.replace(tmp, target)


def _head(repo: Repo) -> str | None:
    with suppress(KeyError):
        return repo.refs[Ref(b"HEAD")].decode()
    return None


def _rmtrees(*paths: Path) -> None:
    for path in paths:
        if path.exists():
            shutil.rmtree(path)


def _resolve_prefix(repo: Repo, prefix: str) -> ObjectID:
    hits = list(repo.object_store.iter_prefix(prefix.encode()))
    commits = [h for h in hits if repo[h].type_name == b"commit"]
    if len(commits) > 1:
        raise InvalidInput(f"commit {prefix} is ambiguous in {repo.path}: give more digits")
    if commits:
        return commits[0]
    if hits:
        kind = repo[hits[0]].type_name.decode()
        raise InvalidInput(f"{prefix} is a {kind} in {repo.path}, not a commit")
    raise NotFound(f"no commit {prefix} in {repo.path}")


def _check_tree(repo: Repo, tree_id: bytes, commit: str, prefix: bytes = b"") -> None:
    """Refuse trees that could escape a checkout: odd names, symlinks, submodules."""
    for entry in _obj(repo, tree_id, Tree).iteritems():
        path = prefix + entry.path
        if not _safe_name(entry.path) or b"/" in entry.path:
            raise InvalidInput(f"commit {commit[:12]} has an unsafe path {path!r}")
        if stat.S_ISDIR(entry.mode):
            _check_tree(repo, entry.sha, commit, path + b"/")
        elif entry.mode not in _FILE_MODES:
            raise InvalidInput(
                f"commit {commit[:12]} has a symlink or submodule at {path.decode()!r}; "
                "only regular files are allowed"
            )


def _missing_objects(src: Repo, dst: Repo, sha: ObjectID) -> list[ShaFile]:
    """Objects reachable from ``sha`` that ``dst`` lacks (a commit there implies its closure)."""
    out: list[ShaFile] = []
    seen: set[ObjectID] = set()

    def want(obj_id: ObjectID) -> bool:
        if obj_id in seen or obj_id in dst.object_store:
            return False
        seen.add(obj_id)
        return True

    commits = [sha]
    while commits:
        commit_id = commits.pop()
        if want(commit_id):
            commit = _obj(src, commit_id, Commit)
            out.append(commit)
            commits.extend(commit.parents)
            trees = [commit.tree]
            while trees:
                tree_id = trees.pop()
                if want(tree_id):
                    tree = _obj(src, tree_id, Tree)
                    out.append(tree)
                    for entry in tree.iteritems():
                        if stat.S_ISDIR(entry.mode):
                            trees.append(entry.sha)
                        elif entry.mode != 0o160000 and want(entry.sha):
                            out.append(src[entry.sha])
    return out


def _pin(proposed: Path, applied: Path, ref: str, approval_id: int) -> str:
    with _open(proposed) as src:
        sha = _resolve_prefix(src, ref)
        _check_tree(src, _obj(src, sha, Commit).tree, sha.decode())
        tag_ref = Ref(_TAGS + b"proposal/%d" % approval_id)
        with _open(applied, create=True) as dst:
            existing = _tag_refs(dst).get(tag_ref)
            if existing is not None and existing != sha:
                raise Conflict(f"proposal/{approval_id} already pins {existing.decode()[:12]}")
            objects = _missing_objects(src, dst, sha)
            if objects:
                dst.object_store.add_objects([(o, None) for o in objects])
            if existing is None:
                dst.refs.add_if_new(tag_ref, sha)
    return sha.decode()


def _peel(repo: Repo, sha: ObjectID) -> tuple[ObjectID, TagObject | None]:
    obj = repo[sha]
    first = obj if isinstance(obj, TagObject) else None
    while isinstance(obj, TagObject):
        obj = repo[obj.object[1]]
    if not isinstance(obj, Commit):
        raise InvalidInput(f"{sha.decode()[:12]} does not point at a commit")
    return obj.id, first


def _packed(repo: Repo) -> dict[Ref, tuple[ObjectID, ObjectID | None]]:
    """Every packed ref as (sha, peeled); peeled None when the file does not say.

    Parsed here rather than through dulwich's ref API, which validates and stats per ref:
    listing 10,000 tags that way costs most of a second.
    """
    out: dict[Ref, tuple[ObjectID, ObjectID | None]] = {}
    with (
        suppress(FileNotFoundError),
        open(os.path.join(repo.controldir(), "packed-refs"), "rb") as f,
    ):
        header = f.readline()
        knows_tags = header.startswith(b"# pack-refs with:") and b" peeled" in header
        lines = ([] if header.startswith(b"#") else [header]) + f.read().splitlines()
        last = None
        for line in lines:
            if line.startswith(b"^") and last is not None:
                out[last] = (out[last][0], ObjectID(line[1:].strip()))
            elif len(line) > 41 and not line.startswith((b"#", b"^")):
                sha, name = ObjectID(line[:40]), Ref(line[41:].rstrip(b"\r\n"))
                # with the "peeled" trait, a tag without a ^ line is known not annotated
                out[name] = (sha, sha if knows_tags and name.startswith(_TAGS) else None)
                last = name
    return out


def _tag_table(repo: Repo) -> dict[Ref, tuple[ObjectID, ObjectID | None]]:
    """Every tag as (sha, peeled or None); a loose ref wins over a packed one."""
    table = {ref: v for ref, v in _packed(repo).items() if ref.startswith(_TAGS)}
    root = os.path.join(repo.controldir(), "refs", "tags")
    for dirpath, _dirs, files in os.walk(root):
        for file in files:
            path = os.path.join(dirpath, file)
            with open(path, "rb") as f:
                sha = f.read().strip()
            if len(sha) == 40 and not file.endswith(".lock"):
                name = os.path.relpath(path, repo.controldir()).replace(os.sep, "/")
                table[Ref(name.encode())] = (ObjectID(sha), None)
    return table


def _tag_refs(repo: Repo) -> dict[Ref, ObjectID]:
    return {ref: sha for ref, (sha, _peeled) in _tag_table(repo).items()}


def _tag_ref(kind: str, approval_id: int) -> Ref:
    return Ref(_TAGS + f"{kind}/{approval_id}".encode())


def _approval_sha(repo: Repo, approval_id: int) -> ObjectID:
    refs = _tag_refs(repo)
    for kind in TAG_KINDS:
        if (sha := refs.get(_tag_ref(kind, approval_id))) is not None:
            return _peel(repo, sha)[0]
    raise NotFound(f"approval {approval_id} has no pinned commit in {repo.path}")


def _tag_object(kind: str, approval_id: int, sha: bytes, message: str, when: float) -> TagObject:
    tag = TagObject()
    tag.name = f"{kind}/{approval_id}".encode()
    tag.object = (Commit, ObjectID(sha))
    tag.tagger = IDENTITY
    tag.tag_time = int(when)
    tag.tag_timezone = 0
    tag.message = message.encode() + (b"\n" if message and not message.endswith("\n") else b"")
    return tag


def _tag(
    applied: Path, kind: str, approval_id: int, sha: str | None, message: str, at: float
) -> Tag:
    with _open(applied) as repo:
        target = _approval_sha(repo, approval_id) if sha is None else _resolve(repo, sha)
        ref = _tag_ref(kind, approval_id)
        existing = _tag_refs(repo).get(ref)
        if existing is not None:
            if _peel(repo, existing)[0] != target:
                raise Conflict(f"{kind}/{approval_id} already points at another commit")
            return _read_tag(repo, ref, existing)
        if kind not in ANNOTATED_KINDS:
            repo.refs.add_if_new(ref, target)
            return Tag.make(kind, approval_id, target.decode())
        obj = _tag_object(kind, approval_id, target, message, at)
        repo.object_store.add_object(obj)
        repo.refs.add_if_new(ref, obj.id)
        return _read_tag(repo, ref, obj.id)


def _read_tag(repo: Repo, ref: Ref, sha: ObjectID, peeled: ObjectID | None = None) -> Tag:
    match = _TAG_NAME.fullmatch(ref[len(_TAGS) :].decode())
    assert match is not None
    kind, approval_id = match[1], int(match[2])
    if peeled == sha:  # packed-refs says it is not annotated: no object to read
        return Tag.make(kind, approval_id, sha.decode())
    obj: ShaFile | None = repo[sha]
    if peeled is not None and isinstance(obj, TagObject):
        commit = peeled  # packed-refs knows the commit: skip reading it
    else:
        commit, obj = _peel(repo, sha)
    if not isinstance(obj, TagObject):
        return Tag.make(kind, approval_id, commit.decode())
    message = obj.message.decode("utf-8", "replace").removesuffix("\n")
    return Tag.make(kind, approval_id, commit.decode(), message, float(obj.tag_time))


def _tags_in(repo: Repo) -> list[Tag]:
    order = {kind: i for i, kind in enumerate(TAG_KINDS)}
    out = [
        _read_tag(repo, ref, sha, peeled)
        for ref, (sha, peeled) in _tag_table(repo).items()
        if _TAG_NAME.fullmatch(ref[len(_TAGS) :].decode("utf-8", "replace"))
    ]
    return sorted(out, key=lambda t: (t.id, order[t.kind]))


def _write_packed(repo: Repo, add: Mapping[Ref, tuple[ObjectID, ObjectID]], drop: set[Ref]) -> None:
    """Rewrite packed-refs once: add ``{ref: (sha, peeled)}``, drop ``drop``.

    One rewrite, not one per ref, keeps 10,000 tags cheap; the peeled lines tell git
    which packed tags are annotated.
    """
    packed: dict[Ref, ObjectID] = {}
    peeled: dict[Ref, ObjectID] = {}
    for ref, (sha, peel) in _packed(repo).items():
        packed[ref] = sha
        if peel is None and ref.startswith(_TAGS) and ref not in drop:
            peel = _peel(repo, sha)[0]
        if peel is not None and peel != sha:
            peeled[ref] = peel
    for ref in drop:
        packed.pop(ref, None)
        peeled.pop(ref, None)
    for ref, (sha, peel) in add.items():
        packed[ref] = sha
        if peel != sha:
            peeled[ref] = peel
    with GitFile(os.path.join(repo.controldir(), "packed-refs"), "wb") as f:
        write_packed_refs(f, packed, peeled)
    # only now: a loose ref would shadow the packed one, or resurrect a dropped one
    for ref in [*drop, *add]:
        with suppress(FileNotFoundError):
            os.unlink(os.path.join(repo.controldir(), os.fsdecode(ref)))


def _create_bulk(applied: Path, tags: list[Tag]) -> int:
    with _open(applied, create=True) as repo:
        existing = _tag_refs(repo)
        add: dict[Ref, tuple[ObjectID, ObjectID]] = {}
        objects: list[tuple[ShaFile, None]] = []
        commits: set[bytes] = set()
        for tag in tags:
            ref, sha = _tag_ref(tag.kind, tag.id), ObjectID(tag.sha.encode())
            if tag.kind not in TAG_KINDS or ref in existing or ref in add:
                raise Conflict(f"tag {tag.name} exists already or is not an approval tag")
            if sha not in commits:
                if sha not in repo.object_store:
                    raise NotFound(f"no commit {tag.sha} in {repo.path}")
                commits.add(_peel(repo, sha)[0])
            if tag.kind in ANNOTATED_KINDS:
                when = time.time() if tag.tagged_at is None else tag.tagged_at
                obj = _tag_object(tag.kind, tag.id, sha, tag.message, when)
                objects.append((obj, None))
                add[ref] = (obj.id, sha)
            else:
                add[ref] = (sha, sha)
        if objects:
            repo.object_store.add_objects(objects)
        _write_packed(repo, add, set())
        return len(add)


def _gc(applied: Path, cutoff: float, dry_run: bool) -> list[str]:
    if not _exists(applied):
        return []
    with _open(applied) as repo:
        tags = _tags_in(repo)
        terminal = {t.id for t in tags if t.kind in TERMINAL_KINDS}
        doomed = [
            t.name
            for t in tags
            if (t.kind not in TERMINAL_KINDS and t.id in terminal)
            or (t.kind in ANNOTATED_KINDS and t.tagged_at is not None and t.tagged_at < cutoff)
        ]
        if not dry_run:
            if doomed:
                _write_packed(repo, {}, {Ref(_TAGS + n.encode()) for n in doomed})
            if len(repo.object_store.packs) > _MAX_PACKS:
                repo.object_store.repack()
        return doomed


def _main(repo: Repo) -> str | None:
    sha = _branch(repo)
    return sha.decode() if sha else None


def _deploy(applied: Path, approval_id: int) -> str:
    with _open(applied) as repo:
        refs = _tag_refs(repo)
        for kind in ("failed", "denied"):
            if _tag_ref(kind, approval_id) in refs:
                raise Refused(f"approval {approval_id} is {kind}; it cannot be deployed")
        sha = _approval_sha(repo, approval_id)
        if _tag_ref("deployed", approval_id) not in refs:
            repo.refs.add_if_new(_tag_ref("deployed", approval_id), sha)
        old = _branch(repo)
        if old != sha and not repo.refs.set_if_equals(MAIN, old, sha):
            raise Conflict("applied main moved during the deploy")
        old_tree = _obj(repo, old, Commit).tree if old else None
        _checkout(repo, old_tree, _obj(repo, sha, Commit).tree)
        return sha.decode()


def _meta_tree(repo: Repo, commit_id: ObjectID | None) -> dict[str, Any]:
    if commit_id is None:
        return {}
    tree = _obj(repo, _obj(repo, commit_id, Commit).tree, Tree)
    if META_FILE not in tree:
        return {}
    agents: dict[str, Any] = json.loads(_obj(repo, tree[META_FILE][1], Blob).data)
    return agents


def _meta_commit(meta: Path, name: str, entry: dict[str, Any] | None, when: float) -> None:
    """Commit the meta working tree with agents.json's ``name`` set to ``entry`` (None: gone).

    The whole tree is recorded (hidden names aside), so files a runtime keeps there, such
    as the nixos runtime's flake, are part of the deploy history.
    """
    if entry is None and not _exists(meta):
        return
    with _open(meta, create=True) as repo:
        parent = _branch(repo)
        agents = _meta_tree(repo, parent)
        if agents.get(name) == entry:
            return
        if entry is None:
            del agents[name]
            message = f"remove {name}"
        else:
            agents[name] = entry
            message = f"deploy {name} deployed/{entry['approval_id']} {entry['sha'][:12]}"
        data = json.dumps(agents, indent=2, sort_keys=True).encode() + b"\n"
        _write_atomic(meta / os.fsdecode(META_FILE), data, 0o644)
        files = _snapshot(meta)
        _commit_files(repo, files, parent, message, when or time.time())
        index = Index(repo.index_path(), read=False)
        for path, (mode, blob) in files.items():
            index[path] = index_entry_from_stat(os.lstat(meta / os.fsdecode(path)), blob.id, mode)
        index.write()


def _snapshot(root: Path) -> dict[bytes, tuple[int, Blob]]:
    """The files and symlinks under ``root`` as blobs, skipping hidden names."""
    out: dict[bytes, tuple[int, Blob]] = {}
    for dirpath, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        for file in files:
            full = Path(dirpath, file)
            if file.startswith("."):
                continue
            path = os.fsencode(full.relative_to(root).as_posix())
            if full.is_symlink():
                out[path] = (0o120000, Blob.from_string(os.fsencode(os.readlink(full))))
            elif full.is_file():
                mode = 0o100755 if os.access(full, os.X_OK) else 0o100644
                out[path] = (mode, Blob.from_string(full.read_bytes()))
    return out


def _meta_log(repo: Repo, limit: int) -> list[MetaEntry]:
    out: list[MetaEntry] = []
    sha = _branch(repo)
    while sha is not None and len(out) < limit:
        commit = _obj(repo, sha, Commit)
        message = commit.message.decode("utf-8", "replace").strip()
        match = _DEPLOY_MSG.fullmatch(message)
        agent = match[1] if match else message.rpartition(" ")[2]
        entry = _meta_tree(repo, sha).get(agent) if match else None
        approval = int(match[2]) if match else None
        agent_sha = entry["sha"] if entry else None
        ts = float(commit.commit_time)
        out.append(MetaEntry(sha.decode(), ts, message, agent, approval, agent_sha))
        sha = commit.parents[0] if commit.parents else None
    return out


# --- reading trees, diffs ------------------------------------------------------------------


def _resolve(repo: Repo, ref: str) -> ObjectID:
    """The commit a tag name, branch name, full ref name or hex sha (prefix) points at."""
    raw = ref.encode()
    refs = repo.refs.as_dict()
    for cand in [raw] if raw.startswith(b"refs/") else [_TAGS + raw, b"refs/heads/" + raw]:
        if check_ref_format(Ref(cand)) and cand in refs:
            return _peel(repo, refs[Ref(cand)])[0]
    if re.fullmatch(r"[0-9a-fA-F]{4,40}", ref):
        return _resolve_prefix(repo, ref.lower())
    raise NotFound(f"no ref or commit {ref!r} in {repo.path}")


def _tree_at(repo: Repo, ref: str) -> tuple[ObjectID, ObjectID]:
    sha = _resolve(repo, ref)
    return sha, _obj(repo, sha, Commit).tree


def _walk(repo: Repo, tree_id: bytes, prefix: bytes = b"") -> Iterator[tuple[bytes, int, bytes]]:
    for entry in _obj(repo, tree_id, Tree).iteritems():
        if stat.S_ISDIR(entry.mode):
            yield from _walk(repo, entry.sha, prefix + entry.path + b"/")
        elif entry.mode in _FILE_MODES:
            yield prefix + entry.path, entry.mode, entry.sha


def _read_file(repo: Repo, ref: str, path: bytes) -> bytes:
    for file_path, _mode, sha in _walk(repo, _tree_at(repo, ref)[1]):
        if file_path == path:
            return _obj(repo, sha, Blob).data
    raise NotFound(f"no file {path.decode()!r} at {ref}")


def _files_at(repo: Repo, ref: str) -> dict[str, bytes]:
    return {
        path.decode("utf-8", "surrogateescape"): _obj(repo, sha, Blob).data
        for path, _mode, sha in _walk(repo, _tree_at(repo, ref)[1])
    }


def _export(applied: Path, ref: str, dest: Path) -> str:
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise Refused(f"{dest} exists and is not an empty directory")
    with _open(applied) as repo:
        sha, tree = _tree_at(repo, ref)
        dest.mkdir(parents=True, exist_ok=True)
        for path, mode, blob_id in _walk(repo, tree):
            if not all(_safe_name(part) for part in path.split(b"/")):
                raise InvalidInput(f"unsafe path {path!r} at {ref}")
            data = _obj(repo, blob_id, Blob).data
            _write_atomic(dest / os.fsdecode(path), data, 0o755 if mode == 0o100755 else 0o644)
        return sha.decode()


def _abbreviator(repo: Repo) -> Callable[[bytes], bytes]:
    """Shorten ids as git does: 7 digits (more in big repos), extended until unique."""
    count = sum(len(pack.index) for pack in repo.object_store.packs)  # git counts packs only
    base = max(7, (count.bit_length() + 1) // 2)

    def abbrev(hexsha: bytes) -> bytes:
        n = base
        while n < 40 and any(o != hexsha for o in repo.object_store.iter_prefix(hexsha[:n])):
            n += 1
        return hexsha[:n]

    return abbrev


def _diff(repo: Repo, base: str | None, target: str) -> str:
    old_tree = _tree_at(repo, base)[1] if base is not None else None
    changes = []
    for change in tree_changes(repo.object_store, old_tree, _tree_at(repo, target)[1]):
        old = change.old if change.old and change.old.sha else None
        new = change.new if change.new and change.new.sha else None
        entry = new or old
        path = entry.path if entry else b""
        changes.append(
            repos_diff.FileChange(
                path=path,
                old_mode=old.mode if old else None,
                new_mode=new.mode if new else None,
                old_sha=old.sha if old else None,
                new_sha=new.sha if new else None,
                old_data=_obj(repo, old.sha, Blob).data if old else b"",
                new_data=_obj(repo, new.sha, Blob).data if new else b"",
            )
        )
    return repos_diff.render(changes, _abbreviator(repo)).decode("utf-8", "replace")


def _diff_vs(repo: Repo, approval_id: int, running: bool) -> str:
    target = _approval_sha(repo, approval_id).decode()
    if running:
        return _diff(repo, _main(repo), target)
    earlier = [t for t in _tags_in(repo) if t.kind in ("approved", "deployed")]
    earlier = [t for t in earlier if t.id < approval_id]
    return _diff(repo, max(earlier, key=lambda t: t.id).sha if earlier else None, target)
