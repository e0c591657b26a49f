"""The runtime protocol every container backend implements."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Protocol

from hyperhive.core.models import Role
from hyperhive.core.names import MANAGER
from hyperhive.core.runner import Completed


class ContainerState(StrEnum):
    RUNNING = "running"
    STOPPED = "stopped"
    ABSENT = "absent"


def container_name(agent: str) -> str:
    """``h-<name>`` for agents, ``hm1nd`` for the manager (nixos-container's 11-char cap)."""
    return "hm1nd" if agent == MANAGER else f"h-{agent}"


@dataclass(frozen=True)
class AgentSpec:
    """Everything a runtime needs to build and run one agent's container.

    Host paths; each runtime decides where they appear inside (docs/runtimes.md).
    """

    name: str
    role: Role
    socket_dir: Path  # -> /run/hive (holds hive.sock)
    state_dir: Path  # -> /state
    creds_dir: Path  # -> the CLI's credential dir
    etc_dir: Path  # rendered send-allow.json, bash-allow.json, extra-mcp.json -> /etc/hyperhive
    applied_dir: Path  # the applied repo (agent.toml, prompt.md, agent.nix)
    env: Mapping[str, str] = field(default_factory=dict)  # extra harness environment
    # manager only: /agents (rw), /applied and /meta (ro)
    agents_root: Path | None = None
    applied_root: Path | None = None
    meta_dir: Path | None = None
    memory_max: str | None = None
    cpu_quota: str | None = None
    private_network: bool = False
    # None: run the harness (`hyperhive agent serve`); tests may run something smaller
    command: tuple[str, ...] | None = None

    @property
    def container(self) -> str:
        return container_name(self.name)


@dataclass(frozen=True)
class ContainerStatus:
    name: str  # agent name
    state: ContainerState
    pid: int | None = None  # the container's leader (or the harness process) on the host
    detail: str = ""


class PtyProcess(Protocol):
    """A process attached to a pseudo-terminal inside a container."""

    fd: int  # master side of the PTY, non-blocking

    def resize(self, rows: int, cols: int) -> None: ...

    async def wait(self) -> int: ...

    def terminate(self) -> None: ...


class Runtime(Protocol):
    """Create, run and reach agent containers. Every method is idempotent where it can be."""

    name: str

    async def create(self, spec: AgentSpec) -> None:
        """Build the container (root, files, config) without starting it."""

    async def start(self, spec: AgentSpec) -> None:
        """Start the harness in the container; returns once the process is launched."""

    async def stop(self, name: str, *, timeout: float = 10.0) -> None:
        """Stop gracefully (SIGTERM, then SIGKILL after ``timeout``)."""

    async def destroy(self, name: str) -> None:
        """Remove the container itself; the kept state on the host stays."""

    async def status(self, name: str) -> ContainerStatus:
        """Whether the container exists and runs."""

    async def list(self) -> list[ContainerStatus]:
        """Every container this runtime knows."""

    async def exec(
        self,
        name: str,
        argv: Sequence[str],
        *,
        input: str | None = None,
        timeout: float | None = None,
    ) -> Completed:
        """Run ``argv`` inside the container to completion."""

    async def open_pty(
        self, name: str, argv: Sequence[str], *, rows: int = 24, cols: int = 80
    ) -> PtyProcess:
        """Start ``argv`` inside the container on a fresh PTY."""
