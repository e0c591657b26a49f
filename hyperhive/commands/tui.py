"""`hyperhive tui`: the operator's terminal UI (also what every SSH session runs)."""

from __future__ import annotations

import argparse
import logging

from hyperhive.commands import ROLES, Context, Output, Verb, connect_session, session_identity
from hyperhive.core.settings import Settings

__all__ = ["ROLES", "session_identity", "tui"]


def _args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--who", help="your name in the audit log (default: $HYPERHIVE_WHO, else the local user)"
    )
    p.add_argument(
        "--role",
        choices=ROLES,
        help="operator decides; viewer only looks (default: $HYPERHIVE_ROLE, else operator)",
    )
    p.add_argument(
        "--no-desktop-notify",
        action="store_true",
        help="no notify-send (toasts and the bell only)",
    )


def _log_to_file(settings: Settings) -> None:
    # a log line on stderr would tear through the screen: log to a file instead
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    sink: logging.Handler
    try:
        sink = logging.FileHandler(settings.state_dir / "tui.log")
    except OSError:
        sink = logging.NullHandler()
    sink.setFormatter(
        logging.Formatter("%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s")
    )
    root.addHandler(sink)


async def tui(ctx: Context) -> Output:
    from hyperhive.tui.app import make_app  # Textual loads only for this verb

    settings = ctx.settings
    who, role = session_identity(ctx.args.who, ctx.args.role)
    _log_to_file(settings)
    app = make_app(
        lambda: connect_session(settings.host_socket, who, role),
        who=who,
        role=role,
        desktop_notify=not ctx.args.no_desktop_notify,
    )
    await app.run_async()
    return None


VERBS = [Verb("tui", "open the operator's terminal UI", tui, _args)]
