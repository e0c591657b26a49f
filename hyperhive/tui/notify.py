"""Tell the operator once per transition: a toast, the terminal bell, a desktop notification."""

from __future__ import annotations

import logging
import time
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
_TOAST_MAX = 2  # more notices than this in one batch become one summary toast
BELL_GAP = 10.0  # seconds: a stream of messages rings once, not once each


class Notifier:
    """Turns the model's notices into what an operator notices, even in another window."""

    def __init__(self, app: App[Any], *, runner: Runner | None = None, desktop: bool = True):
        self._app = app
        self._runner = runner or ProcessRunner()
        self._desktop = desktop and which("notify-send") is not None
        self.sent: list[Notice] = []
        self.bells = 0
        self._last_bell = -BELL_GAP

    def announce(self, notices: Sequence[Notice]) -> None:
        """Toast each notice, ring the bell once, and send desktop notes in the background."""
        if not notices:
            return
        if len(notices) > _TOAST_MAX:
            worst = min(notices, key=lambda n: list(_URGENCY).index(_severity(n)))
            titles = "; ".join(n.title for n in notices[:4])
            more = f" and {len(notices) - 4} more" if len(notices) > 4 else ""
            self._app.notify(
                terminal_safe(titles + more),
                title=f"{len(notices)} new",
                severity=_severity(worst),
                markup=False,
            )
        else:
            for n in notices:
                # agents write these texts: never read them as markup
                self._app.notify(
                    terminal_safe(n.message or n.title),
                    title=terminal_safe(n.title, newlines=False),
                    severity=_severity(n),
                    markup=False,
                )
        self.sent.extend(notices)
        now = time.monotonic()
        if now - self._last_bell >= BELL_GAP:
            self._last_bell = now
            self.bells += 1
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
