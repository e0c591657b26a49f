"""The footer: the keys that apply, the ones an operator needs most first.

Textual's footer lists the focused widget's keys first and the app's last, so at 80
columns `c compose` and `? help` fall off the edge. This one puts the keys every
screen has (`enter`, `esc`, `c`, `?`, `1-4`) first, then the rest in Textual's order.
"""

from __future__ import annotations

from collections import defaultdict
from itertools import groupby

from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Footer
from textual.widgets._footer import FooterKey, FooterLabel, KeyGroup

FIRST = ("enter", "escape", "c", "question_mark")


def _rank(binding: Binding) -> int:
    if binding.key in FIRST:
        return FIRST.index(binding.key)
    if binding.group is not None and binding.group.description == "screens":
        return len(FIRST)  # 1-4 together, right after the everyday keys
    return len(FIRST) + 1


class HiveFooter(Footer):
    """Footer keys ranked: the everyday ones first, so a narrow terminal keeps them."""

    def compose(self) -> ComposeResult:
        if not self._bindings_ready:
            return
        shown = [
            (binding, enabled, tooltip)
            for (_, binding, enabled, tooltip) in self.screen.active_bindings.values()
            if binding.show
        ]
        shown.sort(key=lambda item: _rank(item[0]))  # stable: the rest keep their order
        by_action: defaultdict[str, list[tuple[Binding, bool, str]]] = defaultdict(list)
        for binding, enabled, tooltip in shown:
            by_action[binding.action].append((binding, enabled, tooltip))
        self.styles.grid_size_columns = len(by_action)
        for group, items in groupby(by_action.values(), lambda multi: multi[0][0].group):
            multis = list(items)
            if group is not None and len(multis) > 1:
                with KeyGroup(classes="-compact" if group.compact else ""):
                    for multi in multis:
                        binding, enabled, tooltip = multi[0]
                        yield FooterKey(
                            binding.key,
                            self.app.get_key_display(binding),
                            "",
                            binding.action,
                            disabled=not enabled,
                            tooltip=tooltip or binding.description,
                            classes="-grouped",
                        ).data_bind(compact=Footer.compact)
                yield FooterLabel(group.description)
            else:
                for multi in multis:
                    binding, enabled, tooltip = multi[0]
                    yield FooterKey(
                        binding.key,
                        self.app.get_key_display(binding),
                        binding.description,
                        binding.action,
                        disabled=not enabled,
                        tooltip=tooltip,
                    ).data_bind(compact=Footer.compact)
