"""The portable agent config `agent.toml` and the read-only policy files rendered from it."""

from __future__ import annotations

import json
import os
import re
import tempfile
import tomllib
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from types import MappingProxyType
from typing import Any

from hyperhive.core.errors import ContainerError, InvalidInput
from hyperhive.core.hosts.target import validate_host_name
from hyperhive.core.models import Role
from hyperhive.core.names import BROADCAST, MANAGER, OPERATOR, validate_agent_name

DRIVERS = ("claude", "scripted")
DEFAULT_DRIVER = "claude"
DEFAULT_MODEL = "sonnet"
RESERVED_MCP_SERVER = "hyperhive"
ETC_FILES = ("send-allow.json", "bash-allow.json", "extra-mcp.json")

# The environment the harness reads its portable settings from (`config_env`);
# harness-base.nix (nix/harness-env.nix) sets the same names on NixOS.
ENV_AGENT = "HYPERHIVE_AGENT"  # set by every runtime, not by config_env
ENV_ROLE = "HYPERHIVE_ROLE"  # likewise
ENV_DRIVER = "HYPERHIVE_DRIVER"
ENV_MODEL = "HYPERHIVE_MODEL"
ENV_AUTO_COMPACT = "HYPERHIVE_AUTO_COMPACT"
ENV_NOTES_COMPACT_BYTES = "HYPERHIVE_NOTES_COMPACT_BYTES"
ENV_SCRIPT = "HYPERHIVE_SCRIPT"  # absolute path of the scripted driver's script
ENV_PROMPT_FILE = "HYPERHIVE_PROMPT_FILE"  # absolute path of the agent's prompt.md
CONFIG_ENV_KEYS = (
    ENV_DRIVER,
    ENV_MODEL,
    ENV_AUTO_COMPACT,
    ENV_NOTES_COMPACT_BYTES,
    ENV_SCRIPT,
    ENV_PROMPT_FILE,
)

_MODEL_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/\[\]-]{0,99}$")
_SERVER_KEY_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_ENV_KEY_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_TOOL_RE = re.compile(r"^[A-Za-z0-9_*-]{1,128}$")
_MEMORY_RE = re.compile(r"^(\d+[KMGT]?|\d+(\.\d+)?%|infinity)$")
_CPU_RE = re.compile(r"^\d+(\.\d+)?%$")
_GIT_NAME_RE = re.compile(r"^[^<>\x00-\x1f\x7f]{1,100}$")
_GIT_EMAIL_RE = re.compile(r"^[^<>\s@]{1,64}@[^<>\s@]{1,100}$")


@dataclass(frozen=True)
class McpServer:
    """One extra stdio MCP server the agent CLI may start, and which of its tools it may call."""

    command: str
    args: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    allowed_tools: tuple[str, ...] = ("*",)


@dataclass(frozen=True)
class AgentLimits:
    """Per-agent resource limits (systemd syntax); None falls back to the host settings."""

    memory_max: str | None = None
    cpu_quota: str | None = None


@dataclass(frozen=True)
class AgentConfig:
    """The validated content of one agent's ``agent.toml``."""

    driver: str = DEFAULT_DRIVER
    model: str = DEFAULT_MODEL
    allowed_recipients: tuple[str, ...] = ()  # () = may message anyone
    allowed_bash: tuple[str, ...] = ()  # () = any Bash command
    extra_mcp_servers: Mapping[str, McpServer] = field(default_factory=lambda: MappingProxyType({}))
    limits: AgentLimits = field(default_factory=AgentLimits)
    auto_compact: bool = True
    script: str | None = None  # scripted driver: path relative to the repo
    notes_compact_bytes: int | None = None  # None: the host's limits.notes_compact_bytes
    git_name: str | None = None  # None: the agent's name
    git_email: str | None = None  # None: <name>@<host>.hyperhive
    host: str | None = None  # None: the daemon places it (`Hosts.pick`)


# --- parsing -------------------------------------------------------------------------


def parse_agent_toml(text: str | bytes) -> AgentConfig:
    """Parse and validate the text of an ``agent.toml``.

    Raises:
        InvalidInput: the text is not TOML, or a key is unknown, or a value has the wrong
            type or shape; the message names the offending key.
    """
    if isinstance(text, bytes):
        try:
            text = text.decode()
        except UnicodeDecodeError as exc:
            raise InvalidInput(f"agent.toml is not UTF-8: {exc}") from exc
    try:
        table = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InvalidInput(f"agent.toml is not valid TOML: {exc}") from exc
    _known(table, "", _TOP_KEYS)
    driver = _str(table, "driver", DEFAULT_DRIVER)
    if driver not in DRIVERS:
        raise InvalidInput(
            f"agent.toml: driver must be one of {', '.join(DRIVERS)}, not {driver!r}"
        )
    model = _str(table, "model", DEFAULT_MODEL)
    if not _MODEL_RE.fullmatch(model):
        raise InvalidInput(f"agent.toml: model {model!r} is not a model name")
    recipients = _str_list(table, "allowed_recipients")
    for name in recipients:
        _check_recipient(name)
    bash = _str_list(table, "allowed_bash")
    for pattern in bash:
        if not pattern.strip():
            raise InvalidInput("agent.toml: allowed_bash has an empty pattern")
    script = table.get("script")
    if script is not None:
        script = _check_script(_str(table, "script", ""), driver)
    auto_compact = table.get("auto_compact", True)
    if not isinstance(auto_compact, bool):
        raise InvalidInput("agent.toml: auto_compact must be true or false")
    notes = table.get("notes_compact_bytes")
    if notes is not None and (isinstance(notes, bool) or not isinstance(notes, int) or notes <= 0):
        raise InvalidInput("agent.toml: notes_compact_bytes must be a positive integer")
    return AgentConfig(
        driver=driver,
        model=model,
        allowed_recipients=recipients,
        allowed_bash=bash,
        extra_mcp_servers=_servers(table.get("extra_mcp_servers", {})),
        limits=_limits(table.get("limits", {})),
        auto_compact=auto_compact,
        script=script,
        notes_compact_bytes=notes,
        git_name=_git_field(table, "git_name", _GIT_NAME_RE),
        git_email=_git_field(table, "git_email", _GIT_EMAIL_RE),
        host=_host(table),
    )


def _host(table: Mapping[str, Any]) -> str | None:
    """``host = "NAME"``: a registered host's name, or ``local`` (the daemon's machine)."""
    if "host" not in table:
        return None
    try:
        return validate_host_name(_str(table, "host", ""))
    except InvalidInput as exc:
        raise InvalidInput(f"agent.toml: host: {exc.message}") from exc


def _git_field(table: Mapping[str, Any], key: str, pattern: re.Pattern[str]) -> str | None:
    if key not in table:
        return None
    value = _str(table, key, "")
    if not pattern.fullmatch(value):
        what = "a name" if key == "git_name" else "an address like name@host"
        raise InvalidInput(
            f"agent.toml: {key} {value!r} is not {what} (1-100 printable characters, "
            "no '<', '>' or newline)"
        )
    return value


_TOP_KEYS = (
    "driver",
    "model",
    "allowed_recipients",
    "allowed_bash",
    "extra_mcp_servers",
    "limits",
    "auto_compact",
    "script",
    "notes_compact_bytes",
    "git_name",
    "git_email",
    "host",
)
_SERVER_KEYS = ("command", "args", "env", "allowed_tools")
_LIMIT_KEYS = ("memory_max", "cpu_quota")


def _known(table: Mapping[str, Any], where: str, keys: tuple[str, ...]) -> None:
    for key in table:
        if key not in keys:
            raise InvalidInput(
                f"agent.toml: unknown key {where}{key} (known keys: {', '.join(keys)})"
            )


def _clean(value: str, what: str) -> str:
    # control characters have no business in names, patterns or commands, and keeping
    # them out makes the JSON rendering byte-identical to nix's builtins.toJSON
    if any(unicodedata.category(ch) == "Cc" for ch in value):
        raise InvalidInput(f"agent.toml: {what} contains a control character")
    return value


def _str(table: Mapping[str, Any], key: str, default: str, where: str = "") -> str:
    value = table.get(key, default)
    if not isinstance(value, str) or not value:
        raise InvalidInput(f"agent.toml: {where}{key} must be a non-empty string")
    return _clean(value, where + key)


def _str_list(
    table: Mapping[str, Any],
    key: str,
    where: str = "",
    default: tuple[str, ...] = (),
    *,
    unique: bool = True,
) -> tuple[str, ...]:
    value = table.get(key, list(default))
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidInput(f"agent.toml: {where}{key} must be a list of strings")
    for item in value:
        _clean(item, f"{where}{key}")
        if unique and value.count(item) > 1:
            raise InvalidInput(f"agent.toml: {where}{key} lists {item!r} twice")
    return tuple(value)


def _check_recipient(name: str) -> None:
    if name in (MANAGER, OPERATOR, BROADCAST):
        return
    try:
        validate_agent_name(name)
    except InvalidInput as exc:
        raise InvalidInput(f"agent.toml: allowed_recipients: {exc}") from exc


def _check_script(script: str, driver: str) -> str:
    if driver != "scripted":
        raise InvalidInput('agent.toml: script is only used with driver = "scripted"')
    path = PurePosixPath(script)
    if path.is_absolute() or ".." in path.parts or "\\" in script:
        raise InvalidInput(
            f"agent.toml: script {script!r} must be a path inside the repo, like scripts/demo.json"
        )
    return str(path)


def _servers(value: object) -> Mapping[str, McpServer]:
    if not isinstance(value, dict):
        raise InvalidInput("agent.toml: extra_mcp_servers must be a table")
    servers: dict[str, McpServer] = {}
    for key, spec in value.items():
        where = f"extra_mcp_servers.{key}."
        if key.lower() == RESERVED_MCP_SERVER:
            raise InvalidInput(
                f"agent.toml: extra_mcp_servers.{key}: the name {RESERVED_MCP_SERVER!r} is "
                "reserved for hyperhive's own MCP server; pick another name"
            )
        if not _SERVER_KEY_RE.fullmatch(key):
            raise InvalidInput(
                f"agent.toml: extra_mcp_servers.{key}: use 1-64 letters, digits, '_' or '-'"
            )
        if not isinstance(spec, dict):
            raise InvalidInput(f"agent.toml: extra_mcp_servers.{key} must be a table")
        _known(spec, where, _SERVER_KEYS)
        if "command" not in spec:
            raise InvalidInput(f"agent.toml: {where}command is missing")
        env = spec.get("env", {})
        if not isinstance(env, dict) or not all(isinstance(v, str) for v in env.values()):
            raise InvalidInput(f"agent.toml: {where}env must be a table of strings")
        for name, val in env.items():
            if not _ENV_KEY_RE.fullmatch(name):
                raise InvalidInput(f"agent.toml: {where}env: {name!r} is not a variable name")
            _clean(val, f"{where}env.{name}")
        tools = _str_list(spec, "allowed_tools", where, default=("*",))
        for tool in tools:
            if not _TOOL_RE.fullmatch(tool):
                raise InvalidInput(f"agent.toml: {where}allowed_tools: {tool!r} is not a tool name")
        servers[key] = McpServer(
            command=_str(spec, "command", "", where),
            args=_str_list(spec, "args", where, unique=False),
            env=MappingProxyType(dict(env)),
            allowed_tools=tools,
        )
    return MappingProxyType(servers)


def _limits(value: object) -> AgentLimits:
    if not isinstance(value, dict):
        raise InvalidInput("agent.toml: limits must be a table")
    _known(value, "limits.", _LIMIT_KEYS)
    memory, cpu = value.get("memory_max"), value.get("cpu_quota")
    if memory is not None and not (isinstance(memory, str) and _MEMORY_RE.fullmatch(memory)):
        raise InvalidInput(
            f'agent.toml: limits.memory_max must be like "2G", "512M" or "50%", not {memory!r}'
        )
    if cpu is not None and not (isinstance(cpu, str) and _CPU_RE.fullmatch(cpu)):
        raise InvalidInput(f'agent.toml: limits.cpu_quota must be like "200%", not {cpu!r}')
    return AgentLimits(memory_max=memory, cpu_quota=cpu)


# --- rendering -----------------------------------------------------------------------


def canonical_json(value: object) -> bytes:
    """The one JSON form of every file in /etc/hyperhive (nix/render-etc.nix matches it).

    Sorted keys, two-space indent, raw UTF-8, a trailing newline.
    """
    return (json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()


def render_etc(config: AgentConfig) -> dict[str, bytes]:
    """The three policy files of /etc/hyperhive, byte-identical to what harness-base.nix writes."""
    servers = {
        key: {
            "command": server.command,
            "args": list(server.args),
            "env": dict(server.env),
            "allowed_tools": list(server.allowed_tools),
        }
        for key, server in config.extra_mcp_servers.items()
    }
    return {
        "send-allow.json": canonical_json(list(config.allowed_recipients)),
        "bash-allow.json": canonical_json(list(config.allowed_bash)),
        "extra-mcp.json": canonical_json(servers),
    }


def write_etc(config: AgentConfig, directory: Path) -> None:
    """Write the policy files into ``directory``, each read-only (0444) and atomically.

    Raises:
        ContainerError: the directory or a file cannot be written.
    """
    try:
        directory.mkdir(parents=True, exist_ok=True)
        for name, data in render_etc(config).items():
            fd, tmp = tempfile.mkstemp(prefix=f".{name}.", dir=directory)
            try:
                with os.fdopen(fd, "wb") as out:
                    out.write(data)
                    out.flush()
                    os.fsync(out.fileno())
                os.chmod(tmp, 0o444)
                os.replace(tmp, directory / name)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
    except OSError as exc:
        raise ContainerError(f"cannot write the policy files in {directory}: {exc}") from exc


def config_env(config: AgentConfig) -> dict[str, str]:
    """The portable settings as harness environment (nix/harness-env.nix sets the same).

    The runtime adds the rest (``HYPERHIVE_AGENT``, ``HYPERHIVE_SOCKET``, ...), and
    ``HYPERHIVE_SCRIPT`` / ``HYPERHIVE_PROMPT_FILE`` once it knows where the files are.
    """
    env = {
        ENV_DRIVER: config.driver,
        ENV_MODEL: config.model,
        ENV_AUTO_COMPACT: "1" if config.auto_compact else "0",
    }
    if config.notes_compact_bytes is not None:
        env[ENV_NOTES_COMPACT_BYTES] = str(config.notes_compact_bytes)
    return env


def git_env(config: AgentConfig, name: str) -> dict[str, str]:
    """The git identity of agent ``name``: ``git_name``/``git_email``, else the defaults.

    Every runtime puts it in the environment of the harness and of everything exec'd in
    the container, so ``git commit`` works without a gitconfig the agent could change.
    """
    import socket

    author = config.git_name or name
    email = config.git_email or f"{name}@{socket.gethostname() or 'localhost'}.hyperhive"
    return {
        "GIT_AUTHOR_NAME": author,
        "GIT_AUTHOR_EMAIL": email,
        "GIT_COMMITTER_NAME": author,
        "GIT_COMMITTER_EMAIL": email,
    }


# --- templates -----------------------------------------------------------------------

# Byte-identical to nix/templates/agent.nix and nix/templates/manager.nix (a test checks).
AGENT_NIX_TEMPLATE = """\
# Extra NixOS configuration of this agent's container (used by the nixos runtime only).
# The portable settings live in agent.toml; a hyperhive.* option set here wins over it.
{ pkgs, ... }:
{
  # Tools the agent can run from its Bash tool:
  environment.systemPackages = with pkgs; [ git ripgrep ];

  # hyperhive.allowedBashPatterns = [ "git *" "rg *" ];
  # hyperhive.extraMcpServers.search = {
  #   command = "/run/current-system/sw/bin/search-mcp";
  #   allowedTools = [ "*" ];
  # };
}
"""

MANAGER_NIX_TEMPLATE = """\
# Extra NixOS configuration of the manager's container (hm1nd, nixos runtime only).
# The manager edits every agent's proposed repo under /agents/<name>/config and
# proposes each change as a commit; it needs git, and little else.
{ pkgs, ... }:
{
  environment.systemPackages = with pkgs; [ git ripgrep diffutils ];
}
"""


def default_files(
    name: str,
    role: Role | str,
    *,
    with_nix: bool = True,
    driver: str = DEFAULT_DRIVER,
    script: bytes | None = None,
) -> dict[str, bytes]:
    """The files a new agent's proposed repo starts from.

    Args:
        name: the agent's name (``manager`` for the manager).
        role: ``agent`` or ``manager``.
        with_nix: include ``agent.nix`` (read by the nixos runtime, ignored elsewhere).
        driver: the driver the new agent runs (the host's ``driver`` setting).
        script: for the scripted driver, a script to ship as ``script.json``.
    """
    if driver not in DRIVERS:
        raise InvalidInput(f"unknown driver {driver!r}: use one of {', '.join(DRIVERS)}")
    role = Role(role)
    validate_agent_name(name, allow_manager=role is Role.MANAGER)
    if role is Role.MANAGER:
        who = "the manager"
        prompt = (
            "# Manager\n\n"
            "You coordinate the swarm. Every spawn and config change is a git commit in\n"
            "/agents/<name>/config that the operator approves; explain each proposal in its\n"
            "commit message. Keep durable notes in /state/notes.md.\n"
        )
    else:
        who = f"agent {name!r}"
        prompt = (
            f"# {name}\n\n"
            "Extra instructions for this agent go here (the manager fills this in).\n"
            "Keep durable notes in /state/notes.md.\n"
        )
    script_line = '\nscript = "script.json"' if script is not None else ""
    toml = f"""\
# Portable config of {who}. The manager edits it; the operator approves every change.
driver = "{driver}"{script_line}
model = "{DEFAULT_MODEL}"
# Who this agent may message; [] = anyone. The manager is always allowed.
allowed_recipients = []
# Bash commands it may run, as patterns like "git *"; [] = any command.
allowed_bash = []
auto_compact = true

# [limits]               # unset: the host's defaults
# memory_max = "2G"
# cpu_quota = "200%"

# [extra_mcp_servers.search]
# command = "/run/current-system/sw/bin/search-mcp"
# args = []
# env = {{}}
# allowed_tools = ["*"]
"""
    files = {"agent.toml": toml.encode(), "prompt.md": prompt.encode()}
    if script is not None:
        files["script.json"] = script
    if with_nix:
        template = MANAGER_NIX_TEMPLATE if role is Role.MANAGER else AGENT_NIX_TEMPLATE
        files["agent.nix"] = template.encode()
    return files
