"""The demo swarm of `hyperhive up --demo`: a manager and two agents on scripted drivers."""

from __future__ import annotations

import shutil
import tempfile
from importlib import resources
from pathlib import Path

from hyperhive.core.agent_config import default_files
from hyperhive.core.models import Role
from hyperhive.core.names import MANAGER
from hyperhive.core.repos import Repos
from hyperhive.core.settings import Settings

DEMO_AGENTS: dict[str, Role] = {MANAGER: Role.MANAGER, "alice": Role.AGENT, "bob": Role.AGENT}


def demo_settings() -> Settings:
    """Throw-away state and run dirs, the process runtime, scripted drivers."""
    state = Path(tempfile.mkdtemp(prefix="hyperhive-demo-"))
    run = Path(tempfile.mkdtemp(prefix="hh-demo-", dir="/tmp"))  # socket paths stay short
    (state / "hyperhive.toml").write_text('runtime = "process"\ndriver = "scripted"\n')
    return Settings(state_dir=state, run_dir=run, runtime="process", driver="scripted")


def demo_script(name: str) -> bytes:
    """The packaged script of one demo agent."""
    return resources.files("hyperhive.agent").joinpath("scripts", f"demo-{name}.json").read_bytes()


async def seed(settings: Settings) -> None:
    """Write the demo agents' proposed repos before the daemon starts."""
    repos = Repos(settings)
    for name, role in DEMO_AGENTS.items():
        if not await repos.exists(name):
            files = default_files(name, role, driver="scripted", script=demo_script(name))
            await repos.create(name, files)


def remove(settings: Settings) -> None:
    """Delete a demo's throw-away directories."""
    shutil.rmtree(settings.state_dir, ignore_errors=True)
    shutil.rmtree(settings.run_dir, ignore_errors=True)
