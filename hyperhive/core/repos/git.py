"""dulwich primitives shared by the repos modules: open, look up, resolve, commit, write files."""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from dulwich import errors as dulwich_errors
from dulwich.file import FileLocked
from dulwich.index import commit_tree
from dulwich.objects import Blob, Commit, ObjectID
from dulwich.objects import Tag as TagObject
from dulwich.refs import Ref, check_ref_format
from dulwich.repo import Repo

from hyperhive.core import safefs
from hyperhive.core.errors import Conflict, InvalidInput, NotFound, Refused

IDENTITY = b"hyperhive <hyperhive@localhost>"
MAIN = Ref(b"refs/heads/main")
TAGS = b"refs/tags/"
FILE_MODES = (0o100644, 0o100755)
GIT_ERRORS: tuple[type[Exception], ...] = (
    OSError,
    ValueError,
    KeyError,
    dulwich_errors.ChecksumMismatch,
    dulwich_errors.FileFormatException,
    dulwich_errors.WrongObjectException,
    dulwich_errors.ObjectMissing,
    FileLocked,
)


def clear_stale_locks(repo_dirs: list[Path]) -> list[Path]:
    """Remove ``*.lock`` files a crashed writer left in the ``.git`` of each repo.

    Only safe while no writer runs: the daemon calls it at start-up, under its own lock.
    """
    removed = []
    for repo in repo_dirs:
        git_dir = repo / ".git"
        if not git_dir.is_dir():
            continue
        for lock in [*git_dir.glob("*.lock"), *git_dir.glob("refs/**/*.lock")]:
            lock.unlink(missing_ok=True)
            removed.append(lock)
    return removed


PROPOSED_MAX_BYTES = 256 * 1024 * 1024  # what a snapshot of one proposed repo may copy
_HEAD_RE = re.compile(rb"^(ref: refs/heads/[A-Za-z0-9._/-]{1,200}|[0-9a-f]{40})\n?$")
_BARE_CONFIG = b"[core]\n\trepositoryformatversion = 0\n\tbare = true\n"


@contextmanager
def proposed_snapshot(root: Path, name: str, scratch: Path) -> Iterator[Path]:
    """A private bare copy of the proposed repo ``root/<name>/config``: git data only.

    The proposed repos are the manager's to write, so the daemon never opens one with
    dulwich in place: it copies ``HEAD``, ``packed-refs``, ``refs/`` and ``objects/``
    (without ``objects/info``: no alternates) through `safefs` into ``scratch`` and
    reads the copy. Its own config, hooks, ``.git`` files pointing elsewhere, links and
    FIFOs never come into play; a link or special file anywhere is refused.

    Raises:
        NotFound: there is no proposed repo.
        Refused: the repo holds a link or special file, or passes `PROPOSED_MAX_BYTES`.
    """
    git = f"{name}/config/.git"
    if not safefs.is_dir(root, git):
        raise NotFound(f"no proposed repo for {name!r} (/agents/{name}/config)")
    scratch.mkdir(mode=0o700, parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f"proposed-{name}-", dir=scratch))
    try:
        dest = work / "git"
        try:
            head = safefs.read_regular(root, f"{git}/HEAD", 4096)
            if not _HEAD_RE.fullmatch(head):
                raise Refused(f"the proposed repo of {name!r} has an unusual HEAD")
            dest.mkdir(mode=0o700)
            used = safefs.copy_tree(
                root,
                f"{git}/objects",
                dest / "objects",
                skip=frozenset({"info"}),
                limit=PROPOSED_MAX_BYTES,
            )
            used += safefs.copy_tree(root, f"{git}/refs", dest / "refs", limit=PROPOSED_MAX_BYTES)
            if safefs.is_regular(root, f"{git}/packed-refs"):
                packed = safefs.read_regular(root, f"{git}/packed-refs", PROPOSED_MAX_BYTES + 1)
                if used + len(packed) > PROPOSED_MAX_BYTES:
                    raise Refused(f"the proposed repo of {name!r} is too big")
                (dest / "packed-refs").write_bytes(packed)
        except FileNotFoundError as exc:
            raise NotFound(f"the proposed repo of {name!r} is incomplete") from exc
        except Refused as exc:
            raise Refused(f"the proposed repo of {name!r}: {exc}") from exc
        (dest / "HEAD").write_bytes(head)
        (dest / "config").write_bytes(_BARE_CONFIG)
        yield dest
    finally:
        shutil.rmtree(work, ignore_errors=True)


RAISE: Any = object()  # `missing` sentinel: a repo that is not there is an error
T = TypeVar("T")


def check_id(approval_id: object) -> None:
    """Refuse an approval id that is not a non-negative int (bools included)."""
    if not isinstance(approval_id, int) or isinstance(approval_id, bool) or approval_id < 0:
        raise InvalidInput(f"approval id must be a non-negative integer, not {approval_id!r}")


def safe_name(name: bytes) -> bool:
    """Whether one path component is safe to write: not empty, ``.``, ``..`` or ``.git``."""
    return name not in (b"", b".", b"..") and name.lower() != b".git" and b"\0" not in name


def safe_path(path: str) -> bytes:
    """``path`` as bytes, refused unless every component is a `safe_name`."""
    raw = path.encode("utf-8", "surrogateescape") if isinstance(path, str) else b""
    if not raw or not all(safe_name(part) for part in raw.split(b"/")):
        raise InvalidInput(f"unsafe path {path!r}: use a relative path without '..' or '.git'")
    return raw


@contextmanager
def open_repo(path: Path, *, create: bool = False) -> Iterator[Repo]:
    """The repo at ``path``, closed on exit; with ``create``, initialised if absent."""
    if create and not repo_exists(path):
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


def in_repo(path: Path, missing: Any, fn: Callable[..., T], *args: Any) -> T:
    """``fn(repo, *args)`` on the repo at ``path``; ``missing`` if none (`RAISE`: raise)."""
    if not repo_exists(path):
        if missing is RAISE:
            raise NotFound(f"no git repo at {path}")
        result: T = missing
        return result
    with open_repo(path) as repo:
        return fn(repo, *args)


def repo_exists(path: Path) -> bool:
    """Whether ``path`` holds a git repo."""
    return (path / ".git" / "HEAD").exists()


def main_id(repo: Repo) -> ObjectID | None:
    """The commit ``refs/heads/main`` points at, or None."""
    return repo.refs.as_dict(Ref(b"refs/heads")).get(Ref(b"main"))


def main_sha(repo: Repo) -> str | None:
    """`main_id` as a hex string, or None."""
    sha = main_id(repo)
    return sha.decode() if sha else None


def load(repo: Repo, sha: bytes, cls: type[T]) -> T:
    """The object ``sha``, refused unless it is a ``cls``."""
    obj = repo[ObjectID(sha)]
    if not isinstance(obj, cls):
        raise InvalidInput(f"{sha.decode()[:12]} is a {obj.type_name.decode()}, not what was asked")
    return obj


def resolve(repo: Repo, ref: str) -> ObjectID:
    """The commit a tag name, branch name, full ref name or hex sha (prefix) points at."""
    raw = ref.encode()
    refs = repo.refs.as_dict()
    for cand in [raw] if raw.startswith(b"refs/") else [TAGS + raw, b"refs/heads/" + raw]:
        if check_ref_format(Ref(cand)) and cand in refs:
            return peel_commit(repo, refs[Ref(cand)])[0]
    if re.fullmatch(r"[0-9a-fA-F]{4,40}", ref):
        return resolve_prefix(repo, ref.lower())
    raise NotFound(f"no ref or commit {ref!r} in {repo.path}")


def resolve_prefix(repo: Repo, prefix: str) -> ObjectID:
    """The one commit whose id starts with ``prefix``."""
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


def peel_commit(repo: Repo, sha: ObjectID) -> tuple[ObjectID, TagObject | None]:
    """The commit ``sha`` points at through any tags, and the first tag object."""
    obj = repo[sha]
    first = obj if isinstance(obj, TagObject) else None
    while isinstance(obj, TagObject):
        obj = repo[obj.object[1]]
    if not isinstance(obj, Commit):
        raise InvalidInput(f"{sha.decode()[:12]} does not point at a commit")
    return obj.id, first


def _commit(tree: bytes, parents: list[ObjectID], message: str, when: float) -> Commit:
    commit = Commit()
    commit.tree = ObjectID(tree)
    commit.parents = parents
    commit.author = commit.committer = IDENTITY
    commit.author_time = commit.commit_time = int(when)
    commit.author_timezone = commit.commit_timezone = 0
    commit.message = message.encode() + b"\n"
    return commit


def commit_files(
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


def write_atomic(target: Path, data: bytes, mode: int) -> None:
    """Replace ``target`` atomically with ``data`` and ``mode``, creating parents."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.hyperhive-tmp")
    tmp.write_bytes(data)
    tmp.chmod(mode)
    os.replace(tmp, target)
