"""Approval tags: the `Tag` value, packed-ref tag tables, tagging, bulk creation and gc."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Mapping
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dulwich.file import GitFile
from dulwich.objects import Commit, ObjectID, ShaFile
from dulwich.objects import Tag as TagObject
from dulwich.refs import Ref, write_packed_refs
from dulwich.repo import Repo

from hyperhive.core.errors import Conflict, NotFound
from hyperhive.core.repos.git import IDENTITY, TAGS, open_repo, peel_commit, repo_exists, resolve

TAG_KINDS = ("proposal", "approved", "building", "deployed", "failed", "denied")
ANNOTATED_KINDS = frozenset({"failed", "denied"})
TERMINAL_KINDS = frozenset({"deployed", "failed", "denied"})
_TAG_NAME = re.compile(rf"({'|'.join(TAG_KINDS)})/([0-9]+)")
_MAX_PACKS = 32  # every pin adds a pack; repack past this so object lookups stay fast


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
                out[name] = (sha, sha if knows_tags and name.startswith(TAGS) else None)
                last = name
    return out


def _tag_table(repo: Repo) -> dict[Ref, tuple[ObjectID, ObjectID | None]]:
    """Every tag as (sha, peeled or None); a loose ref wins over a packed one."""
    table = {ref: v for ref, v in _packed(repo).items() if ref.startswith(TAGS)}
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


def tag_refs(repo: Repo) -> dict[Ref, ObjectID]:
    """Every tag ref and the object it names (a commit or an annotated tag)."""
    return {ref: sha for ref, (sha, _peeled) in _tag_table(repo).items()}


def tag_ref(kind: str, approval_id: int) -> Ref:
    """The ref name of one approval tag, e.g. ``refs/tags/failed/12``."""
    return Ref(TAGS + f"{kind}/{approval_id}".encode())


def approval_sha(repo: Repo, approval_id: int) -> ObjectID:
    """The commit pinned for an approval, found through any of its tags."""
    refs = tag_refs(repo)
    for kind in TAG_KINDS:
        if (sha := refs.get(tag_ref(kind, approval_id))) is not None:
            return peel_commit(repo, sha)[0]
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


def create_tag(
    applied: Path, kind: str, approval_id: int, sha: str | None, message: str, at: float
) -> Tag:
    """Tag one step of an approval (see `Repos.tag`); return the tag as stored."""
    with open_repo(applied) as repo:
        target = approval_sha(repo, approval_id) if sha is None else resolve(repo, sha)
        ref = tag_ref(kind, approval_id)
        existing = tag_refs(repo).get(ref)
        if existing is not None:
            if peel_commit(repo, existing)[0] != target:
                raise Conflict(f"{kind}/{approval_id} already points at another commit")
            return _read_tag(repo, ref, existing)
        if kind not in ANNOTATED_KINDS:
            repo.refs.add_if_new(ref, target)
            return Tag.make(kind, approval_id, target.decode())
        return add_annotated(repo, kind, approval_id, target, message, at)


def add_annotated(
    repo: Repo, kind: str, approval_id: int, sha: ObjectID, message: str, at: float
) -> Tag:
    """Add the annotated tag ``<kind>/<id>`` on commit ``sha`` (the caller checked it is new)."""
    ref = tag_ref(kind, approval_id)
    obj = _tag_object(kind, approval_id, sha, message, at)
    repo.object_store.add_object(obj)
    repo.refs.add_if_new(ref, obj.id)
    return _read_tag(repo, ref, obj.id)


def _read_tag(repo: Repo, ref: Ref, sha: ObjectID, peeled: ObjectID | None = None) -> Tag:
    match = _TAG_NAME.fullmatch(ref[len(TAGS) :].decode())
    assert match is not None
    kind, approval_id = match[1], int(match[2])
    if peeled == sha:  # packed-refs says it is not annotated: no object to read
        return Tag.make(kind, approval_id, sha.decode())
    obj: ShaFile | None = repo[sha]
    if peeled is not None and isinstance(obj, TagObject):
        commit = peeled  # packed-refs knows the commit: skip reading it
    else:
        commit, obj = peel_commit(repo, sha)
    if not isinstance(obj, TagObject):
        return Tag.make(kind, approval_id, commit.decode())
    message = obj.message.decode("utf-8", "replace").removesuffix("\n")
    return Tag.make(kind, approval_id, commit.decode(), message, float(obj.tag_time))


def tags_in(repo: Repo) -> list[Tag]:
    """The approval tags of a repo, sorted by id, then step."""
    order = {kind: i for i, kind in enumerate(TAG_KINDS)}
    out = [
        _read_tag(repo, ref, sha, peeled)
        for ref, (sha, peeled) in _tag_table(repo).items()
        if _TAG_NAME.fullmatch(ref[len(TAGS) :].decode("utf-8", "replace"))
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
        if peel is None and ref.startswith(TAGS) and ref not in drop:
            peel = peel_commit(repo, sha)[0]
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


def create_bulk(applied: Path, tags: list[Tag]) -> int:
    """Create many tags as packed refs in one rewrite; return how many."""
    with open_repo(applied, create=True) as repo:
        existing = tag_refs(repo)
        add: dict[Ref, tuple[ObjectID, ObjectID]] = {}
        objects: list[tuple[ShaFile, None]] = []
        commits: set[bytes] = set()
        for tag in tags:
            ref, sha = tag_ref(tag.kind, tag.id), ObjectID(tag.sha.encode())
            if tag.kind not in TAG_KINDS or ref in existing or ref in add:
                raise Conflict(f"tag {tag.name} exists already or is not an approval tag")
            if sha not in commits:
                if sha not in repo.object_store:
                    raise NotFound(f"no commit {tag.sha} in {repo.path}")
                commits.add(peel_commit(repo, sha)[0])
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


def gc(applied: Path, cutoff: float, dry_run: bool) -> list[str]:
    """Apply tag retention (see `Repos.gc_tags`); return the names deleted or to delete."""
    if not repo_exists(applied):
        return []
    with open_repo(applied) as repo:
        tags = tags_in(repo)
        terminal = {t.id for t in tags if t.kind in TERMINAL_KINDS}
        doomed = [
            t.name
            for t in tags
            if (t.kind not in TERMINAL_KINDS and t.id in terminal)
            or (t.kind in ANNOTATED_KINDS and t.tagged_at is not None and t.tagged_at < cutoff)
        ]
        if not dry_run:
            if doomed:
                _write_packed(repo, {}, {Ref(TAGS + n.encode()) for n in doomed})
            if len(repo.object_store.packs) > _MAX_PACKS:
                repo.object_store.repack()
        return doomed
