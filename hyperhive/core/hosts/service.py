"""The host registry: the machines agents run on, and one `HostLink` to each remote one."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Callable, Mapping
from typing import Any

import asyncssh

from hyperhive import __version__
from hyperhive.core.agents import AgentRegistry
from hyperhive.core.audit import AuditLog
from hyperhive.core.errors import HyperhiveError, InvalidInput, NotFound, Refused
from hyperhive.core.events import EventBus
from hyperhive.core.hosts.keys import client_key, fingerprint, fingerprint_of, pin_line, public_line
from hyperhive.core.hosts.link import Backoff, HostLink, LinkOptions, LinkState
from hyperhive.core.hosts.target import LOCAL, parse_url, validate_host_name
from hyperhive.core.models import HostRecord
from hyperhive.core.names import MANAGER, SYSTEM
from hyperhive.core.settings import Settings
from hyperhive.core.store import Store
from hyperhive.core.store import hosts as q

logger = logging.getLogger(__name__)

# where the host's hyperhive is: its python (the same version must import there)
PYTHON_ENV = "HYPERHIVE_HOST_PYTHON"
_MEMINFO_TIMEOUT = 5.0
_FIRST_CONTACT_TIMEOUT = 15.0


class Hosts:
    """Registered hosts, their pinned keys and links; every change audited and published.

    Events: ``host.added``, ``host.removed``, ``host.changed`` (the host's full view, on
    any change), and ``host.reachable`` / ``host.unreachable`` / ``host.incompatible``
    when a link's state changes. ``placement`` maps each live agent to its host; until
    agents are placed elsewhere, every agent runs on ``local``.
    """

    def __init__(
        self,
        settings: Settings,
        store: Store,
        events: EventBus,
        audit: AuditLog,
        agents: AgentRegistry,
        *,
        options: LinkOptions | None = None,
    ) -> None:
        self._settings = settings
        self._store = store
        self._events = events
        self._audit = audit
        self._agents = agents
        self.options = options or LinkOptions(python=os.environ.get(PYTHON_ENV, "python3"))
        self.backoff = Backoff()
        self.placement: Callable[[], Mapping[str, str]] = self._live_placement
        self._placed: dict[str, str] = {}  # agent -> its host (absent: local)
        self._records: dict[str, HostRecord] = {}
        self._links: dict[str, HostLink] = {}
        self._free: dict[str, int | None] = {}
        self._key: asyncssh.SSHKey | None = None
        self._broken: dict[str, str] = {}  # remote hosts without a link, and why
        # called with each link as it opens (the router makes that host's runtime)
        self.on_open: list[Callable[[HostLink], object]] = []

    @property
    def settings(self) -> Settings:
        return self._settings

    # -- lifecycle ------------------------------------------------------------

    async def load(self) -> None:
        """Read the hosts (no write: a read-only database still opens; the migration made
        the row of ``local``)."""
        self._records = {h.name: h for h in await self._store.read(q.all_hosts)}
        self._records.setdefault(LOCAL, HostRecord(LOCAL, "", "", False, time.time(), SYSTEM))
        self._placed = await self._store.read(q.placements)

    def start(self) -> None:
        """Open a link to every remote host (they connect in the background)."""
        for record in self._records.values():
            if record.name != LOCAL and record.name not in self._links:
                try:
                    self._open_link(record)
                except HyperhiveError as exc:  # one bad row never stops the daemon
                    logger.error("host %s is not usable: %s", record.name, exc.message)
                    self._broken[record.name] = f"its stored record is not usable: {exc.message}"

    async def close(self) -> None:
        links, self._links = list(self._links.values()), {}
        for link in links:
            await link.close()

    # -- queries --------------------------------------------------------------

    def names(self) -> list[str]:
        return sorted(self._records)

    def link(self, name: str) -> HostLink:
        """The link to remote host ``name`` (what runtimes and forwards use)."""
        self._get(name)
        if name == LOCAL:
            raise InvalidInput("the host local has no SSH link")
        return self._links[name]

    def agents_on(self, name: str) -> list[str]:
        return sorted(a for a, h in self.placement().items() if h == name)

    def placeable(self) -> list[str]:
        """Hosts new agents may go to: reachable and not drained."""
        return [n for n in self.names() if not self._records[n].drained and self._usable(n)]

    async def roomiest(self) -> str:
        """The placeable host with the most free memory now (``local`` on a tie, or when no
        host reports its memory).

        Raises:
            Refused: every host is drained, unreachable or incompatible.
        """
        names = self.placeable()
        if not names:
            raise Refused("no host can take a new agent: every host is drained or unreachable")
        await asyncio.gather(*(self._refresh_memory(n) for n in names))
        return max((self._free.get(n) or -1, n == LOCAL, n) for n in names)[2]

    def describe(self, name: str) -> dict[str, Any]:
        """One host's view from what is known now (no I/O)."""
        record = self._get(name)
        link = self._links.get(name)
        state, reason = LinkState.REACHABLE.value, ""
        version: str | None = __version__
        since: float | None = None
        if link is not None:
            state, reason, version, since = link.state.value, link.reason, link.version, link.since
        elif name != LOCAL:
            state, reason, version = LinkState.UNREACHABLE.value, self._broken.get(name, ""), None
        return {
            "name": name,
            "url": record.url or "local",
            "state": state,
            "reason": reason,
            "drained": record.drained,
            "agents": self.agents_on(name),
            "free_memory": self._free.get(name),
            "version": version,
            "fingerprint": _fingerprint_or_blank(record.host_key),
            "added_at": record.added_at,
            "state_since": since,
        }

    async def list(self) -> list[dict[str, Any]]:
        """Every host, with free memory read now (``MemAvailable``, bytes) where reachable."""
        names = self.names()
        await asyncio.gather(*(self._refresh_memory(n) for n in names))
        return [self.describe(n) for n in names]

    def client_public_key(self) -> str:
        return public_line(self._client_key())

    # -- operator actions -------------------------------------------------------

    async def add(
        self, name: object, url: object, *, by: str, expect: str | None = None
    ) -> dict[str, Any]:
        """Register a host: learn and pin its host key on first contact, then connect.

        Args:
            name: the host's name here.
            url: ``ssh://USER@ADDR[:PORT]``.
            by: who asked (audited).
            expect: the host key's SHA256 fingerprint, if the operator knows it: any
                other key is refused before anything is stored.

        Raises:
            InvalidInput: a bad name or url.
            Refused: the name is taken, the host cannot be reached, or the key is not
                the expected one.
        """
        name = validate_host_name(name)
        target = parse_url(url)
        if name in self._records:
            raise Refused(f"a host named {name!r} exists")
        try:
            key = await asyncio.wait_for(
                asyncssh.get_server_host_key(target.addr, target.port),
                self.options.connect_timeout,
            )
        except (OSError, asyncssh.Error, TimeoutError) as exc:
            reason = "timed out" if isinstance(exc, TimeoutError) else str(exc) or repr(exc)
            raise Refused(f"cannot reach {target.url}: {reason}") from exc
        if key is None:
            raise Refused(f"{target.url} offered no host key")
        seen = fingerprint(key)
        if expect is not None and expect != seen:
            await self._audit.record(
                by, "host.add", name, {"url": target.url, "offered": seen}, result="refused"
            )
            raise Refused(f"{target.url} offered host key {seen}, not the expected {expect}")
        if name in self._records:  # added by someone else while we asked for the key
            raise Refused(f"a host named {name!r} exists")
        record = HostRecord(name, target.url, pin_line(key), False, time.time(), by)
        self._records[name] = record  # claimed before the write: a second add is refused
        try:
            await self._store.write(q.insert, record)
        except BaseException:
            del self._records[name]
            raise
        await self._audit.record(by, "host.add", name, {"url": target.url, "fingerprint": seen})
        self._events.publish("host.added", self.describe(name))
        link = self._open_link(record)
        await link.settled(_FIRST_CONTACT_TIMEOUT)
        return {
            "host": self.describe(name),
            "fingerprint": seen,
            "client_key": self.client_public_key(),
        }

    async def remove(self, name: str, *, by: str) -> None:
        """Forget a host; refused for ``local`` and while agents are placed there."""
        self._get(name)
        if name == LOCAL:
            raise Refused("the host local cannot be removed")
        placed = self.agents_on(name)
        if placed:
            raise Refused(
                f"host {name} still runs {len(placed)} agent(s) ({', '.join(placed[:5])}): "
                "destroy or move them first"
            )
        link = self._links.pop(name, None)
        if link is not None:
            await link.close()
        await self._store.write(q.delete, name)
        del self._records[name]
        self._free.pop(name, None)
        self._broken.pop(name, None)
        await self._audit.record(by, "host.remove", name)
        self._events.publish("host.removed", {"name": name})

    async def set_drained(self, name: str, drained: bool, *, by: str) -> dict[str, Any]:
        """Drain (no new agents are placed there) or undrain a host."""
        record = self._get(name)
        if record.drained != drained:
            await self._store.write(q.set_drained, name, drained)
            self._records[name] = HostRecord(
                record.name, record.url, record.host_key, drained, record.added_at, record.added_by
            )
            await self._audit.record(by, "host.drain" if drained else "host.undrain", name)
            self._events.publish("host.changed", self.describe(name))
        return self.describe(name)

    # -- helpers ----------------------------------------------------------------

    def _get(self, name: str) -> HostRecord:
        record = self._records.get(name)
        if record is None:
            raise NotFound(f"no host named {name!r}")
        return record

    def _usable(self, name: str) -> bool:
        if name == LOCAL:
            return True
        link = self._links.get(name)
        return link is not None and link.state is LinkState.REACHABLE

    def _live_placement(self) -> dict[str, str]:
        return {a.name: self._placed.get(a.name, LOCAL) for a in self._agents.live()}

    # -- placement ------------------------------------------------------------

    async def plan(self, agent: str, wanted: str | None, existing: bool) -> tuple[str, bool]:
        """Where ``agent`` runs once a change to it is approved, and whether the daemon
        chose that host (an approval shows both).

        A new agent goes where `pick` puts it; an existing one stays where it runs: a
        change naming another host is refused (agents do not move between hosts).

        Raises:
            InvalidInput: ``wanted`` is not registered, or would move the agent.
            Refused: a new agent has nowhere to go (every host drained or unreachable).
        """
        if existing:
            current = self.host_of(agent)
            if wanted is not None and wanted != current:
                raise InvalidInput(
                    f"host = {wanted!r}, but {agent} runs on {current!r}: an agent does not "
                    "move between hosts (destroy it and spawn it again there)"
                )
            return current, False
        return await self.pick(wanted, agent=agent), wanted is None and agent != MANAGER

    async def pick(self, wanted: str | None, *, prefer: str | None = None, agent: str = "") -> str:
        """The host a new agent runs on.

        The manager always runs on ``local``, beside the daemon (it reads every agent's
        proposed repo there). Else ``wanted`` (its ``agent.toml`` ``host``) when set: a
        registered host, drained or not (the operator asked for it). Else ``prefer`` (the
        host its approval showed) while it takes agents; else the `roomiest` host.

        Raises:
            InvalidInput: ``wanted`` is not a registered host, or not ``local`` for the
                manager.
            Refused: nothing was asked for and every host is drained or unreachable.
        """
        if agent == MANAGER:
            if wanted not in (None, LOCAL):
                raise InvalidInput(
                    f"host = {wanted!r}: the manager runs on local, beside the daemon"
                )
            return LOCAL
        if wanted is not None:
            if wanted not in self._records:
                raise InvalidInput(
                    f"host {wanted!r} is not registered (hyperhive host add {wanted} ssh://...)"
                )
            return wanted
        if prefer is not None and prefer in self.placeable():
            return prefer
        return await self.roomiest()

    def host_of(self, agent: str) -> str:
        """The host ``agent`` runs on (``local`` unless it was placed elsewhere)."""
        return self._placed.get(agent, LOCAL)

    async def place(self, agent: str, host: str) -> None:
        """Record that ``agent`` runs on ``host`` (at its spawn)."""
        self._get(host)
        if self._placed.get(agent, LOCAL) == host:
            return
        await self._store.write(q.place, agent, host, time.time())
        self._placed[agent] = host
        self._events.publish("host.changed", self.describe(host))

    async def unplace(self, agent: str) -> None:
        """Forget where ``agent`` ran (it was purged)."""
        host = self._placed.pop(agent, None)
        if host is not None:
            await self._store.write(q.unplace, agent)
            if host in self._records:
                self._events.publish("host.changed", self.describe(host))

    def _client_key(self) -> asyncssh.SSHKey:
        if self._key is None:
            self._key = client_key(self._settings)
        return self._key

    def _open_link(self, record: HostRecord) -> HostLink:
        link = HostLink(
            record.name,
            parse_url(record.url),
            record.host_key,
            self._client_key(),
            options=self.options,
            backoff=self.backoff,
            on_state=self._link_changed,
            on_key_refused=self._key_refused,
        )
        self._links[record.name] = link
        for opened in self.on_open:
            opened(link)
        link.start()
        return link

    def _link_changed(self, link: HostLink) -> None:
        if self._links.get(link.name) is not link:
            return  # a removed host's link, closing
        if link.state is not LinkState.CONNECTING:
            self._events.publish(
                f"host.{link.state.value}", {"name": link.name, "reason": link.reason}
            )
        self._events.publish("host.changed", self.describe(link.name))
        for name in self.agents_on(link.name):  # their `host_state` changed with it
            agent = self._agents.find(name)
            if agent is not None:
                self._events.publish("agent.changed", self._agents.describe(agent))

    def host_state(self, agent: str) -> str:
        """``reachable``, or the state of the link to ``agent``'s host when it is not
        (``unreachable``: its agents' last known state stands, nothing is restarted)."""
        host = self.host_of(agent)
        link = self._links.get(host)
        if host == LOCAL or link is None:
            return "reachable" if host == LOCAL else "unreachable"
        return "reachable" if link.state is LinkState.REACHABLE else link.state.value

    async def _key_refused(self, link: HostLink, offered: str) -> None:
        detail = {"url": link.target.url, "offered": offered, "pinned": fingerprint(link.pinned)}
        await self._audit.record(SYSTEM, "host.key_refused", link.name, detail, "refused")

    async def _refresh_memory(self, name: str) -> None:
        if name == LOCAL:
            self._free[name] = await asyncio.to_thread(_local_mem_available)
            return
        link = self._links.get(name)
        if link is None or link.state is not LinkState.REACHABLE:
            return
        with contextlib.suppress(Exception):
            rc, out, _ = await link.run(["cat", "/proc/meminfo"], timeout=_MEMINFO_TIMEOUT)
            if rc == 0:
                self._free[name] = mem_available(out.decode(errors="replace"))


def _fingerprint_or_blank(line: str) -> str:
    try:
        return fingerprint_of(line)
    except InvalidInput:
        return ""


def mem_available(meminfo: str) -> int | None:
    """``MemAvailable`` of a ``/proc/meminfo`` text, in bytes."""
    for line in meminfo.splitlines():
        if line.startswith("MemAvailable:"):
            parts = line.split()
            if len(parts) >= 2 and parts[1].isdigit():
                return int(parts[1]) * 1024
    return None


def _local_mem_available() -> int | None:
    try:
        with open("/proc/meminfo") as f:
            return mem_available(f.read(65536))
    except OSError:
        return None
