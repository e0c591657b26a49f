"""The kept-state pane: tombstones of destroyed agents; revive them or purge them for good."""

from __future__ import annotations

from typing import ClassVar

from textual.binding import Binding, BindingType

from hyperhive.tui.format import ago, size
from hyperhive.tui.panes.base import ListPane, Row
from hyperhive.tui.views import KeptView


class KeptPane(ListPane):
    """Destroyed agents whose state, config and creds are kept; `s` revives, `p` purges."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("s", "row('revive')", "revive"),
        Binding("p", "row('purge')", "purge"),
    ]

    TITLE = "kept state"
    COLUMNS = (("name", "agent"), ("destroyed", "destroyed"), ("size", "size"), ("creds", "creds"))
    EMPTY = "no kept state"
    DECISIONS = frozenset({"revive", "purge"})

    def show(self, kept: list[KeptView], now: float, *, note: str | None = None) -> None:
        self.set_rows({k.name: kept_row(k, now) for k in kept}, note=note)
        self.set_title(f"kept state · {len(kept)}" if kept else "kept state")


def kept_row(k: KeptView, now: float) -> Row:
    return (k.name, ago(k.destroyed_at, now), size(k.size), "yes" if k.has_creds else "-")
