"""What an agent's container was built with, and whether that makes it stale.

Every build (`Lifecycle` calls ``runtime.create``) records the hyperhive version that
made it and the runtime's inputs (`runtimes.build_inputs`: the runtime's name, and for
nixos the hyperhive flake). At start-up, after an upgrade, the daemon compares each
agent's record with itself: an agent built by another version, or with other inputs,
or running an older config than applied ``main``, needs an update (the agent's
``stale`` flag). Each reason has a key, so the manager is told once per reason, not at
every start.
"""

from __future__ import annotations

import hyperhive
from hyperhive.core.runtimes import build_inputs
from hyperhive.core.runtimes.base import Runtime
from hyperhive.core.store.agents import Build


def build_stamp(runtime: Runtime) -> tuple[str, str]:
    """``(version, inputs)`` a build made now records: this hyperhive and its runtime."""
    return hyperhive.__version__, build_inputs(runtime)


def short(sha: str | None) -> str:
    """A commit as a notice names it: its first 12 hex digits (``-`` for none)."""
    return sha[:12] if sha else "-"


def stale_reason(
    applied_sha: str | None, main: str | None, built: Build, stamp: tuple[str, str]
) -> tuple[str, str] | None:
    """``(key, why)`` an agent needs an update, or None.

    Args:
        applied_sha: the config the agent was built from.
        main: where applied ``main`` points now.
        built: what its container was built with.
        stamp: what a build made now would record (`build_stamp`).
    """
    if main is not None and main != applied_sha:
        return f"config {main}", f"runs an older config than applied main ({short(main)})"
    if applied_sha is None:
        return None  # never built from a config: nothing to rebuild
    version, inputs = stamp
    if (built.version, built.inputs) == (version, inputs):
        return None
    was = f"hyperhive {built.version} ({built.inputs})" if built.version else "an older hyperhive"
    return f"build {version} {inputs}", f"was built by {was}; this is {version} ({inputs})"
