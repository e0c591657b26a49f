"""Trees of a repo: reading files, export, checkout, safety checks, copying objects, diffs."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterator
from contextlib import suppress
from pathlib import Path

from dulwich.diff_tree import tree_changes
from dulwich.index import Index, index_entry_from_stat
from dulwich.objects import Blob, Commit, ObjectID, ShaFile, Tree
from dulwich.repo import Repo

from hyperhive.core.errors import InvalidInput, NotFound, Refused
from hyperhive.core.repos.diff import FileChange, render_diff
from hyperhive.core.repos.git import FILE_MODES, load, open_repo, resolve, safe_name, write_atomic


def tree_at(repo: Repo, ref: str) -> tuple[ObjectID, ObjectID]:
    """The commit ``ref`` resolves to and its tree."""
    sha = resolve(repo, ref)
    return sha, load(repo, sha, Commit).tree


def walk(repo: Repo, tree_id: bytes, prefix: bytes = b"") -> Iterator[tuple[bytes, int, bytes]]:
    """Every regular file under a tree as ``(path, mode, blob id)``, depth first."""
    for entry in load(repo, tree_id, Tree).iteritems():
        if stat.S_ISDIR(entry.mode):
            yield from walk(repo, entry.sha, prefix + entry.path + b"/")
        elif entry.mode in FILE_MODES:
            yield prefix + entry.path, entry.mode, entry.sha


def read_file(repo: Repo, ref: str, path: bytes) -> bytes:
    """One file's content at ``ref``."""
    for file_path, _mode, sha in walk(repo, tree_at(repo, ref)[1]):
        if file_path == path:
            return load(repo, sha, Blob).data
    raise NotFound(f"no file {path.decode()!r} at {ref}")


def files_at(repo: Repo, ref: str) -> dict[str, bytes]:
    """Every file at ``ref``, by path."""
    return {
        path.decode("utf-8", "surrogateescape"): load(repo, sha, Blob).data
        for path, _mode, sha in walk(repo, tree_at(repo, ref)[1])
    }


def export(applied: Path, ref: str, dest: Path) -> str:
    """Write the tree at ``ref`` into ``dest`` (absent or empty); return the commit sha."""
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise Refused(f"{dest} exists and is not an empty directory")
    with open_repo(applied) as repo:
        sha, tree = tree_at(repo, ref)
        dest.mkdir(parents=True, exist_ok=True)
        for path, mode, blob_id in walk(repo, tree):
            if not all(safe_name(part) for part in path.split(b"/")):
                raise InvalidInput(f"unsafe path {path!r} at {ref}")
            data = load(repo, blob_id, Blob).data
            write_atomic(dest / os.fsdecode(path), data, 0o755 if mode == 0o100755 else 0o644)
        return sha.decode()


def checkout(repo: Repo, old_tree: ObjectID | None, new_tree: ObjectID) -> None:
    """Make the working tree and index match ``new_tree``, file by file, in place.

    In place because runtimes bind-mount the directory; each file is replaced atomically.
    Only paths of ``old_tree`` are deleted: anything else in the directory is left alone.
    """
    root = Path(repo.path)
    new = {path: (mode, sha) for path, mode, sha in walk(repo, new_tree)}
    for path, _mode, _sha in walk(repo, old_tree) if old_tree else ():
        if path not in new:
            target = root / os.fsdecode(path)
            target.unlink(missing_ok=True)
            with suppress(OSError):  # not empty: fine
                for parent in target.relative_to(root).parents[:-1]:
                    (root / parent).rmdir()
    index = Index(repo.index_path(), read=False)
    for path, (mode, sha) in new.items():
        if not all(safe_name(part) for part in path.split(b"/")):
            raise InvalidInput(f"unsafe path {path!r} in {repo.path}")
        target = root / os.fsdecode(path)
        write_atomic(target, load(repo, sha, Blob).data, 0o755 if mode == 0o100755 else 0o644)
        index[path] = index_entry_from_stat(os.lstat(target), sha, mode)
    index.write()


def check_tree(repo: Repo, tree_id: bytes, commit: str, prefix: bytes = b"") -> None:
    """Refuse trees that could escape a checkout: odd names, symlinks, submodules."""
    for entry in load(repo, tree_id, Tree).iteritems():
        path = prefix + entry.path
        if not safe_name(entry.path) or b"/" in entry.path:
            raise InvalidInput(f"commit {commit[:12]} has an unsafe path {path!r}")
        if stat.S_ISDIR(entry.mode):
            check_tree(repo, entry.sha, commit, path + b"/")
        elif entry.mode not in FILE_MODES:
            raise InvalidInput(
                f"commit {commit[:12]} has a symlink or submodule at {path.decode()!r}; "
                "only regular files are allowed"
            )


def missing_objects(src: Repo, dst: Repo, sha: ObjectID) -> list[ShaFile]:
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
            commit = load(src, commit_id, Commit)
            out.append(commit)
            commits.extend(commit.parents)
            trees = [commit.tree]
            while trees:
                tree_id = trees.pop()
                if want(tree_id):
                    tree = load(src, tree_id, Tree)
                    out.append(tree)
                    for entry in tree.iteritems():
                        if stat.S_ISDIR(entry.mode):
                            trees.append(entry.sha)
                        elif entry.mode != 0o160000 and want(entry.sha):
                            out.append(src[entry.sha])
    return out


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


def diff(repo: Repo, base: str | None, target: str) -> str:
    """Unified diff between two refs as ``git diff --no-renames``; ``base`` None: empty."""
    old_tree = tree_at(repo, base)[1] if base is not None else None
    changes = []
    for change in tree_changes(repo.object_store, old_tree, tree_at(repo, target)[1]):
        old = change.old if change.old and change.old.sha else None
        new = change.new if change.new and change.new.sha else None
        entry = new or old
        path = entry.path if entry else b""
        changes.append(
            FileChange(
                path=path,
                old_mode=old.mode if old else None,
                new_mode=new.mode if new else None,
                old_sha=old.sha if old else None,
                new_sha=new.sha if new else None,
                old_data=load(repo, old.sha, Blob).data if old else b"",
                new_data=load(repo, new.sha, Blob).data if new else b"",
            )
        )
    return render_diff(changes, _abbreviator(repo)).decode("utf-8", "replace")
