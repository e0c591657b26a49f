"""Every CLI verb, collected from the concept modules (kept out of the package's
``__init__`` so the modules can import the shared `Context`, `Verb` and `table` from it
without an import circle)."""

from __future__ import annotations

from hyperhive.commands import (
    Verb,
    agent,
    agentview,
    approvals,
    audit,
    core,
    hosts,
    hostside,
    lifecycle,
    questions,
    shell,
    stats,
    threads,
    tui,
    up,
)


def all_verbs() -> list[Verb]:
    """The verbs in the order ``hh --help`` lists them."""
    verbs: list[Verb] = []
    for module in (
        core,
        up,
        approvals,
        lifecycle,
        shell,
        agentview,
        questions,
        threads,
        audit,
        stats,
        tui,
        agent,
        hosts,
        hostside,
    ):
        verbs.extend(module.VERBS)
    return verbs
