"""The lifecycle's runtime when agents live on several hosts: each call goes to the
runtime of the host its agent was placed on (`Hosts.host_of`).

Agents on ``local`` use the daemon's own runtime (process, nspawn or nixos); agents on a
remote host use one `RemoteRuntime` per host, made over that host's `HostLink` as the
link opens, so that at every connect (a daemon restart's first one too) it forwards and
adopts the agents placed there that still run. A host that is unreachable makes its
agents' calls raise `HostUnavailable`, which the crash watcher and reconcile treat as
"unknown, leave it" rather than crashed.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, cast

from hyperhive.core.hosts.target import LOCAL
from hyperhive.core.runner import Completed
from hyperhive.core.runtimes.base import AgentSpec, ContainerStatus, PtyProcess, Runtime

if TYPE_CHECKING:
    from hyperhive.core.hosts.service import Hosts
    from hyperhive.core.runtimes.remote import RemoteRuntime

STATE_ENV = "HYPERHIVE_HOST_STATE_DIR"  # where hyperhive keeps agents on each remote host
DEFAULT_HOST_STATE = "/var/lib/hyperhive"


class HostRouter:
    """A `Runtime` that routes every agent to the runtime of its host."""

    def __init__(self, local: Runtime, hosts: Hosts) -> None:
        self.local = local
        self.hosts = hosts
        self.name = local.name
        self.host_state_dir = os.environ.get(STATE_ENV, DEFAULT_HOST_STATE)
        self._remote: dict[str, RemoteRuntime] = {}
        # each host's runtime exists from its link's opening: its on_connect forwards and
        # adopts the agents still running there (after a daemon restart too)
        hosts.on_open.append(lambda link: self.for_host(link.name))

    def __getattr__(self, attr: str) -> Any:
        """What only the local runtime has (e.g. ``log_path``, a process's ``record``)."""
        if attr.startswith("__") or attr == "local":
            raise AttributeError(attr)
        return getattr(self.local, attr)

    def build_inputs(self) -> str:
        more = getattr(self.local, "build_inputs", None)
        return str(more()) if callable(more) else ""

    def for_host(self, host: str) -> Runtime:
        """The runtime of ``host`` (one per remote host, made as its link opens)."""
        if host == LOCAL:
            return self.local
        runtime = self._remote.get(host)
        if runtime is None or runtime.link is not self.hosts.link(host):
            from hyperhive.core.runtimes import get_remote_runtime

            runtime = get_remote_runtime(
                self.hosts.link(host),
                host_state_dir=self.host_state_dir,
                python=self.hosts.options.python,
            )
            runtime.adoptable = lambda: {
                agent: str(self.hosts.settings.agent_socket(agent))
                for agent in self.hosts.agents_on(host)
            }
            self._remote[host] = runtime
        return runtime

    def for_agent(self, name: str) -> Runtime:
        return self.for_host(self.hosts.host_of(name))

    def remote(self, name: str) -> RemoteRuntime | None:
        """The runtime of ``name``'s host when that is not this machine (its state is there)."""
        host = self.hosts.host_of(name)
        if host == LOCAL:
            return None
        runtime = self.for_host(host)
        assert not isinstance(runtime, HostRouter)
        return cast("RemoteRuntime", runtime)

    async def create(self, spec: AgentSpec) -> None:
        await self.for_agent(spec.name).create(spec)

    async def start(self, spec: AgentSpec) -> None:
        await self.for_agent(spec.name).start(spec)

    async def stop(self, name: str, *, timeout: float = 10.0) -> None:
        await self.for_agent(name).stop(name, timeout=timeout)

    async def destroy(self, name: str) -> None:
        await self.for_agent(name).destroy(name)

    async def status(self, name: str) -> ContainerStatus:
        return await self.for_agent(name).status(name)

    async def list(self) -> list[ContainerStatus]:
        """The local runtime's containers (a remote host's are listed by its agents)."""
        return await self.local.list()

    async def exec(
        self,
        name: str,
        argv: Sequence[str],
        *,
        input: str | None = None,
        timeout: float | None = None,
    ) -> Completed:
        return await self.for_agent(name).exec(name, argv, input=input, timeout=timeout)

    async def open_pty(
        self, name: str, argv: Sequence[str], *, rows: int = 24, cols: int = 80
    ) -> PtyProcess:
        return await self.for_agent(name).open_pty(name, argv, rows=rows, cols=cols)
