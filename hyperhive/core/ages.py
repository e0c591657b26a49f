"""Short human times for tables and panes: ``5s``, ``3m``, ``2h``, ``4d``."""

from __future__ import annotations

import time

_UNITS = (("d", 86400), ("h", 3600), ("m", 60))


def span(seconds: float) -> str:
    """``seconds`` in its largest whole unit: 5s, 3m, 2h, 4d (never negative)."""
    d = max(0.0, seconds)
    for unit, size in _UNITS:
        if d >= size:
            return f"{int(d // size)}{unit}"
    return f"{int(d)}s"


def ago(ts: float | None, now: float | None = None) -> str:
    """How long ago ``ts`` was (at ``now``, default the clock): 5s, 3m, 2h, 4d; '-' for never."""
    if ts is None:
        return "-"
    return span((time.time() if now is None else now) - ts)


def until(ts: float, now: float | None = None) -> str:
    """How long until ``ts``: ``in 5m``; ``due`` once it passed."""
    d = ts - (time.time() if now is None else now)
    return f"in {span(d)}" if d > 0 else "due"
