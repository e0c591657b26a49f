"""Helpers shared by the benchmarks: percentiles, the printed table, --json output."""

from __future__ import annotations

import json
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) by nearest rank."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = max(0, min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1))))
    return ordered[k]


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


@dataclass(frozen=True)
class Figure:
    """One measured figure: its value, unit, target and (where there is one) floor."""

    name: str
    value: float
    unit: str
    target: str = ""
    floor: float | None = None
    met: bool | None = None

    @property
    def ratio(self) -> float | None:
        if self.floor is None or self.floor == 0:
            return None
        return self.value / self.floor

    def to_json(self) -> dict[str, Any]:
        return {
            "value": self.value,
            "unit": self.unit,
            "target": self.target,
            "floor": self.floor,
            "ratio": self.ratio,
            "met": self.met,
        }


def render(title: str, figures: Sequence[Figure]) -> str:
    rows = [("figure", "value", "target", "floor", "ratio", "ok")]
    for f in figures:
        rows.append(
            (
                f.name,
                f"{f.value:,.3f} {f.unit}" if f.value < 100 else f"{f.value:,.0f} {f.unit}",
                f.target,
                "" if f.floor is None else f"{f.floor:,.3f} {f.unit}",
                "" if f.ratio is None else f"{f.ratio:.2f}x",
                "" if f.met is None else ("yes" if f.met else "NO"),
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = [title, ""] + [
        "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows
    ]
    return "\n".join(line.rstrip() for line in lines)


def report(title: str, figures: Sequence[Figure], as_json: bool) -> dict[str, Any]:
    data = {f.name: f.to_json() for f in figures}
    if as_json:
        print(json.dumps({title: data}, indent=2))
    else:
        print(render(title, figures))
    return data
