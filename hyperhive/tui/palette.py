"""The command palette (`ctrl+p`): every operator action by name, and nothing of Textual's own.

Titles hold agent text (names, question text), so every hit is built as plain Rich
text: nothing here is ever parsed as markup.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any, Protocol, cast

from rich.text import Text
from textual.command import DiscoveryHit, Hit, Hits, Provider

from hyperhive.tui.actions import LIFECYCLE
from hyperhive.tui.format import safe

if TYPE_CHECKING:
    from hyperhive.tui.actions import Operations
    from hyperhive.tui.model import HiveModel


class PaletteHost(Protocol):
    """What the palette needs of the app (the app imports the palette, never back)."""

    @property
    def model(self) -> HiveModel: ...

    @property
    def ops(self) -> Operations: ...

    @property
    def mode_names(self) -> Sequence[str]: ...

    def action_help(self) -> object: ...

    def action_request_quit(self) -> object: ...

    def run_action(self, action: str) -> Awaitable[bool]: ...


@dataclass(frozen=True)
class Command:
    title: str
    help: str
    run: Callable[[], Any]
    discover: bool = True


def _prompt(title: str, help_text: str, offsets: Iterable[int] = ()) -> Text:
    text = Text(safe(title, newlines=False))
    for offset in offsets:
        if offset < len(text.plain):
            text.stylize("bold underline", offset, offset + 1)
    if help_text:
        text.append("\n" + safe(help_text, newlines=False), style="dim")
    return text


class HiveCommands(Provider):
    """Offers `commands(app)`; titles are matched fuzzily, shown as plain text."""

    @property
    def _app(self) -> PaletteHost:
        return cast("PaletteHost", self.app)

    async def discover(self) -> Hits:
        for c in sorted(commands(self._app), key=lambda c: c.title):
            if c.discover:
                yield DiscoveryHit(_prompt(c.title, c.help), c.run, text=c.title)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for c in commands(self._app):
            score = matcher.match(c.title)
            if score > 0:
                _, offsets = matcher.fuzzy_search.match(query, c.title)
                yield Hit(score, _prompt(c.title, c.help, offsets), c.run, text=c.title)


def commands(app: PaletteHost) -> Iterable[Command]:
    """Every action that applies now, by name ("Restart alpha", "Approve #12 ...")."""
    m, ops = app.model, app.ops
    decide = not m.viewer
    yield Command("Help", "every key and convention", app.action_help)
    yield Command("Quit", "leave the TUI", app.action_request_quit)
    for mode in app.mode_names:
        go = partial(app.run_action, f"mode('{mode}')")
        yield Command(f"Go to {mode}", f"switch to the {mode} screen", go)
    if decide:
        yield Command("Compose a message", "write as the operator", ops.compose)
        yield Command(
            "Spawn a new agent by name", "files a spawn request to approve", ops.request_spawn
        )
        if m.unread():
            read = partial(ops.mark_read, [i for i, msg in m.inbox.items() if not msg.acked])
            yield Command("Mark all read", "every message in the operator inbox", read)
    for a in m.live_agents():
        yield Command(
            f"Open {a.name}",
            "agent page: turns, notes, config, stats",
            partial(ops.open_agent, a.name),
            discover=False,
        )
        if not decide:
            continue
        for verb, (_, detail, _) in LIFECYCLE.items():
            if ops.applies(a, verb):
                yield Command(
                    f"{verb.capitalize()} {a.name}",
                    detail,
                    partial(ops.lifecycle, a.name, verb),
                    discover=False,
                )
        yield Command(
            f"Terminal into {a.name}",
            "a shell in its container",
            partial(ops.open_terminal, a.name),
            discover=False,
        )
        yield Command(
            f"Message {a.name}", "compose to this agent", partial(ops.compose, a.name), False
        )
    for ap in m.pending_approvals():
        what = f"#{ap.id} {ap.kind} for {ap.agent}"
        yield Command(f"Open approval {what}", "the full diff", partial(ops.open_approval, ap.id))
        if decide:
            yield Command(f"Approve {what}", "build and deploy it", partial(ops.approve, ap))
            yield Command(f"Deny {what}", "with a note", partial(ops.deny, ap))
    for q in m.open_questions():
        if decide:
            yield Command(
                f"Answer question #{q.id} from {q.asker}", q.question[:80], partial(ops.answer, q)
            )
            yield Command(
                f"Cancel question #{q.id}",
                q.question[:80],
                partial(ops.cancel_question, q),
                discover=False,
            )
    if decide:
        for name in sorted(m.kept):
            yield Command(f"Revive {name}", "from its kept state", partial(ops.revive, name), False)
            yield Command(
                f"Purge {name}", "delete its kept state for good", partial(ops.purge, name), False
            )
    yield Command("Verify the audit log", "check the hash chain", ops.verify_audit)
