"""Container runtimes behind one protocol; `get_runtime` picks one from the settings."""

from __future__ import annotations

from typing import TYPE_CHECKING

from hyperhive.core.errors import InvalidInput

if TYPE_CHECKING:
    from hyperhive.core.runner import Runner
    from hyperhive.core.runtimes.base import Runtime
    from hyperhive.core.settings import Settings


def get_runtime(settings: Settings, runner: Runner | None = None) -> Runtime:
    """Build the runtime the settings name, importing only that one."""
    from hyperhive.core.runner import ProcessRunner

    runner = runner or ProcessRunner()
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
