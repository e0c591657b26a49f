"""RPC handlers, one module per concept; `build_registry` collects them all."""

from __future__ import annotations

from typing import TYPE_CHECKING

from hyperhive.core.protocol import Registry

if TYPE_CHECKING:
    from hyperhive.core.hive import Hive


def build_registry(hive: Hive) -> Registry:
    """Every method of every socket, bound to ``hive``."""
    from hyperhive.core.api import (
        agents,
        approvals,
        audit,
        harness,
        hosts,
        lifecycle,
        messages,
        pty,
        questions,
        repos,
        stats,
        threads,
    )

    registry = Registry()
    for module in (
        agents,
        messages,
        approvals,
        lifecycle,
        repos,
        harness,
        questions,
        audit,
        stats,
        pty,
        threads,
        hosts,
    ):
        module.register(registry, hive)
    return registry
