"""Container runtimes behind one protocol; `get_runtime` picks one from the settings.

``runtime = "auto"`` (the default) is resolved by `resolve_runtime` to the strongest
runtime the host offers: ``nixos`` on a NixOS host with ``nixos-container``, else
``nspawn`` where systemd-nspawn can run unprivileged containers (root, the binaries,
user namespaces), else ``process``, which isolates nothing and says so. A state dir
whose containers were built by one runtime keeps it (switching would orphan them).
"""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from hyperhive.core.errors import InvalidInput

if TYPE_CHECKING:
    from hyperhive.core.runner import Runner
    from hyperhive.core.runtimes.base import Runtime
    from hyperhive.core.settings import Settings

AUTO = "auto"
ISOLATING = frozenset({"nspawn", "nixos"})  # every runtime but process


def isolated(runtime: str) -> bool:
    """Whether agents of ``runtime`` run in containers (process: no)."""
    return runtime in ISOLATING


def _userns_enabled(proc: Path) -> bool:
    try:
        limit = int((proc / "sys/user/max_user_namespaces").read_text().strip() or "0")
    except (OSError, ValueError):
        return False
    return limit > 0


def recorded_runtimes(state_dir: Path) -> set[str]:
    """The runtimes named by the container records under ``<state>/containers``."""
    found: set[str] = set()
    root = state_dir / "containers"
    if not root.is_dir():
        return found
    for path in root.glob("*/runtime.json"):
        try:
            name = json.loads(path.read_text()).get("runtime")
        except (OSError, ValueError, AttributeError):
            continue
        if name in ("process", "nspawn", "nixos"):
            found.add(name)
    return found


def resolve_runtime(
    settings: Settings,
    *,
    path: str | None = None,
    root: Path = Path("/"),
    euid: int | None = None,
) -> tuple[str, str]:
    """``(runtime, why)``: the configured runtime, or for ``auto`` the strongest available.

    ``path``, ``root`` and ``euid`` stand in for ``$PATH``, ``/`` and the effective uid
    (tests).
    """
    from hyperhive.core.runner import which

    if settings.runtime != AUTO:
        return settings.runtime, f"runtime {settings.runtime!r} is configured"
    existing = recorded_runtimes(settings.state_dir)
    if len(existing) == 1:
        # switching runtimes under existing containers would orphan them
        [name] = existing
        return name, (
            "the existing agents run in it (<state>/containers); to switch, destroy them "
            "and set runtime explicitly"
        )
    euid = os.geteuid() if euid is None else euid
    if euid != 0:
        return "process", "not root, so no containers: nspawn and nixos need root"
    if (root / "etc/NIXOS").exists() and which("nixos-container", path):
        return "nixos", "a NixOS host with nixos-container"
    missing = [b for b in ("systemd-nspawn", "nsenter") if which(b, path) is None]
    if missing:
        return "process", f"{' and '.join(missing)} not found (Debian: systemd-container)"
    if settings.container.private_users and not _userns_enabled(root / "proc"):
        return "process", "user namespaces are disabled (sysctl user.max_user_namespaces = 0)"
    how = "unprivileged" if settings.container.private_users else "privileged"
    return "nspawn", f"systemd-nspawn is available ({how} containers)"


def with_runtime(settings: Settings) -> tuple[Settings, str]:
    """``settings`` with ``runtime`` resolved (see `resolve_runtime`), and why."""
    name, why = resolve_runtime(settings)
    return replace(settings, runtime=name), why


def build_inputs(runtime: Runtime) -> str:
    """What a container's build depends on besides hyperhive's own version.

    The runtime's name and, where the runtime has more (``build_inputs()``: the nixos
    runtime's hyperhive flake reference), that too. A build records it beside the
    version; a daemon that finds either changed flags the agent ``needs_update``.
    """
    more = getattr(runtime, "build_inputs", None)
    extra = str(more()) if callable(more) else ""
    return f"{runtime.name} {extra}" if extra else runtime.name


def get_runtime(settings: Settings, runner: Runner | None = None) -> Runtime:
    """Build the runtime the settings name, importing only that one."""
    from hyperhive.core.runner import ProcessRunner

    runner = runner or ProcessRunner()
    if settings.runtime == AUTO:
        settings, _ = with_runtime(settings)
    if settings.runtime == "process":
        from hyperhive.core.runtimes.process import ProcessRuntime

        return ProcessRuntime(settings, runner)
    if settings.runtime == "nspawn":
        from hyperhive.core.runtimes.nspawn import NspawnRuntime

        return NspawnRuntime(settings, runner)
    if settings.runtime == "nixos":
        from hyperhive.core.runtimes.nixos import NixosRuntime

        return NixosRuntime(settings, runner)
    raise InvalidInput(f"unknown runtime {settings.runtime!r}")
