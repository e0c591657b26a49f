"""Repos benchmark: pin + tag + diff of a 100-file change, and listing and gc of 10,000 tags.

Each run uses a fresh agent (so a pin really copies the commit and its history), the
change is committed with the git CLI as the manager would, and the figures are medians.

    python bench/repos.py [--runs 5] [--files 100] [--tags 10000] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import Figure, median, report  # noqa: E402
from hyperhive.core.repos import Repos, Tag  # noqa: E402
from hyperhive.core.settings import Settings  # noqa: E402

DAY = 86400.0


def text(rnd: random.Random, lines: int) -> bytes:
    words = ["[limits]", 'model = "sonnet"', "", "def run():", "    return 1", "# note"]
    return "".join(f"{rnd.choice(words)} {rnd.randrange(1000)}\n" for _ in range(lines)).encode()


def git(cwd: Path, *args: str) -> str:
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(cwd),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_AUTHOR_NAME": "manager",
        "GIT_AUTHOR_EMAIL": "manager@hive",
        "GIT_COMMITTER_NAME": "manager",
        "GIT_COMMITTER_EMAIL": "manager@hive",
    }
    return subprocess.run(
        ["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True
    ).stdout


async def change_run(repos: Repos, settings: Settings, name: str, files: int) -> list[float]:
    """One fresh agent: a deployed base, then pin, tag and diff a change to every file."""
    rnd = random.Random(name)
    base = {f"dir{i % 8}/file{i}.txt": text(rnd, 40) for i in range(files)}
    base_sha = await repos.create(name, base)
    await repos.pin(name, base_sha, 1)
    await repos.advance_applied(name, 1)
    root = settings.proposed_dir(name)
    for path, data in base.items():
        lines = data.splitlines(keepends=True)
        for _ in range(3):
            at = rnd.randrange(len(lines))
            lines[at : at + 1] = text(rnd, rnd.randint(0, 2)).splitlines(keepends=True)
        (root / path).write_bytes(b"".join(lines))
    git(root, "commit", "-q", "-a", "-m", "change every file")
    sha = git(root, "rev-parse", "HEAD").strip()

    t0 = time.perf_counter()
    await repos.pin(name, sha, 2)
    t1 = time.perf_counter()
    await repos.tag(name, "approved", 2)
    await repos.tag(name, "building", 2)
    t2 = time.perf_counter()
    diff = await repos.diff_vs_running(name, 2)
    t3 = time.perf_counter()
    assert diff.count("diff --git") == files
    return [(t1 - t0) * 1000, (t2 - t1) * 1000, (t3 - t2) * 1000, (t3 - t0) * 1000]


async def tags_run(repos: Repos, name: str, count: int) -> list[float]:
    """10,000 tags: 2,000 approvals with their steps, a fifth of them failed or denied."""
    sha = await repos.create(name, {"agent.toml": b'model = "sonnet"\n'})
    await repos.pin(name, sha, 0)
    now = time.time()
    made = []
    approval = 1
    while len(made) < count:
        made += [Tag.make(kind, approval, sha) for kind in ("proposal", "approved", "building")]
        age = now - (approval % 60) * DAY
        if approval % 5 == 0:
            made.append(Tag.make("failed", approval, sha, f"build {approval} failed", age))
        elif approval % 5 == 1:
            made.append(Tag.make("denied", approval, sha, "too broad", age))
        else:
            made.append(Tag.make("deployed", approval, sha))
        made.append(Tag.make("proposal", approval + count, sha))  # still pending
        approval += 1
    t0 = time.perf_counter()
    await repos.create_tags_bulk(name, made[:count])
    t1 = time.perf_counter()
    listed = await repos.tags(name)
    t2 = time.perf_counter()
    dropped = await repos.gc_tags(name, now=now, keep_days=30)
    t3 = time.perf_counter()
    assert len(listed) == count + 1 and dropped
    return [(t1 - t0) * 1000, (t2 - t1) * 1000, (t3 - t2) * 1000]


async def measure(runs: int, files: int, count: int) -> list[Figure]:
    tmp = Path(tempfile.mkdtemp(prefix="hh-bench-repos-"))
    try:
        settings = Settings(state_dir=tmp / "state", run_dir=tmp / "run", runtime="process")
        repos = Repos(settings)
        change = [await change_run(repos, settings, f"c{i}", files) for i in range(runs)]
        tags = [await tags_run(repos, f"t{i}", count) for i in range(runs)]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    pin, tag, diff, total = (median([run[k] for run in change]) for k in range(4))
    bulk, listed, gc = (median([run[k] for run in tags]) for k in range(3))
    n = f"{count:,}"
    return [
        Figure(f"pin a {files}-file change", pin, "ms"),
        Figure("tag approved + building", tag, "ms"),
        Figure(f"diff a {files}-file change", diff, "ms", "≤ 200 ms", None, diff <= 200),
        Figure("pin + tag + diff", total, "ms"),
        Figure(f"create {n} tags (bulk)", bulk, "ms"),
        Figure(f"list {n} tags", listed, "ms"),
        Figure(f"gc {n} tags", gc, "ms", "≤ 2,000 ms", None, gc <= 2000),
    ]


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="fresh agents per figure")
    parser.add_argument("--files", type=int, default=100, help="files in the change")
    parser.add_argument("--tags", type=int, default=10_000, help="tags to list and gc")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if shutil.which("git") is None:
        raise SystemExit("bench/repos.py needs the git CLI to commit the change")
    figures = asyncio.run(measure(args.runs, args.files, args.tags))
    return report(f"repos ({args.runs} runs, median)", figures, args.json)


if __name__ == "__main__":
    main()
