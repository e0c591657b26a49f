"""The real daemon for fault tests: agents run the mini harness; crash points kill it on cue.

``python tests/faults/fault_daemon.py <hyperhive args>`` runs ``hyperhive <args>`` with two
test-only changes, made from outside the core:

* every agent (the manager too) runs ``tests/support/mini_harness.py``;
* ``HH_CRASH_AT=<point>`` with ``HH_CRASH_AGENT=<name>`` makes the process die with
  ``os._exit(137)`` (no cleanup, no flush: what ``kill -9`` leaves) at a named point of
  that agent's build, so a crash lands exactly where the test wants it;
  ``HH_CRASH_SKIP=<n>`` lets the first ``n`` hits pass. ``mid-packed-refs`` (any agent)
  dies halfway through writing ``packed-refs.lock``, as a tag gc would be cut.
"""

from __future__ import annotations

import functools
import io
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from hyperhive.core import hive as hive_module  # noqa: E402
from hyperhive.core.agents import AgentRegistry  # noqa: E402
from hyperhive.core.lifecycle import Lifecycle  # noqa: E402
from hyperhive.core.repos import Repos  # noqa: E402
from hyperhive.core.repos import meta as repos_meta  # noqa: E402
from hyperhive.core.repos import tags as repos_tags  # noqa: E402
from tests.support.swarm import MINI_HARNESS  # noqa: E402

CRASH_EXIT = 137
CRASH_POINTS = (
    "before-approved-tag",
    "before-building-tag",
    "after-container-built",
    "before-meta-commit",
    "after-repos-deploy",
    "after-applied-sha",
)


_skips = [0]


def _die() -> None:
    """Crash now, unless this hit is one of the first ``HH_CRASH_SKIP`` to let pass."""
    if _skips[0] > 0:
        _skips[0] -= 1
        return
    os._exit(CRASH_EXIT)


def _wrap_async(
    owner: Any, attr: str, when: str, hit: Callable[[tuple[Any, ...], dict[str, Any]], bool]
) -> None:
    original = getattr(owner, attr)

    @functools.wraps(original)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        if when == "before" and hit(args, kwargs):
            _die()
        result = await original(*args, **kwargs)
        if when == "after" and hit(args, kwargs):
            _die()
        return result

    setattr(owner, attr, wrapper)


def install_crash_point(point: str, agent: str) -> None:
    """Arm one crash point for builds of ``agent``."""

    def named(args: tuple[Any, ...], kwargs: dict[str, Any]) -> bool:
        return args[1] == agent

    def tag(kind: str) -> Callable[[tuple[Any, ...], dict[str, Any]], bool]:
        return lambda args, kwargs: args[1] == agent and args[2] == kind

    if point == "before-approved-tag":  # the row says approved, the tag is not there
        _wrap_async(Repos, "tag", "before", tag("approved"))
    elif point == "before-building-tag":  # the row says building, no building tag
        _wrap_async(Repos, "tag", "before", tag("building"))
    elif point == "after-container-built":  # running, but nothing deployed yet
        _wrap_async(Lifecycle, "deploy", "after", named)
    elif point == "before-meta-commit":  # deployed tag and main moved, no meta commit
        # the meta commit runs in a worker thread: os._exit from there ends the process too
        original = repos_meta.meta_commit

        def meta_commit(meta: Path, name: str, entry: dict[str, Any] | None, when: float) -> None:
            if name == agent:
                _die()
            original(meta, name, entry, when)

        repos_meta.meta_commit = meta_commit
    elif point == "after-repos-deploy":  # tags, main and meta done; the rows are not
        _wrap_async(Repos, "advance_applied", "after", named)
    elif point == "after-applied-sha":  # the agent row has the sha; the approval does not
        _wrap_async(
            AgentRegistry,
            "update",
            "after",
            lambda args, kwargs: args[1] == agent and "applied_sha" in kwargs,
        )
    elif point == "mid-packed-refs":
        original_write = repos_tags.write_packed_refs

        def write_half(f: Any, *args: Any, **kwargs: Any) -> None:
            whole = io.BytesIO()
            original_write(whole, *args, **kwargs)
            f.write(whole.getvalue()[: len(whole.getvalue()) // 2])
            f.flush()
            _die()

        repos_tags.write_packed_refs = write_half
    else:
        raise SystemExit(f"unknown crash point {point!r}")


def main() -> int:
    original_init = hive_module.Hive.__init__

    def init(self: Any, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        self.lifecycle.command = MINI_HARNESS

    hive_module.Hive.__init__ = init  # type: ignore[method-assign]
    if point := os.environ.get("HH_CRASH_AT"):
        _skips[0] = int(os.environ.get("HH_CRASH_SKIP") or 0)
        install_crash_point(point, os.environ["HH_CRASH_AGENT"])
    from hyperhive.cli import main as cli_main

    return cli_main(sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
