"""What an agent's harness knows about itself: its environment, policy files and agent.toml.

Inside a container the paths are fixed (``/run/hive/hive.sock``, ``/state``,
``/etc/hyperhive``); the process runtime points the same variables at host dirs. The
read-only policy files in ``$HYPERHIVE_ETC`` win over ``agent.toml`` (the agent can
never write them); an explicit ``HYPERHIVE_*`` variable wins over both.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from hyperhive.core.agent_config import (
    DRIVERS,
    ENV_AGENT,
    ENV_AUTO_COMPACT,
    ENV_DRIVER,
    ENV_MODEL,
    ENV_NOTES_COMPACT_BYTES,
    ENV_PROMPT_FILE,
    ENV_ROLE,
    ENV_SCRIPT,
    AgentConfig,
    McpServer,
    parse_agent_toml,
)
from hyperhive.core.errors import InvalidInput
from hyperhive.core.models import Role
from hyperhive.core.names import MANAGER
from hyperhive.core.settings import Limits

logger = logging.getLogger(__name__)

ENV_SOCKET = "HYPERHIVE_SOCKET"
ENV_STATE = "HYPERHIVE_STATE"
ENV_ETC = "HYPERHIVE_ETC"
ENV_CREDS = "HYPERHIVE_CREDS"
ENV_APPLIED = "HYPERHIVE_APPLIED"
ENV_AGENTS = "HYPERHIVE_AGENTS"  # the manager's /agents (every proposed repo)
ENV_AGENTS_ROOT = "HYPERHIVE_AGENTS_ROOT"  # an alias of HYPERHIVE_AGENTS
ENV_RATE_LIMIT_BACKOFF = "HYPERHIVE_RATE_LIMIT_BACKOFF"
ENV_FAILURE_BACKOFF = "HYPERHIVE_FAILURE_BACKOFF"
ENV_CHECK_INTERVAL = "HYPERHIVE_CHECK_INTERVAL"
ENV_CLAUDE_BIN = "HYPERHIVE_CLAUDE_BIN"  # empty: the CLI bundled with claude-agent-sdk
ENV_CLAUDE_IDLE = "HYPERHIVE_CLAUDE_IDLE_SECONDS"  # close a warm session after this idle time
ENV_CLAUDE_MAX_WARM = "HYPERHIVE_CLAUDE_MAX_WARM"  # warm sessions per harness process (LRU)
ENV_TURN_TIMEOUT = "HYPERHIVE_TURN_TIMEOUT"  # seconds; 0 or unset: no limit

DEFAULT_SOCKET = "/run/hive/hive.sock"
DEFAULT_STATE = "/state"
DEFAULT_ETC = "/etc/hyperhive"
DEFAULT_AGENTS = "/agents"


@dataclass(frozen=True)
class AgentEnv:
    """The harness's view of its agent; built by `load_agent_env`.

    ``allowed_recipients`` is None when no allow-list exists (anyone may be messaged).
    """

    name: str
    role: Role
    socket: Path
    state_dir: Path
    etc_dir: Path
    creds_dir: Path | None = None
    applied_dir: Path | None = None
    agents_root: Path = Path(DEFAULT_AGENTS)
    driver: str = "claude"
    model: str = ""
    claude_bin: str = ""
    claude_idle_seconds: float = 600.0
    claude_max_warm: int = 4
    turn_timeout_seconds: float = 0.0
    script: Path | None = None
    prompt_extra: str = ""
    allowed_recipients: tuple[str, ...] | None = None
    allowed_bash: tuple[str, ...] = ()
    extra_mcp_servers: Mapping[str, McpServer] = field(default_factory=lambda: MappingProxyType({}))
    auto_compact: bool = True
    notes_compact_bytes: int = Limits().notes_compact_bytes
    rate_limit_backoff_seconds: float = 60.0
    failure_backoff_seconds: float = 2.0
    check_interval_seconds: float = 30.0

    @property
    def notes_path(self) -> Path:
        return self.state_dir / "notes.md"

    @property
    def is_manager(self) -> bool:
        return self.role is Role.MANAGER


def load_agent_env(env: Mapping[str, str] | None = None) -> AgentEnv:
    """Read the agent's identity, paths and portable config from ``env`` (default: ours).

    Raises:
        InvalidInput: a variable or a file holds something unusable (the message says which).
    """
    env = dict(os.environ) if env is None else env
    name = env.get(ENV_AGENT, "")
    if not name:
        raise InvalidInput(f"{ENV_AGENT} is not set: `hyperhive agent serve` runs inside an agent")
    role_text = env.get(ENV_ROLE) or (Role.MANAGER.value if name == MANAGER else Role.AGENT.value)
    try:
        role = Role(role_text)
    except ValueError as exc:
        raise InvalidInput(f"{ENV_ROLE} must be agent or manager, not {role_text!r}") from exc
    applied = Path(env[ENV_APPLIED]) if env.get(ENV_APPLIED) else None
    config = read_agent_toml(applied)
    etc = Path(env.get(ENV_ETC) or DEFAULT_ETC)

    driver = env.get(ENV_DRIVER) or config.driver
    if driver not in DRIVERS:
        raise InvalidInput(f"{ENV_DRIVER} must be one of {', '.join(DRIVERS)}, not {driver!r}")
    script: Path | None = None
    if env.get(ENV_SCRIPT):
        script = Path(env[ENV_SCRIPT])
    elif config.script and applied is not None:
        script = applied / config.script
    prompt_extra = ""
    prompt_file = Path(env[ENV_PROMPT_FILE]) if env.get(ENV_PROMPT_FILE) else None
    if prompt_file is None and applied is not None:
        prompt_file = applied / "prompt.md"
    if prompt_file is not None:
        try:
            prompt_extra = prompt_file.read_text(errors="replace")
        except OSError:
            prompt_extra = ""

    recipients = _json_list(etc / "send-allow.json")
    bash = _json_list(etc / "bash-allow.json")
    servers = _extra_servers(etc / "extra-mcp.json")
    return AgentEnv(
        name=name,
        role=role,
        socket=Path(env.get(ENV_SOCKET) or DEFAULT_SOCKET),
        state_dir=Path(env.get(ENV_STATE) or DEFAULT_STATE),
        etc_dir=etc,
        creds_dir=Path(env[ENV_CREDS]) if env.get(ENV_CREDS) else None,
        applied_dir=applied,
        agents_root=Path(env.get(ENV_AGENTS) or env.get(ENV_AGENTS_ROOT) or DEFAULT_AGENTS),
        driver=driver,
        model=env.get(ENV_MODEL) or config.model,
        claude_bin=env.get(ENV_CLAUDE_BIN) or "",
        claude_idle_seconds=_number(env, ENV_CLAUDE_IDLE, 600.0),
        claude_max_warm=int(_number(env, ENV_CLAUDE_MAX_WARM, 4)),
        turn_timeout_seconds=_number(env, ENV_TURN_TIMEOUT, 0.0),
        script=script,
        prompt_extra=prompt_extra,
        allowed_recipients=recipients if recipients is not None else None,
        allowed_bash=bash if bash is not None else config.allowed_bash,
        extra_mcp_servers=servers if servers is not None else config.extra_mcp_servers,
        auto_compact=_flag(env, ENV_AUTO_COMPACT, config.auto_compact),
        notes_compact_bytes=int(
            _number(env, ENV_NOTES_COMPACT_BYTES, config.notes_compact_bytes or 0)
            or Limits().notes_compact_bytes
        ),
        rate_limit_backoff_seconds=_number(env, ENV_RATE_LIMIT_BACKOFF, 60.0),
        failure_backoff_seconds=_number(env, ENV_FAILURE_BACKOFF, 2.0),
        check_interval_seconds=_number(env, ENV_CHECK_INTERVAL, 30.0),
    )


def read_agent_toml(applied: Path | None) -> AgentConfig:
    """The applied ``agent.toml``, or the defaults when there is none."""
    if applied is None:
        return AgentConfig()
    try:
        return parse_agent_toml((applied / "agent.toml").read_bytes())
    except FileNotFoundError:
        return AgentConfig()
    except OSError as exc:
        raise InvalidInput(f"cannot read {applied / 'agent.toml'}: {exc}") from exc


def read_send_allow(etc: Path) -> tuple[str, ...] | None:
    """The send allow-list; None when there is no file (anyone may be messaged).

    Raises:
        InvalidInput: the file exists but is not a JSON list of strings (fail closed).
    """
    return _json_list(etc / "send-allow.json")


def _json_list(path: Path) -> tuple[str, ...] | None:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise InvalidInput(f"cannot read {path}: {exc}") from exc
    if not isinstance(data, list) or not all(isinstance(x, str) for x in data):
        raise InvalidInput(f"{path} must hold a JSON list of strings")
    return tuple(data)


def _extra_servers(path: Path) -> Mapping[str, McpServer] | None:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise InvalidInput(f"cannot read {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise InvalidInput(f"{path} must hold a JSON object of servers")
    servers = {}
    for key, spec in data.items():
        if not isinstance(spec, dict) or not isinstance(spec.get("command"), str):
            raise InvalidInput(f"{path}: server {key!r} needs a 'command' string")
        servers[str(key)] = McpServer(
            command=spec["command"],
            args=tuple(str(a) for a in spec.get("args") or ()),
            env=MappingProxyType({str(k): str(v) for k, v in (spec.get("env") or {}).items()}),
            allowed_tools=tuple(str(t) for t in spec.get("allowed_tools") or ("*",)),
        )
    return MappingProxyType(servers)


def _flag(env: Mapping[str, str], key: str, default: bool) -> bool:
    value = env.get(key)
    if value is None or value == "":
        return default
    return value.lower() not in ("0", "false", "no", "off")


def _number(env: Mapping[str, str], key: str, default: float) -> float:
    value = env.get(key)
    if value is None or value == "":
        return float(default)
    try:
        number = float(value)
    except ValueError as exc:
        raise InvalidInput(f"{key} must be a number, not {value!r}") from exc
    if number < 0:
        raise InvalidInput(f"{key} must not be negative")
    return number
