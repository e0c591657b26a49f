"""The nixos runtime writes /run/hive/harness.env into a directory its agent can write."""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

from hyperhive.core.runtimes.base import AgentSpec, Role
from hyperhive.core.runtimes.nixos import HARNESS_ENV_FILE, write_harness_env


def _spec(tmp_path: Path) -> AgentSpec:
    run = tmp_path / "run"
    run.mkdir()
    return AgentSpec(
        name="alice",
        role=Role.AGENT,
        socket_dir=run,
        state_dir=tmp_path / "state",
        creds_dir=tmp_path / "creds",
        etc_dir=tmp_path / "etc",
        applied_dir=tmp_path / "config",
    )


def test_a_link_planted_at_harness_env_is_replaced_not_followed(tmp_path: Path) -> None:
    spec = _spec(tmp_path)
    victim = tmp_path / "host-file"
    victim.write_text("host secret\n")
    (spec.socket_dir / HARNESS_ENV_FILE).symlink_to(victim)
    write_harness_env(spec)
    assert victim.read_text() == "host secret\n"
    written = os.lstat(spec.socket_dir / HARNESS_ENV_FILE)
    assert stat.S_ISREG(written.st_mode)
    assert "HYPERHIVE_SOCKET=" in (spec.socket_dir / HARNESS_ENV_FILE).read_text()


def test_an_agent_racing_links_into_the_temporary_file_never_reaches_a_host_file(
    tmp_path: Path,
) -> None:
    """The agent swaps every temporary file it sees for a link to a host file, as fast as
    it can, while the daemon rewrites the env file: the host file keeps its mode and bytes."""
    spec = _spec(tmp_path)
    victim = tmp_path / "host-file"
    victim.write_text("host secret\n")
    victim.chmod(0o600)
    done = threading.Event()

    def agent() -> None:
        while not done.is_set():
            for entry in os.scandir(spec.socket_dir):
                if entry.name != HARNESS_ENV_FILE:
                    try:
                        os.unlink(entry.path)
                        os.symlink(victim, entry.path)
                    except OSError:
                        pass

    racer = threading.Thread(target=agent)
    racer.start()
    try:
        for _ in range(300):
            try:
                write_harness_env(spec)
            except OSError:
                pass  # the agent broke the write: refused, never followed
    finally:
        done.set()
        racer.join()
    assert victim.read_text() == "host secret\n"
    assert stat.S_IMODE(victim.stat().st_mode) == 0o600
