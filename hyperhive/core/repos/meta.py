"""The meta repo: agents.json (what runs where) and its deploy history."""

from __future__ import annotations

import json
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dulwich.index import Index, index_entry_from_stat
from dulwich.objects import Blob, Commit, ObjectID, Tree
from dulwich.repo import Repo

from hyperhive.core.repos.git import (
    commit_files,
    load,
    main_id,
    open_repo,
    repo_exists,
    write_atomic,
)

META_FILE = b"agents.json"
_DEPLOY_MSG = re.compile(r"deploy (\S+) deployed/([0-9]+) ([0-9a-f]{12})")


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


def meta_tree(repo: Repo, commit_id: ObjectID | None) -> dict[str, Any]:
    """The agents.json of a meta commit, or {} (no commit, or no such file)."""
    if commit_id is None:
        return {}
    tree = load(repo, load(repo, commit_id, Commit).tree, Tree)
    if META_FILE not in tree:
        return {}
    agents: dict[str, Any] = json.loads(load(repo, tree[META_FILE][1], Blob).data)
    return agents


def meta_commit(meta: Path, name: str, entry: dict[str, Any] | None, when: float) -> None:
    """Commit the meta working tree with agents.json's ``name`` set to ``entry`` (None: gone).

    The whole tree is recorded (hidden names aside), so files a runtime keeps there, such
    as the nixos runtime's flake, are part of the deploy history.
    """
    if entry is None and not repo_exists(meta):
        return
    with open_repo(meta, create=True) as repo:
        parent = main_id(repo)
        agents = meta_tree(repo, parent)
        if agents.get(name) == entry:
            return
        if entry is None:
            del agents[name]
            message = f"remove {name}"
        else:
            agents[name] = entry
            message = f"deploy {name} deployed/{entry['approval_id']} {entry['sha'][:12]}"
        data = json.dumps(agents, indent=2, sort_keys=True).encode() + b"\n"
        write_atomic(meta / os.fsdecode(META_FILE), data, 0o644)
        files = _snapshot(meta)
        commit_files(repo, files, parent, message, when or time.time())
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


def meta_log(repo: Repo, limit: int) -> list[MetaEntry]:
    """The newest ``limit`` commits of the meta repo, newest first."""
    out: list[MetaEntry] = []
    sha = main_id(repo)
    while sha is not None and len(out) < limit:
        commit = load(repo, sha, Commit)
        message = commit.message.decode("utf-8", "replace").strip()
        match = _DEPLOY_MSG.fullmatch(message)
        agent = match[1] if match else message.rpartition(" ")[2]
        entry = meta_tree(repo, sha).get(agent) if match else None
        approval = int(match[2]) if match else None
        agent_sha = entry["sha"] if entry else None
        ts = float(commit.commit_time)
        out.append(MetaEntry(sha.decode(), ts, message, agent, approval, agent_sha))
        sha = commit.parents[0] if commit.parents else None
    return out
