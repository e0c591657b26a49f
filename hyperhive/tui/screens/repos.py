"""The repos screen: tags of each agent's applied repo, the meta deploy log, diffs and files."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Footer, OptionList, Static
from textual.widgets.option_list import Option

from hyperhive.tui.context import Ctx
from hyperhive.tui.format import safe
from hyperhive.tui.model import Change, Unavailable
from hyperhive.tui.panes.base import ListPane
from hyperhive.tui.panes.repos import MetaList, ReposPane, TagView, parse_meta, parse_tags
from hyperhive.tui.screens.agent import text_of
from hyperhive.tui.screens.base import HiveScreen, loader
from hyperhive.tui.screens.modals import TextScreen
from hyperhive.tui.views import rows_of

META_LIMIT = 200
FOLLOW_SECONDS = 0.5


def diff_of(result: Any) -> Any:
    """The diff text of a ``repos.diff`` reply (or the `Unavailable` it was)."""
    if isinstance(result, Unavailable):
        return result
    return text_of(result) if not isinstance(result, dict) else result.get("diff", text_of(result))


class ReposScreen(HiveScreen):
    """Pick an agent, browse its tags by kind; `enter` shows a diff, `f` the files at a tag."""

    MODE = "repos"

    DEFAULT_CSS = """
    ReposScreen > VerticalScroll { height: 1fr; }
    """

    def compose_body(self) -> ComposeResult:
        with VerticalScroll():
            yield ReposPane(id="repos")

    def __init__(self, ctx: Ctx) -> None:
        super().__init__(ctx)
        self._reload_timer: Timer | None = None

    def on_mount(self) -> None:
        super().on_mount()
        self._load_meta()

    def show(self, change: Change) -> None:
        super().show(change)
        m = self.ctx.model
        if change.topics & {"agents", "kept", "approvals"}:
            # a pending spawn has a repo (and a proposal tag) before its agent exists
            names = [a.name for a in m.live_agents()]
            names += sorted(({a.agent for a in m.pending_approvals()} | set(m.kept)) - set(names))
            self.query_one(ReposPane).set_agents(names)
        if "reload" in change.topics:
            self._reload()
        elif "approvals" in change.topics and self._reload_timer is None:
            # a decision moves tags and may deploy: follow it, shown or not, once it settles
            self._reload_timer = self.set_timer(FOLLOW_SECONDS, self._reload)

    def _reload(self) -> None:
        self._reload_timer = None
        self._load_meta()
        agent = self.query_one(ReposPane).agent
        if agent is not None:
            self._load_tags(agent)

    @loader("meta")
    async def _load_meta(self) -> None:
        result = await self.ctx.ops.fetch("repos.meta_log", limit=META_LIMIT)
        note = result.reason if isinstance(result, Unavailable) else None
        self.query_one(ReposPane).set_meta(parse_meta(result), self.ctx.clock(), note=note)

    @on(ReposPane.AgentChosen)
    def _agent(self, event: ReposPane.AgentChosen) -> None:
        self._load_tags(event.agent)

    @loader("tags")
    async def _load_tags(self, agent: str) -> None:
        result = await self.ctx.ops.fetch("repos.tags", agent=agent)
        note = result.reason if isinstance(result, Unavailable) else None
        self.query_one(ReposPane).set_tags(agent, parse_tags(result), note=note)

    @on(ReposPane.TagOpened)
    def _tag(self, event: ReposPane.TagOpened) -> None:
        if event.files:
            self.app.push_screen(FilesScreen(self.ctx, event.agent, event.tag.name))
        else:
            self._open_diff(event.agent, event.tag, event.base)

    def _open_diff(self, agent: str, tag: TagView, base: str | None) -> None:
        async def load() -> Any:
            return diff_of(
                await self.ctx.ops.fetch("repos.diff", agent=agent, target=tag.sha, base=base)
            )

        against = f"vs {base[:10]}" if base else "vs empty tree"
        title = f"{agent} · {tag.name} · {tag.sha[:12]} {against}  {tag.message}"
        self.app.push_screen(TextScreen(title, load, lexer="diff"))

    @on(ListPane.RowAction)
    def _meta_row(self, event: ListPane.RowAction) -> None:
        event.stop()
        if not isinstance(event.pane, MetaList) or event.action != "open":
            return
        entry = event.pane.entries.get(event.key)
        if entry is None or entry.agent is None or entry.agent_sha is None:
            return
        agent, sha = entry.agent, entry.agent_sha
        base = self._previous_deploy(entry.sha, agent)

        async def load() -> Any:
            return diff_of(
                await self.ctx.ops.fetch("repos.diff", agent=agent, target=sha, base=base)
            )

        self.app.push_screen(TextScreen(f"deploy of {agent} · {sha[:12]}", load, lexer="diff"))

    def _previous_deploy(self, meta_sha: str, agent: str) -> str | None:
        """The agent's sha in the deploy before ``meta_sha`` (the log is newest first)."""
        entries = list(self.query_one(MetaList).entries.values())
        keys = [e.sha for e in entries]
        if meta_sha not in keys:
            return None
        for older in entries[keys.index(meta_sha) + 1 :]:
            if older.agent == agent and older.agent_sha:
                return older.agent_sha
        return None


class FilesScreen(Screen[None]):
    """The files of an agent's repo at a ref; `enter` shows one raw."""

    DEFAULT_CSS = """
    FilesScreen > #title { height: 1; background: $panel; padding: 0 1; text-style: bold; }
    FilesScreen > OptionList { height: 1fr; }
    """
    BINDINGS = [
        Binding("escape", "app.pop_screen", "back"),
        Binding("q", "app.pop_screen", "back", show=False),
    ]

    def __init__(self, ctx: Ctx, agent: str, ref: str) -> None:
        super().__init__()
        self.ctx = ctx
        self.agent = agent
        self.ref = ref

    def compose(self) -> ComposeResult:
        yield Static(safe(f"{self.agent} @ {self.ref}", newlines=False), id="title", markup=False)
        yield OptionList(id="files")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(OptionList).focus()
        self._list()

    @loader("files", exclusive=False)
    async def _list(self) -> None:
        result = await self.ctx.ops.fetch("repos.files", agent=self.agent, ref=self.ref)
        files = self.query_one(OptionList)
        if isinstance(result, Unavailable):
            files.add_option(Option(result.reason, disabled=True))
            return
        names = [
            f if isinstance(f, str) else str(f.get("path", "?")) for f in rows_of(result, "files")
        ]
        options = [Option(Text(safe(n, newlines=False)), id=n) for n in names]
        files.add_options(options or [Option("no files", disabled=True)])

    @on(OptionList.OptionSelected, "#files")
    def _open(self, event: OptionList.OptionSelected) -> None:
        path = event.option.id
        if path is None:
            return

        async def load() -> Any:
            result = await self.ctx.ops.fetch(
                "repos.show", agent=self.agent, ref=self.ref, path=path
            )
            return result if isinstance(result, Unavailable) else text_of(result)

        lexer = {"toml": "toml", "nix": "nix", "md": "markdown", "json": "json"}.get(
            path.rsplit(".", 1)[-1], "text"
        )
        self.app.push_screen(TextScreen(f"{self.agent} @ {self.ref}: {path}", load, lexer=lexer))
