"""Proposed/applied/meta repos, checked with the real git CLI."""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from hyperhive.core.errors import Conflict, InvalidInput, NotFound, Refused
from hyperhive.core.repos import IDENTITY, Repos, Tag
from hyperhive.core.repos.diff import unified_hunks
from hyperhive.core.settings import Settings

Git = Callable[..., str]
NOW = 1_800_000_000.0
DAY = 86400.0
TEMPLATE = {"agent.toml": b'driver = "claude"\nmodel = "sonnet"\n', "prompt.md": b"Be brief.\n"}


@pytest.fixture
def repos(settings: Settings) -> Repos:
    return Repos(settings)


@pytest.fixture
def git(tmp_path: Path) -> Git:
    """The real git CLI, isolated from any user or system configuration."""
    if shutil.which("git") is None:
        pytest.skip("the git CLI is not installed")
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_AUTHOR_NAME": "manager",
        "GIT_AUTHOR_EMAIL": "manager@hive",
        "GIT_COMMITTER_NAME": "manager",
        "GIT_COMMITTER_EMAIL": "manager@hive",
    }

    def run(cwd: Path, *args: str, check: bool = True) -> str:
        proc = subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, check=False)
        assert proc.returncode == 0 or not check, f"git {' '.join(args)}: {proc.stderr.decode()}"
        return proc.stdout.decode("utf-8", "replace")

    return run


def commit(git: Git, root: Path, files: dict[str, bytes], remove: tuple[str, ...] = ()) -> str:
    """Edit the proposed working tree like the manager does, and commit."""
    for path, data in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_bytes(data)
    for path in remove:
        (root / path).unlink()
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "edit")
    return git(root, "rev-parse", "HEAD").strip()


def assert_fsck_clean(git: Git, path: Path) -> None:
    git(path, "fsck", "--strict", "--no-dangling")


async def test_create_seeds_the_proposed_repo_with_one_clean_commit(
    repos: Repos, settings: Settings, git: Git
) -> None:
    sha = await repos.create("coder", TEMPLATE)
    root = settings.proposed_dir("coder")
    assert await repos.exists("coder")
    assert await repos.proposed_head("coder") == sha
    assert git(root, "log", "--format=%an <%ae>|%s") == f"{IDENTITY.decode()}|initial config\n"
    assert git(root, "status", "--porcelain") == ""
    assert (root / "agent.toml").read_bytes() == TEMPLATE["agent.toml"]
    assert_fsck_clean(git, root)


async def test_create_refuses_an_existing_repo_and_unsafe_paths(repos: Repos) -> None:
    await repos.create("coder", TEMPLATE)
    with pytest.raises(Conflict):
        await repos.create("coder", TEMPLATE)
    for path in ("../escape", ".git/config", "a//b", "/abs"):
        with pytest.raises(InvalidInput):
            await repos.create("other", {path: b"x"})
    with pytest.raises(InvalidInput):
        await repos.create("../x", TEMPLATE)


async def test_pin_copies_exactly_the_pinned_sha_even_after_proposed_is_amended(
    repos: Repos, settings: Settings, git: Git
) -> None:
    await repos.create("coder", TEMPLATE)
    root = settings.proposed_dir("coder")
    sha = commit(git, root, {"agent.toml": b'model = "opus"\n', "notes/a.md": b"a\n"})
    assert await repos.pin("coder", sha[:7], 1) == sha
    (root / "agent.toml").write_bytes(b'model = "haiku"\n')
    git(root, "commit", "-q", "-a", "--amend", "-m", "amended")
    git(root, "reflog", "expire", "--expire=now", "--all")
    git(root, "gc", "-q", "--prune=now")
    assert git(root, "rev-parse", "HEAD").strip() != sha

    assert await repos.approval_sha("coder", 1) == sha
    assert (await repos.files_at("coder", "proposal/1"))["agent.toml"] == b'model = "opus"\n'
    assert await repos.read_file("coder", "proposal/1", "notes/a.md") == b"a\n"
    applied = settings.applied_dir("coder")
    assert git(applied, "rev-parse", "proposal/1").strip() == sha
    assert git(applied, "log", "--format=%s", "proposal/1") == "edit\ninitial config\n"
    assert_fsck_clean(git, applied)


@pytest.mark.parametrize(
    ("ref", "error", "says"),
    [
        ("main", InvalidInput, "branch and tag names"),
        ("abc", InvalidInput, "7-40"),
        ("xyz1234", InvalidInput, "hex"),
        ("a" * 41, InvalidInput, "7-40"),
        ("deadbee", NotFound, "no commit deadbee"),
        ("0" * 40, NotFound, "no commit"),
    ],
)
async def test_pin_rejects_bad_commit_refs_and_changes_nothing(
    repos: Repos, settings: Settings, ref: str, error: type[Exception], says: str
) -> None:
    await repos.create("coder", TEMPLATE)
    with pytest.raises(error, match=says):
        await repos.pin("coder", ref, 1)
    assert await repos.tags("coder") == []
    assert await repos.running_sha("coder") is None


async def test_pin_rejects_non_commits_symlinks_and_a_second_sha_for_one_id(
    repos: Repos, settings: Settings, git: Git
) -> None:
    first = await repos.create("coder", TEMPLATE)
    root = settings.proposed_dir("coder")
    blob = git(root, "rev-parse", "HEAD:agent.toml").strip()
    with pytest.raises(InvalidInput, match="blob"):
        await repos.pin("coder", blob, 1)
    (root / "link").symlink_to("/etc/passwd")
    linked = commit(git, root, {})
    with pytest.raises(InvalidInput, match="symlink"):
        await repos.pin("coder", linked, 1)
    with pytest.raises(NotFound):
        await repos.pin("nobody", first, 1)

    assert await repos.pin("coder", first, 1) == first
    assert await repos.pin("coder", first, 1) == first  # the same pin again is a no-op
    other = commit(git, root, {"prompt.md": b"other\n"}, remove=("link",))
    with pytest.raises(Conflict):
        await repos.pin("coder", other[:10], 1)
    assert await repos.approval_sha("coder", 1) == first


async def test_tags_record_each_step_and_annotated_tags_hold_the_note(
    repos: Repos, settings: Settings, git: Git
) -> None:
    sha = await repos.create("coder", TEMPLATE)
    await repos.pin("coder", sha, 7)
    await repos.tag("coder", "approved", 7)
    await repos.tag("coder", "building", 7)
    failed = await repos.tag("coder", "failed", 7, message="build failed:\nexit 1", at=NOW)
    await repos.pin("coder", sha, 8)
    await repos.tag("coder", "denied", 8, message="too broad", at=NOW)

    assert failed == Tag.make("failed", 7, sha, "build failed:\nexit 1", NOW)
    tags = await repos.tags("coder")
    assert [t.name for t in tags] == [
        "proposal/7",
        "approved/7",
        "building/7",
        "failed/7",
        "proposal/8",
        "denied/8",
    ]
    assert {t.sha for t in tags} == {sha}
    assert [t.message for t in await repos.tags("coder", "denied")] == ["too broad"]
    assert await repos.tag("coder", "approved", 7) == tags[1]  # idempotent
    with pytest.raises(InvalidInput):
        await repos.tag("coder", "merged", 7)
    with pytest.raises(NotFound):
        await repos.tag("coder", "approved", 99)

    applied = settings.applied_dir("coder")
    assert git(applied, "tag", "-l").split() == sorted(t.name for t in tags)
    shown = git(applied, "cat-file", "-p", "failed/7")
    assert "tagger hyperhive <hyperhive@localhost>" in shown
    assert shown.endswith("\nbuild failed:\nexit 1\n")
    assert git(applied, "cat-file", "-t", "proposal/7").strip() == "commit"
    assert_fsck_clean(git, applied)


async def test_deploy_moves_main_checks_out_the_tree_and_commits_to_meta(
    repos: Repos, settings: Settings, git: Git
) -> None:
    await repos.create("coder", TEMPLATE)
    root = settings.proposed_dir("coder")
    one = commit(git, root, {"extra/tool.sh": b"#!/bin/sh\n"})
    await repos.pin("coder", one, 1)
    assert await repos.advance_applied("coder", 1, at=NOW) == one
    two = commit(git, root, {"agent.toml": b'model = "opus"\n'}, remove=("extra/tool.sh",))
    await repos.pin("coder", two, 2)
    assert await repos.advance_applied("coder", 2, at=NOW + 60) == two

    applied = settings.applied_dir("coder")
    assert await repos.running_sha("coder") == two
    assert (applied / "agent.toml").read_bytes() == b'model = "opus"\n'
    assert not (applied / "extra").exists()
    assert git(applied, "status", "--porcelain") == ""
    peeled = git(applied, "rev-parse", "main", "deployed/1^{commit}", "deployed/2^{commit}")
    assert peeled.split() == [two, one, two]
    # the deploy tag records the host the agent runs on
    assert git(applied, "tag", "-l", "--format=%(contents)", "deployed/2").strip() == "host: local"

    log = await repos.meta_log()
    assert [(e.message, e.agent, e.approval_id, e.agent_sha) for e in log] == [
        (f"deploy coder deployed/2 {two[:12]}", "coder", 2, two),
        (f"deploy coder deployed/1 {one[:12]}", "coder", 1, one),
    ]
    assert log[0].ts == NOW + 60
    meta = settings.meta_dir
    assert git(meta, "log", "--format=%s").splitlines() == [e.message for e in log]
    agents = json.loads(git(meta, "show", "main:agents.json"))
    assert agents == {"coder": {"sha": two, "approval_id": 2, "deployed_at": int(NOW + 60)}}
    assert await repos.meta_agents() == agents
    assert git(meta, "status", "--porcelain") == ""
    for path in (applied, meta):
        assert_fsck_clean(git, path)


async def test_meta_commits_record_files_a_runtime_keeps_in_the_meta_tree(
    repos: Repos, settings: Settings, git: Git
) -> None:
    sha = await repos.create("coder", TEMPLATE)
    await repos.pin("coder", sha, 1)
    settings.meta_dir.mkdir(parents=True)
    (settings.meta_dir / "flake.nix").write_text("{ }\n")
    (settings.meta_dir / ".scratch").write_text("hidden\n")
    await repos.advance_applied("coder", 1)
    files = git(settings.meta_dir, "ls-files").split()
    assert files == ["agents.json", "flake.nix"]


async def test_failed_leaves_main_unchanged_and_cannot_be_deployed(
    repos: Repos, settings: Settings, git: Git
) -> None:
    one = await repos.create("coder", TEMPLATE)
    await repos.pin("coder", one, 1)
    await repos.advance_applied("coder", 1)
    two = commit(git, settings.proposed_dir("coder"), {"agent.toml": b"broken\n"})
    await repos.pin("coder", two, 2)
    await repos.tag("coder", "approved", 2)
    await repos.tag("coder", "building", 2)
    await repos.tag("coder", "failed", 2, message="nix build: error")

    assert await repos.running_sha("coder") == one
    assert (settings.applied_dir("coder") / "agent.toml").read_bytes() == TEMPLATE["agent.toml"]
    with pytest.raises(Refused, match="failed"):
        await repos.advance_applied("coder", 2)
    assert await repos.running_sha("coder") == one
    assert len(await repos.meta_log()) == 1


async def test_retention_keeps_exactly_what_the_policy_says(
    repos: Repos, settings: Settings, git: Git
) -> None:
    sha = await repos.create("coder", TEMPLATE)
    for approval in range(1, 8):
        await repos.pin("coder", sha, approval)
    for step in ("approved", "building"):
        for approval in (1, 2, 6):
            await repos.tag("coder", step, approval)
    await repos.advance_applied("coder", 1)
    await repos.tag("coder", "failed", 2, message="old", at=NOW - 31 * DAY)
    await repos.tag("coder", "failed", 3, message="recent", at=NOW - 29 * DAY)
    await repos.tag("coder", "denied", 4, message="old", at=NOW - 40 * DAY)
    await repos.tag("coder", "denied", 7, message="recent", at=NOW - 1 * DAY)
    # 5: pending (proposal only); 6: in flight (approved, building)
    doomed = [
        "proposal/1",
        "approved/1",
        "building/1",
        "proposal/2",
        "approved/2",
        "building/2",
        "failed/2",
        "proposal/3",
        "proposal/4",
        "denied/4",
        "proposal/7",
    ]
    before = await repos.tags("coder")
    assert await repos.gc_tags("coder", now=NOW, keep_days=30, dry_run=True) == doomed
    assert await repos.tags("coder") == before

    assert await repos.gc_tags("coder", now=NOW, keep_days=30) == doomed
    kept = [t.name for t in await repos.tags("coder")]
    assert kept == [
        "deployed/1",
        "failed/3",
        "proposal/5",
        "proposal/6",
        "approved/6",
        "building/6",
        "denied/7",
    ]
    assert await repos.gc_tags("coder", now=NOW, keep_days=30) == []
    applied = settings.applied_dir("coder")
    assert git(applied, "tag", "-l").split() == sorted(kept)
    assert_fsck_clean(git, applied)


async def test_bulk_tags_are_packed_with_peeled_lines_git_understands(
    repos: Repos, settings: Settings, git: Git
) -> None:
    sha = await repos.create("coder", TEMPLATE)
    await repos.pin("coder", sha, 1)
    made = [Tag.make("proposal", i, sha) for i in range(2, 40)]
    made += [Tag.make("failed", i, sha, f"error {i}", NOW - i * DAY) for i in range(2, 40)]
    assert await repos.create_tags_bulk("coder", made) == len(made)
    with pytest.raises(Conflict):
        await repos.create_tags_bulk("coder", made[:1])
    with pytest.raises(NotFound):
        await repos.create_tags_bulk("coder", [Tag.make("proposal", 99, "1" * 40)])

    tags = {t.name: t for t in await repos.tags("coder")}
    assert tags["failed/5"] == Tag.make("failed", 5, sha, "error 5", NOW - 5 * DAY)
    applied = settings.applied_dir("coder")
    refs = git(applied, "show-ref", "-d").splitlines()
    assert f"{sha} refs/tags/failed/5^{{}}" in refs
    assert not any(line.endswith("proposal/5^{}") for line in refs)

    dropped = await repos.gc_tags("coder", now=NOW, keep_days=30)
    assert len(dropped) == 38 + 9  # every proposal with a failed sibling; failed/31..39
    assert "failed/30" not in dropped and "failed/31" in dropped
    assert f"{sha} refs/tags/failed/5^{{}}" in git(applied, "show-ref", "-d").splitlines()
    assert git(applied, "cat-file", "-p", "failed/5").endswith("\nerror 5\n")
    assert_fsck_clean(git, applied)


def random_text(rnd: random.Random, lines: int) -> bytes:
    words = ["def run():", "    return 1", "", "}", "\tindent", "x = 1", "# note", "class A:"]
    words += [f"line {rnd.randrange(30)}" for _ in range(10)]
    return "".join(rnd.choice(words) + "\n" for _ in range(lines)).encode()


def mutate(rnd: random.Random, data: bytes) -> bytes:
    lines = data.splitlines(keepends=True)
    for _ in range(rnd.randint(1, 4)):
        at = rnd.randint(0, len(lines))
        new = random_text(rnd, rnd.randint(0, 3)).splitlines(keepends=True)
        lines[at : at + rnd.randint(0, 3)] = new
    return b"".join(lines)


async def test_diff_equals_git_diff_byte_for_byte_for_a_100_file_change(
    repos: Repos, settings: Settings, git: Git
) -> None:
    rnd = random.Random(1234)
    files = {f"dir{i % 7}/file{i}.txt": random_text(rnd, rnd.randint(5, 80)) for i in range(100)}
    files["bin.dat"] = b"\0\1\2" * 10
    files["no-eol.txt"] = b"last line"
    files["tool.sh"] = b"#!/bin/sh\necho hi\n"
    files["with space.md"] = b"a\n"
    files["d\u00e9j\u00e0.md"] = b"x\n"
    base = await repos.create("coder", files)
    root = settings.proposed_dir("coder")
    changed = {path: mutate(rnd, data) for path, data in list(files.items())[:100]}
    changed["bin.dat"] = b"\0\3" * 20
    changed["no-eol.txt"] = b"last line\nand one more"
    changed["with space.md"] = b"b\n"
    changed["d\u00e9j\u00e0.md"] = b"y\n"
    changed.update({f"new/added{i}.txt": f"fresh {i}\n".encode() * (i + 1) for i in range(5)})
    changed["empty.txt"] = b""
    changed["new dir/a file.txt"] = b"spaced\n"
    (root / "tool.sh").chmod(0o755)
    target = commit(git, root, changed, remove=("dir1/file8.txt", "dir2/file9.txt"))
    await repos.pin("coder", base, 1)
    await repos.pin("coder", target, 2)

    applied = settings.applied_dir("coder")
    ours = await repos.diff("coder", "proposal/1", "proposal/2")
    assert ours.count("diff --git") > 100
    assert ours == git(applied, "diff", "proposal/1", "proposal/2")
    assert await repos.diff("coder", None, target[:8]) == git(
        applied, "diff", "4b825dc642cb6eb9a060e54bf8d69288fbee4904", target
    )
    assert await repos.diff("coder", target, base) == git(applied, "diff", target, base)


def test_hunks_match_git_for_tricky_line_sequences(tmp_path: Path, git: Git) -> None:
    """Sliding groups, blank lines, missing newlines: the cases where diff tools differ."""
    rnd = random.Random(99)
    vocab = [b"\n", b"}\n", b"    x\n", b"\tif a:\n", b"def f():\n", b"a\n", b"b\n", b"  \n"]
    for case in range(40):
        old = b"".join(rnd.choice(vocab) for _ in range(rnd.randint(0, 60)))
        new = mutate(rnd, old) if old else b"a\n"
        if case % 5 == 0:
            new = new.rstrip(b"\n")
        (tmp_path / "old").write_bytes(old)
        (tmp_path / "new").write_bytes(new)
        out = git(tmp_path, "diff", "--no-index", "old", "new", check=False)
        expected = out[out.find("\n@@") + 1 :] if "\n@@" in out else ""
        assert unified_hunks(old, new).decode() == expected, f"case {case}"


async def test_diff_vs_running_and_vs_last_approved(
    repos: Repos, settings: Settings, git: Git
) -> None:
    base = await repos.create("coder", TEMPLATE)
    root = settings.proposed_dir("coder")
    await repos.pin("coder", base, 1)
    assert "new file mode 100644" in await repos.diff_vs_running("coder", 1)
    await repos.tag("coder", "approved", 1)
    await repos.advance_applied("coder", 1)
    two = commit(git, root, {"prompt.md": b"Be kind.\n"})
    await repos.pin("coder", two, 2)
    await repos.tag("coder", "approved", 2)
    three = commit(git, root, {"agent.toml": b'model = "opus"\n'})
    await repos.pin("coder", three, 3)

    applied = settings.applied_dir("coder")
    assert await repos.diff_vs_running("coder", 3) == git(applied, "diff", base, three)
    assert await repos.diff_vs_last_approved("coder", 3) == git(applied, "diff", two, three)
    assert await repos.diff_vs_last_approved("coder", 1) == git(
        applied, "diff", "4b825dc642cb6eb9a060e54bf8d69288fbee4904", base
    )
    with pytest.raises(NotFound):
        await repos.diff("coder", "main", "proposal/99")


async def test_export_tree_writes_files_with_their_modes(
    repos: Repos, settings: Settings, git: Git, tmp_path: Path
) -> None:
    await repos.create("coder", TEMPLATE)
    root = settings.proposed_dir("coder")
    (root / "bin").mkdir()
    (root / "bin/run").write_bytes(b"#!/bin/sh\n")
    (root / "bin/run").chmod(0o755)
    sha = commit(git, root, {})
    await repos.pin("coder", sha, 1)
    dest = tmp_path / "export"
    assert await repos.export_tree("coder", "proposal/1", dest) == sha
    assert (dest / "agent.toml").read_bytes() == TEMPLATE["agent.toml"]
    assert os.access(dest / "bin/run", os.X_OK)
    assert not os.access(dest / "prompt.md", os.X_OK)
    with pytest.raises(Refused):
        await repos.export_tree("coder", "proposal/1", dest)
    with pytest.raises(NotFound):
        await repos.read_file("coder", "proposal/1", "missing.txt")
    with pytest.raises(InvalidInput):
        await repos.read_file("coder", "proposal/1", "../etc/passwd")


async def test_remove_purges_both_repos_and_the_meta_entry(
    repos: Repos, settings: Settings, git: Git
) -> None:
    sha = await repos.create("coder", TEMPLATE)
    await repos.pin("coder", sha, 1)
    await repos.advance_applied("coder", 1)
    await repos.remove("coder")
    assert not await repos.exists("coder")
    assert not settings.proposed_dir("coder").exists()
    assert not settings.applied_dir("coder").exists()
    assert await repos.running_sha("coder") is None
    assert await repos.meta_agents() == {}
    assert [e.message for e in await repos.meta_log()] == [
        "remove coder",
        f"deploy coder deployed/1 {sha[:12]}",
    ]
    assert_fsck_clean(git, settings.meta_dir)
