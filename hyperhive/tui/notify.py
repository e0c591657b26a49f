"""Tell the operator once per transition: a toast, the terminal bell, a desktop notification."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

from hyperhive.core.errors import HyperhiveError
from hyperhive.core.runner import ProcessRunner, Runner, which
from hyperhive.core.safetext import terminal_safe
from hyperhive.tui.model import Notice

if TYPE_CHECKING:
    from textual.app import App

logger = logging.getLogger(__name__)

Severity = Literal["information", "warning", "error"]
_URGENCY: dict[Severity, str] = {"error": "critical", "warning": "normal", "information": "low"}
_DESKTOP_MAX = 3  # a burst becomes three notes, not thirty


class Notifier:
    """Turns the model's notices into what an operator notices, even in another window."""

    def __init__(self, app: App[Any], *, runner: Runner | None = None, desktop: bool = True):
        self._app = app
        self._runner = runner or ProcessRunner()
        self._desktop = desktop and which("notify-send") is not None
        self.sent: list[Notice] = []

    def announce(self, notices: Sequence[Notice]) -> None:
        """Toast each notice, ring the bell once, and send desktop notes in the background."""
        if not notices:
            return
        for n in notices:
            # agents write these texts: never read them as markup
            self._app.notify(
                terminal_safe(n.message or n.title),
                title=terminal_safe(n.title, newlines=False),
                severity=_severity(n),
                markup=False,
            )
        self.sent.extend(notices)
        self._app.bell()
        if self._desktop:
            self._app.run_worker(self._send_desktop(list(notices)), group="notify-send")

    async def _send_desktop(self, notices: list[Notice]) -> None:
        for n in notices[:_DESKTOP_MAX]:
            argv = ["notify-send", "--app-name=hyperhive", f"--urgency={_URGENCY[_severity(n)]}"]
            try:
                await self._runner.run([*argv, n.title, n.message], check=False, timeout=5)
            except (
                HyperhiveError,
                TimeoutError,
                OSError,
            ) as exc:  # no desktop session: the toast already told them
                logger.info("notify-send failed: %s", exc)
                return


def _severity(n: Notice) -> Severity:
    for level in _URGENCY:
        if n.severity == level:
            return level
    return "information"
