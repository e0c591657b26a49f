"""Config as git: every agent's proposed and applied repos and the meta repo, via dulwich.

`service.Repos` is the one entry point the daemon uses; beside it, `git` holds the dulwich
primitives, `tags` the approval tags, `tree` trees (read, export, checkout, safety checks),
`meta` the meta repo, and `diff` the byte-exact port of git's diff engine.
"""

from __future__ import annotations

from hyperhive.core.repos.git import IDENTITY
from hyperhive.core.repos.service import Repos
from hyperhive.core.repos.tags import Tag

__all__ = ["IDENTITY", "Repos", "Tag"]
