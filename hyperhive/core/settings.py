"""Paths and configuration: a TOML file, environment overrides, validated dataclasses."""

from __future__ import annotations

import os
import sys
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from hyperhive.core.errors import InvalidInput
from hyperhive.core.names import MANAGER

RUNTIMES = ("auto", "process", "nspawn", "nixos")  # auto: the strongest the host offers


@dataclass(frozen=True)
class Limits:
    """Every limit of the system; each is set in the `[limits]` table (docs/configuration.md)."""

    message_body_bytes: int = 4096
    recv_wait_seconds: float = 180.0
    recv_max: int = 32
    question_ttl_seconds: int = 6 * 3600
    question_default_ttl_seconds: int = 3600
    question_options: int = 16
    question_option_bytes: int = 256
    question_max_pending: int = 20  # open questions per asking agent
    question_text_bytes: int = 4096
    protocol_line_bytes: int = 1024 * 1024
    events_keep_days: int = 7
    messages_keep_days: int = 30
    stats_keep_days: int = 30
    tags_keep_days: int = 30
    sends_per_second: float = 200.0  # per agent; a broadcast spends one per recipient
    send_burst: int = 1000
    notes_compact_bytes: int = 64 * 1024
    # quotas of each agent's telemetry (token buckets: a rate per second and a burst)
    events_per_second: float = 100.0  # harness.event (and turn_ended), events
    events_burst: int = 2000
    event_bytes_per_second: int = 256 * 1024  # harness.event, stored bytes
    event_bytes_burst: int = 4 * 1024 * 1024
    stats_per_second: float = 2.0  # stats.record calls
    stats_burst: int = 60
    stats_samples_per_second: float = 200.0  # stats.record samples (~100 stored bytes each)
    stats_samples_burst: int = 6000
    # sockets: connections per agent socket (the harness uses 3-4), per host socket
    agent_connections: int = 16
    host_connections: int = 256
    # above this many bytes of database pages in use, agent writes are refused
    db_watermark_bytes: int = 2 * 1024 * 1024 * 1024
    reminder_max_pending: int = 100  # open reminders per agent
    reminder_max_delay_seconds: int = 90 * 86400
    log_tail_bytes: int = 256 * 1024  # the most of a harness log one read returns


@dataclass(frozen=True)
class ContainerSettings:
    """How containers are built: isolation and resources."""

    private_users: bool = True
    private_network: bool = False
    memory_max: str = "2G"
    cpu_quota: str = "200%"


@dataclass(frozen=True)
class Settings:
    """Where hyperhive keeps its state and sockets, and how it behaves."""

    state_dir: Path
    run_dir: Path
    runtime: str = "auto"  # resolved at start: hyperhive.core.runtimes.resolve_runtime
    driver: str = "claude"
    limits: Limits = field(default_factory=Limits)
    container: ContainerSettings = field(default_factory=ContainerSettings)
    restart_backoff_max_seconds: float = 300.0
    crash_poll_seconds: float = 2.0
    rate_limit_backoff_seconds: float = 60.0
    operator_name: str = ""  # how agents address the operator (``whoami``)
    operator_pronouns: str = ""

    # --- derived paths -------------------------------------------------------
    @property
    def db_path(self) -> Path:
        return self.state_dir / "hive.sqlite"

    @property
    def host_socket(self) -> Path:
        return self.run_dir / "host.sock"

    @property
    def lock_path(self) -> Path:
        return self.run_dir / "daemon.lock"

    @property
    def meta_dir(self) -> Path:
        return self.state_dir / "meta"

    @property
    def ssh_dir(self) -> Path:
        return self.state_dir / "ssh"

    @property
    def agents_root(self) -> Path:
        """``<state>/agents``: one private dir per agent, reached by the daemon only."""
        return self.state_dir / "agents"

    @property
    def proposed_root(self) -> Path:
        """``<state>/proposed``: every proposed repo, bound read-write into the manager."""
        return self.state_dir / "proposed"

    @property
    def applied_root(self) -> Path:
        """``<state>/applied``: the applied repos, bound read-only into the manager."""
        return self.state_dir / "applied"

    @property
    def tmp_dir(self) -> Path:
        """``<state>/tmp``: the daemon's scratch space (snapshots of proposed repos)."""
        return self.state_dir / "tmp"

    def agent_dir(self, name: str) -> Path:
        """Daemon-only: holds the agent's state, creds, tree, etc and harness.log."""
        return self.agents_root / name

    def proposed_dir(self, name: str) -> Path:
        return self.proposed_root / name / "config"

    def agent_state_dir(self, name: str) -> Path:
        return self.agent_dir(name) / "state"

    def creds_dir(self, name: str) -> Path:
        return self.agent_dir(name) / "creds"

    def applied_dir(self, name: str) -> Path:
        return self.applied_root / name

    def tree_dir(self, name: str) -> Path:
        """The applied tree the agent runs, bound read-only at ``/config``."""
        return self.agent_dir(name) / "tree"

    def etc_dir(self, name: str) -> Path:
        """The rendered policy files, bound read-only at ``/etc/hyperhive``."""
        return self.agent_dir(name) / "etc"

    def log_path(self, name: str) -> Path:
        return self.agent_dir(name) / "harness.log"

    def socket_dir(self, name: str) -> Path:
        """The directory bound into the agent's container at /run/hive."""
        if name == MANAGER:
            return self.run_dir / "manager"
        return self.run_dir / "agents" / name

    def agent_socket(self, name: str) -> Path:
        return self.socket_dir(name) / "hive.sock"

    def redact_paths(self, text: str) -> str:
        """``text`` with host paths replaced by what an agent sees (for its error replies).

        The manager's views become its container paths (``/agents``, ``/applied``,
        ``/meta``); anything else under the state or run dir becomes ``<state>``/``<run>``.
        """
        views = {
            self.proposed_root: "/agents",
            self.applied_root: "/applied",
            self.meta_dir: "/meta",
            self.state_dir: "<state>",
            self.run_dir: "<run>",
        }
        for host, shown in list(views.items()):
            views.setdefault(host.resolve(), shown)
        for host in sorted(views, key=lambda p: len(str(p)), reverse=True):
            text = text.replace(str(host), views[host])
        return text


def default_dirs(env: dict[str, str] | None = None) -> tuple[Path, Path]:
    """State and run dirs before any override: system paths for root, XDG dirs otherwise."""
    env = dict(os.environ) if env is None else env
    if os.geteuid() == 0:
        return Path("/var/lib/hyperhive"), Path("/run/hyperhive")
    home = Path(env.get("HOME", str(Path.home())))
    state = Path(env.get("XDG_STATE_HOME") or home / ".local" / "state") / "hyperhive"
    if env.get("XDG_RUNTIME_DIR"):
        return state, Path(env["XDG_RUNTIME_DIR"]) / "hyperhive"
    return state, Path(f"/tmp/hyperhive-{os.getuid()}")


def _apply(obj: Any, table: dict[str, Any], where: str) -> Any:
    """Return a copy of dataclass ``obj`` with the values of a TOML table, type-checked."""
    known = {f.name: f for f in fields(obj)}
    changes: dict[str, Any] = {}
    for key, value in table.items():
        if key not in known:
            raise InvalidInput(f"unknown setting {where}{key}")
        current = getattr(obj, key)
        if hasattr(current, "__dataclass_fields__"):
            if not isinstance(value, dict):
                raise InvalidInput(f"setting {where}{key} must be a table")
            changes[key] = _apply(current, value, f"{where}{key}.")
            continue
        if isinstance(current, Path):
            value = Path(str(value))
        elif isinstance(current, bool):
            if not isinstance(value, bool):
                raise InvalidInput(f"setting {where}{key} must be true or false")
        elif isinstance(current, float) and isinstance(value, int | float):
            value = float(value)
        elif not isinstance(value, type(current)) or isinstance(value, bool):
            raise InvalidInput(
                f"setting {where}{key} must be a {type(current).__name__}, not {value!r}"
            )
        if isinstance(value, int | float) and not isinstance(value, bool) and value < 0:
            raise InvalidInput(f"setting {where}{key} must not be negative")
        changes[key] = value
    return replace(obj, **changes)


def load_settings(
    config_file: Path | None = None,
    *,
    env: dict[str, str] | None = None,
    **overrides: Any,
) -> Settings:
    """Build the settings: defaults, then the TOML file, then env, then ``overrides``.

    ``state_dir`` and ``run_dir`` may be given as overrides (the CLI flags).

    The config file is ``$HYPERHIVE_CONFIG``, else ``<state>/hyperhive.toml`` if present.
    """
    env = dict(os.environ) if env is None else env
    default_state, default_run = default_dirs(env)
    # precedence for each directory: flag, then environment, then the file, then default
    chosen_state = overrides.pop("state_dir", None) or env.get("HYPERHIVE_STATE_DIR")
    chosen_run = overrides.pop("run_dir", None) or env.get("HYPERHIVE_RUN_DIR")
    settings = Settings(
        state_dir=Path(chosen_state or default_state), run_dir=Path(chosen_run or default_run)
    )
    path = config_file or (Path(env["HYPERHIVE_CONFIG"]) if env.get("HYPERHIVE_CONFIG") else None)
    if path is None and (settings.state_dir / "hyperhive.toml").exists():
        path = settings.state_dir / "hyperhive.toml"
    if path is not None:
        try:
            table = tomllib.loads(path.read_text())
        except FileNotFoundError as exc:
            raise InvalidInput(f"config file {path} does not exist") from exc
        except tomllib.TOMLDecodeError as exc:
            raise InvalidInput(f"config file {path} is not valid TOML: {exc}") from exc
        settings = _apply(settings, table, "")
        if chosen_state:
            settings = replace(settings, state_dir=Path(chosen_state))
        if chosen_run:
            settings = replace(settings, run_dir=Path(chosen_run))
    if env.get("HYPERHIVE_RUNTIME"):
        settings = replace(settings, runtime=env["HYPERHIVE_RUNTIME"])
    settings = replace(settings, **{k: v for k, v in overrides.items() if v is not None})
    if settings.runtime not in RUNTIMES:
        raise InvalidInput(
            f"unknown runtime {settings.runtime!r}: use one of {', '.join(RUNTIMES)}"
        )
    return settings


def cli_argv(settings: Settings, *args: str) -> list[str]:
    """The command line running ``hyperhive ARGS`` on ``settings``' directories (subprocesses)."""
    return [
        sys.executable,
        "-m",
        "hyperhive",
        "--state-dir",
        str(settings.state_dir),
        "--run-dir",
        str(settings.run_dir),
        *args,
    ]
