"""The repos pane: per-agent approval tags grouped by kind, and the swarm's meta deploy log."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Collapsible, OptionList, Static, Tree
from textual.widgets.option_list import Option

from hyperhive.tui.format import ago, one_line, safe, short
from hyperhive.tui.panes.base import ListPane, Row
from hyperhive.tui.views import rows_of

KINDS = ("deployed", "proposal", "approved", "building", "failed", "denied")
KIND_STYLES = {"deployed": "green", "failed": "red", "denied": "yellow", "building": "cyan"}


@dataclass(frozen=True)
class TagView:
    name: str
    kind: str
    id: int
    sha: str
    message: str = ""
    tagged_at: float | None = None

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> TagView:
        name = str(d.get("name", ""))
        kind = str(d.get("kind") or name.partition("/")[0] or "?")
        raw_id = d.get("id")
        ts = d.get("tagged_at")
        return cls(
            name=name,
            kind=kind,
            id=raw_id if isinstance(raw_id, int) and not isinstance(raw_id, bool) else -1,
            sha=str(d.get("sha", "")),
            message=str(d.get("message", "")),
            tagged_at=float(ts) if isinstance(ts, int | float) else None,
        )


@dataclass(frozen=True)
class MetaView:
    sha: str
    ts: float | None
    message: str
    agent: str | None
    approval_id: int | None
    agent_sha: str | None

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> MetaView:
        ts = d.get("ts")
        approval = d.get("approval_id")
        return cls(
            sha=str(d.get("sha", "")),
            ts=float(ts) if isinstance(ts, int | float) else None,
            message=str(d.get("message", "")),
            agent=d.get("agent") if isinstance(d.get("agent"), str) else None,
            approval_id=approval if isinstance(approval, int) else None,
            agent_sha=d.get("agent_sha") if isinstance(d.get("agent_sha"), str) else None,
        )


def base_of(tag: TagView, tags: list[TagView]) -> str | None:
    """What ran before ``tag``: the newest earlier deployed tag (None: the empty tree)."""
    earlier = [t for t in tags if t.kind == "deployed" and t.id < tag.id and t.sha != tag.sha]
    return max(earlier, key=lambda t: t.id).sha if earlier else None


def parse_tags(result: Any) -> list[TagView]:
    return [TagView.from_json(d) for d in rows_of(result, "tags") if isinstance(d, dict)]


def parse_meta(result: Any) -> list[MetaView]:
    rows = rows_of(result, "entries", "log", "commits")
    return [MetaView.from_json(d) for d in rows if isinstance(d, dict)]


class MetaList(ListPane):
    """One row per deploy of the swarm, newest first; `enter` shows that deploy's diff."""

    TITLE = "meta deploy log"
    COLUMNS = (
        ("time", "when"),
        ("agent", "agent"),
        ("approval", "approval"),
        ("sha", "agent sha"),
        ("message", "message"),
    )
    EMPTY = "no deploys yet"

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.entries: dict[str, MetaView] = {}

    def show(self, entries: list[MetaView], now: float, *, note: str | None = None) -> None:
        self.entries = {e.sha: e for e in entries}
        self.set_rows({e.sha: _meta_row(e, now) for e in entries}, note=note)


def _meta_row(e: MetaView, now: float) -> Row:
    return (
        ago(e.ts, now),
        e.agent or "-",
        f"#{e.approval_id}" if e.approval_id is not None else "-",
        short(e.agent_sha),
        one_line(e.message, 60),
    )


class ReposPane(Widget):
    """Pick an agent on the left; its tags by kind on the right; the meta log below."""

    DEFAULT_CSS = """
    ReposPane { height: auto; }
    ReposPane > Horizontal { height: 70vh; min-height: 8; }
    ReposPane OptionList { width: 24; height: 1fr; }
    ReposPane Tree { width: 1fr; height: 1fr; }
    ReposPane > .note { color: $text-muted; padding: 0 1; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("f", "files", "files at tag"),
    ]

    class AgentChosen(Message):
        def __init__(self, agent: str) -> None:
            super().__init__()
            self.agent = agent

    class TagOpened(Message):
        """Show the diff of ``tag`` against ``base`` (``files=False``) or its files."""

        def __init__(self, agent: str, tag: TagView, base: str | None, *, files: bool) -> None:
            super().__init__()
            self.agent = agent
            self.tag = tag
            self.base = base
            self.files = files

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.agent: str | None = None
        self._names: list[str] = []
        self._tags: list[TagView] = []
        self.border_title = "repos · enter: diff vs what ran before · f: files at the tag"

    def compose(self) -> ComposeResult:
        yield Static("", classes="note", markup=False)
        with Horizontal():
            yield OptionList(id="agents")
            yield Tree[TagView | None]("tags", id="tags")
        with Collapsible(title="meta deploy log", collapsed=True, id="meta"):
            yield MetaList(id="meta-list")

    def on_mount(self) -> None:
        self.query_one(Tree).show_root = False

    @on(OptionList.OptionSelected, "#agents")
    @on(OptionList.OptionHighlighted, "#agents")
    def _agent_picked(
        self, event: OptionList.OptionSelected | OptionList.OptionHighlighted
    ) -> None:
        event.stop()
        name = event.option.id
        if name is not None and name != self.agent:
            self.agent = name
            self.post_message(self.AgentChosen(name))

    @on(Tree.NodeSelected, "#tags")
    def _tag_selected(self, event: Tree.NodeSelected[TagView | None]) -> None:
        event.stop()
        tag = event.node.data
        if tag is not None and self.agent is not None:
            self.post_message(
                self.TagOpened(self.agent, tag, base_of(tag, self._tags), files=False)
            )

    def action_files(self) -> None:
        node = self.query_one(Tree).cursor_node
        if node is not None and node.data is not None and self.agent is not None:
            self.post_message(self.TagOpened(self.agent, node.data, None, files=True))

    def set_agents(self, names: list[str]) -> None:
        if names == self._names:
            return
        self._names = names
        options = self.query_one(OptionList)
        highlighted = self.agent
        options.clear_options()
        options.add_options([Option(Text(safe(n, newlines=False)), id=n) for n in names])
        if highlighted in names:
            options.highlighted = names.index(highlighted)

    def set_tags(self, agent: str, tags: list[TagView], *, note: str | None = None) -> None:
        """Group ``tags`` by kind (deployed first), newest first within a kind."""
        self.agent = agent
        self._tags = tags
        tree = self.query_one(Tree)
        tree.clear()
        tree.root.set_label(Text(safe(agent, newlines=False)))
        note_widget = self.query_one(".note", Static)
        note_widget.display = bool(note)
        note_widget.update(safe(note or ""))
        groups: dict[str, list[TagView]] = {}
        for tag in tags:
            groups.setdefault(tag.kind, []).append(tag)
        order = [k for k in KINDS if k in groups] + sorted(set(groups) - set(KINDS))
        for kind in order:
            items = sorted(groups[kind], key=lambda t: -t.id)
            node = tree.root.add(
                Text(
                    safe(f"{kind} ({len(items)})", newlines=False), style=KIND_STYLES.get(kind, "")
                ),
                data=None,
                expand=kind in ("deployed", "proposal"),
            )
            for tag in items:
                label = Text.assemble(
                    (f"#{tag.id} ", "bold"),
                    (safe(short(tag.sha), newlines=False), "dim"),
                    " ",
                    safe(one_line(tag.message, 50), newlines=False),
                )
                node.add_leaf(label, data=tag)
        if not tags and not note:
            tree.root.add_leaf(Text("no tags yet", style="dim"), data=None)

    def set_meta(self, entries: list[MetaView], now: float, *, note: str | None = None) -> None:
        self.query_one(MetaList).show(entries, now, note=note)
