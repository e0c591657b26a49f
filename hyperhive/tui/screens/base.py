"""The base of every full screen: a status line on top, the footer below, changes routed in."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Coroutine
from typing import Any, ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.css.query import NoMatches
from textual.screen import Screen

from hyperhive.tui.context import Ctx
from hyperhive.tui.model import Change
from hyperhive.tui.widgets.footer import HiveFooter
from hyperhive.tui.widgets.status import StatusLine

logger = logging.getLogger(__name__)
Load = Callable[..., Coroutine[Any, Any, None]]


def loader(group: str, *, exclusive: bool = True) -> Callable[[Load], Any]:
    """A screen's loader: a worker (the newest of ``group`` wins) that fetches, then fills
    the screen's panes.

    The panes are composed with the screen and go only with it, so a pane missing when
    the fetch returns means the screen was torn down meanwhile (the app quitting, the
    page closed): the load ends there instead of failing the app.
    """

    def wrap(fn: Load) -> Any:
        @functools.wraps(fn)
        async def run(self: Screen[None], *args: Any) -> None:
            try:
                await fn(self, *args)
            except NoMatches as exc:
                logger.debug("%s: %s ended with its screen gone (%s)", self, fn.__name__, exc)

        return work(group=group, exclusive=exclusive)(run)

    return wrap


class HiveScreen(Screen[None]):
    """A screen fed by the app: `show` gets each change, `tick` the local clock.

    Subclasses compose their body in `compose_body` and route changes to their panes
    in `show`. A screen that comes back to the front re-reads everything.
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "back"),
        Binding("q", "app.quit_or_back", "quit", show=False),
    ]
    MODE: ClassVar[str] = ""  # the tab this screen lights in the status line ("" for pages)

    def __init__(self, ctx: Ctx, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.ctx = ctx

    def compose(self) -> ComposeResult:
        yield StatusLine(self.MODE or getattr(self.app, "current_mode", ""))
        yield from self.compose_body()
        yield HiveFooter(compact=True)

    def compose_body(self) -> ComposeResult:
        yield from ()

    def on_mount(self) -> None:
        self.show(Change.everything())

    def on_screen_resume(self) -> None:
        self.show(Change.everything())

    def show(self, change: Change) -> None:
        """Route ``change`` to the panes; the base keeps the status line current."""
        self.query_one(StatusLine).show(self.ctx.model)

    def tick(self, now: float) -> None:
        """Once a second: relative times and countdowns."""

    def action_back(self) -> None:
        if len(self.app.screen_stack) > 1:
            self.app.pop_screen()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "back":
            return len(self.app.screen_stack) > 1
        return True
