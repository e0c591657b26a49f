"""A port of git's xdiff, so the daemon renders ``git diff --no-renames`` byte for byte.

Why it exists: the operator approves a change by reading its diff, and the manager reads
the same diff; both must see exactly what ``git diff`` would print, yet the daemon must not
shell out to ``git`` on repos an agent can write (a hostile config or hook there would run
as the daemon). dulwich has no diff engine that matches git's hunks, so this package ports
the part of xdiff that decides them: Myers' O(ND) diff with git's preprocessing and
heuristics (`myers`), git's sliding of changed groups and its indent heuristic
(`compaction`), and the unified rendering with headers, modes, binary detection and
function-name hunk headers (`unified`).

What proves it, in ``tests/core/test_repos.py``:

* ``test_diff_equals_git_diff_byte_for_byte_for_a_100_file_change`` -- a 100-file change
  with binary, unterminated, mode-changed, spaced and non-ASCII files, compared with the
  real ``git diff`` on the same repo;
* ``test_hunks_match_git_for_tricky_line_sequences`` -- 40 random line sequences built to
  make diff tools disagree, compared with ``git diff --no-index``.
"""

from __future__ import annotations

from hyperhive.core.repos.diff.unified import FileChange, unified_hunks
from hyperhive.core.repos.diff.unified import render as render_diff

__all__ = ["FileChange", "render_diff", "unified_hunks"]
