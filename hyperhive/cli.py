"""Command-line entry point: argument parsing, output, and the only place that exits."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hyperhive.commands import Context
from hyperhive.commands.catalog import all_verbs
from hyperhive.core.errors import HyperhiveError
from hyperhive.core.safetext import terminal_safe


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hyperhive",
        description="Run a swarm of AI coding agents; approve every change as a git commit.",
    )
    parser.add_argument("--state-dir", type=Path, help="state directory (HYPERHIVE_STATE_DIR)")
    parser.add_argument("--run-dir", type=Path, help="socket directory (HYPERHIVE_RUN_DIR)")
    parser.add_argument("--config", type=Path, help="TOML config file (HYPERHIVE_CONFIG)")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true", help="print machine-readable JSON")
    sub = parser.add_subparsers(dest="verb", metavar="COMMAND", required=True)
    for verb in all_verbs():
        p = sub.add_parser(verb.name, help=verb.help, description=verb.help, parents=[common])
        verb.add_args(p)
        p.set_defaults(_verb=verb)
    return parser


class SafeFormatter(logging.Formatter):
    """Log lines terminal-safe: the daemon's log often quotes what an agent wrote."""

    def format(self, record: logging.LogRecord) -> str:
        return terminal_safe(super().format(record))


def configure_logging(verbose: int) -> None:
    """Log to stderr (the operator's terminal, or the service's journal), escaped."""
    handler = logging.StreamHandler()
    handler.setFormatter(SafeFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=logging.WARNING - 10 * min(verbose, 2), handlers=[handler])


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    configure_logging(args.verbose)
    verb = args._verb
    ctx = Context(args)
    try:
        result = _run(verb.run(ctx), fast_loop=verb.name in ("daemon", "agent"))
    except KeyboardInterrupt:
        return 130
    except HyperhiveError as exc:
        if getattr(args, "json", False):
            print(json.dumps({"error": {"code": exc.code, "message": exc.message}}))
        # daemon errors quote what was asked for (agent names, approval errors)
        print(f"hyperhive {verb.name}: {terminal_safe(exc.message)}", file=sys.stderr)
        return 2 if exc.code == "unavailable" else 1
    if result is None:
        return 0
    data, text = result
    if getattr(args, "json", False):
        print(json.dumps(data, indent=2, default=_default))
    elif text:
        print(terminal_safe(text))  # agent text is data: never a control sequence
    return 0


def _run(coro: Any, *, fast_loop: bool) -> Any:
    """Run a verb; the daemon and the harness get uvloop where installed (a faster loop)."""
    if fast_loop:
        try:
            import uvloop
        except ImportError:
            pass
        else:
            return uvloop.run(coro)
    return asyncio.run(coro)


def _default(obj: Any) -> Any:
    if hasattr(obj, "to_json"):
        return obj.to_json()
    return str(obj)


if __name__ == "__main__":
    sys.exit(main())
