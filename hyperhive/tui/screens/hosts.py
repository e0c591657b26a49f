"""The hosts screen (`5`): the machines agents run on, live from ``host.*`` events.

`n` adds a host (asks for ``NAME ssh://USER@ADDR[:PORT]``; the pinned fingerprint and the
daemon's key to install are shown after), `z` drains or undrains, `d` removes (asks).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType

from hyperhive.core.errors import HyperhiveError
from hyperhive.tui.format import size
from hyperhive.tui.model import Change, Unavailable
from hyperhive.tui.panes.base import ListPane, Row
from hyperhive.tui.screens.base import HiveScreen, loader
from hyperhive.tui.screens.modals import Confirmation, ConfirmScreen
from hyperhive.tui.views import as_int, as_str, rows_of

STATE_STYLE = {"reachable": "green", "unreachable": "bold red", "incompatible": "bold red"}


@dataclass(frozen=True)
class HostView:
    name: str
    url: str
    state: str
    reason: str
    drained: bool
    agents: int
    free_memory: int | None
    version: str

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> HostView:
        agents = d.get("agents")
        free = d.get("free_memory")
        return cls(
            name=as_str(d.get("name"), "?"),
            url=as_str(d.get("url")),
            state=as_str(d.get("state"), "unknown"),
            reason=as_str(d.get("reason")),
            drained=bool(d.get("drained")),
            agents=len(agents) if isinstance(agents, list) else as_int(agents),
            free_memory=as_int(free) if isinstance(free, int) else None,
            version=as_str(d.get("version"), "-"),
        )


class HostsPane(ListPane):
    """Every host: state, agents, free memory, hyperhive version, why it is not reachable."""

    DEFAULT_CSS = """
    HostsPane > DataTable { max-height: 100%; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("n", "row('add')", "add host"),
        Binding("z", "row('drain')", "drain/undrain"),
        Binding("d", "row('remove')", "remove"),
    ]
    TITLE = "hosts"
    COLUMNS = (
        ("name", "host"),
        ("url", "url"),
        ("state", "state"),
        ("agents", "agents"),
        ("free", "free"),
        ("version", "version"),
        ("reason", "reason"),
    )
    EMPTY = "no hosts"
    DECISIONS = frozenset({"add", "drain", "remove"})
    FLEX_COLUMN = "reason"

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.hosts: dict[str, HostView] = {}

    def show(self, hosts: list[HostView] | None = None, *, note: str | None = None) -> None:
        if hosts is not None:
            self.hosts = {h.name: h for h in hosts}
        self._draw(note)

    def put(self, host: HostView) -> None:
        self.hosts[host.name] = host
        self._draw(None)

    def drop(self, name: str) -> None:
        self.hosts.pop(name, None)
        self._draw(None)

    def action_row(self, action: str) -> None:
        if action == "add":  # needs no row under the cursor
            self.post_message(self.RowAction(self, action, ""))
        else:
            super().action_row(action)

    def _draw(self, note: str | None) -> None:
        self.set_rows({n: _row(h) for n, h in sorted(self.hosts.items())}, note=note)
        self.set_title(f"hosts · {len(self.hosts)}")


def _row(h: HostView) -> Row:
    state = h.state + (", drained" if h.drained else "")
    style = STATE_STYLE.get(h.state, "")
    return (
        h.name,
        h.url,
        Text(state, style=style),
        str(h.agents),
        size(h.free_memory),
        h.version or "-",
        h.reason,
    )


class HostsScreen(HiveScreen):
    MODE = "hosts"
    DEFAULT_CSS = """
    HostsScreen > HostsPane { height: 1fr; }
    """

    def compose_body(self) -> ComposeResult:
        yield HostsPane(id="hosts")

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one(HostsPane).focus_table()
        self._load()

    def show(self, change: Change) -> None:
        super().show(change)
        pane = self.query_one(HostsPane)
        pane.set_viewer(self.ctx.model.viewer)
        if "reload" in change.topics:
            self._load()
        for name, data in change.passthrough:
            if name in ("host.added", "host.changed"):
                pane.put(HostView.from_json(data))
            elif name == "host.removed":
                pane.drop(as_str(data.get("name")))

    @loader("hosts")
    async def _load(self) -> None:
        result = await self.ctx.ops.fetch("hosts.list")
        pane = self.query_one(HostsPane)
        if isinstance(result, Unavailable):
            pane.show([], note=result.reason)
        else:
            views = [HostView.from_json(d) for d in rows_of(result, "hosts") if isinstance(d, dict)]
            pane.show(views)

    @on(ListPane.RowAction)
    def _row(self, event: ListPane.RowAction) -> None:
        event.stop()
        if self.ctx.model.viewer:
            self.notify("the viewer role can look but not decide", severity="warning")
            return
        host = self.query_one(HostsPane).hosts.get(event.key)
        if event.action == "add":
            self.app.push_screen(
                ConfirmScreen(
                    "Add a host",
                    "Its host key is pinned on this first contact and checked ever after.",
                    confirm="add",
                    note="NAME ssh://USER@ADDR[:PORT]",
                ),
                self._add,
            )
        elif event.action == "drain" and host is not None:
            verb = "undrain" if host.drained else "drain"
            self._call(f"hosts.{verb}", f"{verb}ed {host.name}", name=host.name)
        elif event.action == "remove" and host is not None:
            self.app.push_screen(
                ConfirmScreen(
                    f"Remove host {host.name}?",
                    "Its pinned key is forgotten; it is refused while agents run there.",
                    confirm="remove",
                    danger=True,
                ),
                lambda ok: self._remove(host.name) if ok else None,
            )

    def _remove(self, name: str) -> None:
        self._call("hosts.remove", f"removed {name}", name=name)

    def _add(self, answer: Confirmation | None) -> None:
        if answer is None:
            return
        words = answer.note.split()
        if len(words) != 2:
            self.notify("type NAME ssh://USER@ADDR[:PORT]", severity="error", markup=False)
            return
        self._call("hosts.add", "", name=words[0], url=words[1])

    @work(group="host-ops")
    async def _call(self, method: str, success: str, **params: Any) -> None:
        try:
            result = await self.ctx.calls.call(method, **params)
        except HyperhiveError as exc:
            self.notify(exc.message, title=method, severity="error", markup=False)
            return
        if method == "hosts.add" and isinstance(result, dict):
            host = HostView.from_json(result.get("host") or {})
            success = (
                f"{host.name}: {host.state}; pinned {as_str(result.get('fingerprint'))}. "
                f"Install the daemon's key on the host: {as_str(result.get('client_key'))}"
            )
        self.notify(success, markup=False, timeout=30 if method == "hosts.add" else 5)
