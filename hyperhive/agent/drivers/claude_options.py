"""What the Claude driver asks of the CLI: its config, environment, rules and tool policy.

Pure functions of a `ClaudeConfig`: `permission_rules` (the CLI's own allow rules),
`ToolPolicy` (what ``can_use_tool`` answers for every call those rules do not cover),
`claude_env` and `sdk_options` (the `ClaudeAgentOptions` of one warm session). The
driver (`hyperhive.agent.drivers.claude`) runs them. See docs/claude.md.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from hyperhive.core.agent_config import McpServer
from hyperhive.core.errors import InvalidInput
from hyperhive.core.runner import which

HYPERHIVE_SERVER = "hyperhive"
BUILTIN_TOOLS = ("Bash", "Edit", "Glob", "Grep", "Read", "Write")
WRITE_TOOLS = ("Edit", "Write", "NotebookEdit")
READ_TOOLS = ("Read", "Glob", "Grep")
# Set unless the environment or the config says otherwise: the CLI must not replace
# itself (the image or the wheel pins it), and the agent's extra (stdio) MCP servers
# must be connected before the first request goes out, or the model starts without them.
DEFAULT_ENV = {
    "DISABLE_AUTOUPDATER": "1",
    "MCP_CONNECTION_NONBLOCKING": "0",
    "MCP_CONNECT_TIMEOUT_MS": "30000",
}
_KEY_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")


def bundled_cli() -> str | None:
    """The Claude Code binary shipped inside the ``claude-agent-sdk`` wheel, if any.

    Found without importing the SDK (which imports ``mcp``: ~1 s an idle harness skips).
    """
    import importlib.util

    spec = importlib.util.find_spec("claude_agent_sdk")
    if spec is None or spec.origin is None:
        return None
    path = Path(spec.origin).parent / "_bundled" / "claude"
    return str(path) if path.is_file() else None


@dataclass(frozen=True)
class ClaudeConfig:
    """Everything the driver needs to run Claude Code for one agent.

    ``hyperhive_server`` is the hyperhive MCP server served *in this process* (an
    ``mcp`` server object, see `hyperhive.agent.sdk_tools`); ``hyperhive_mcp`` an
    external stdio server instead (tests). ``binary`` empty: the SDK's bundled CLI
    (else ``claude`` from ``PATH``, for an SDK packaged without it).
    ``allowed_bash`` patterns become ``Bash(<pattern>)`` rules (empty: any command).
    ``write_dirs`` are where Edit and Write may write (default: ``cwd``).
    ``setting_sources`` defaults to the user's settings only: project settings live in
    the agent's own writable cwd, and their hooks would let an agent widen its own
    rights. ``persist_session=False`` never resumes or saves a conversation (short side
    sessions such as notes compaction). ``auto_compact=False`` turns the CLI's own
    compaction off (and the driver's compact-and-retry with it).
    """

    cwd: Path
    hyperhive_server: Any = None
    hyperhive_mcp: McpServer | None = None
    binary: str = ""
    model: str = ""
    env: Mapping[str, str] = field(default_factory=dict)
    inherit_env: bool = True
    system_prompt: str = ""
    extra_mcp_servers: Mapping[str, McpServer] = field(default_factory=dict)
    allowed_bash: tuple[str, ...] = ()
    write_dirs: tuple[Path, ...] = ()
    setting_sources: tuple[str, ...] = ("user",)
    persist_session: bool = True
    auto_compact: bool = True
    compact_retries: int = 1
    rate_limit_backoff_seconds: float = 60.0
    turn_timeout_seconds: float | None = None
    cancel_grace_seconds: float = 10.0
    idle_seconds: float = 600.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "cwd", Path(self.cwd))
        object.__setattr__(self, "allowed_bash", tuple(self.allowed_bash))
        object.__setattr__(self, "setting_sources", tuple(self.setting_sources))
        object.__setattr__(self, "write_dirs", tuple(Path(d) for d in self.write_dirs))
        if (self.hyperhive_server is None) == (self.hyperhive_mcp is None):
            raise InvalidInput("give the hyperhive tools as exactly one of server or command")
        if self.hyperhive_mcp is not None and not self.hyperhive_mcp.command:
            raise InvalidInput("the hyperhive MCP server needs a command")
        for key in self.extra_mcp_servers:
            if key == HYPERHIVE_SERVER:
                raise InvalidInput(f"MCP server key {key!r} is reserved for hyperhive's own tools")
            if not _KEY_RE.fullmatch(key) or "__" in key:
                raise InvalidInput(f"invalid MCP server key {key!r}: use letters, digits, - and _")
        for pattern in self.allowed_bash:
            if not pattern.strip() or any(ord(c) < 32 for c in pattern):
                raise InvalidInput(f"invalid allowed_bash pattern {pattern!r}")
        if self.compact_retries < 0:
            raise InvalidInput("compact_retries must be >= 0")
        if self.idle_seconds < 0:
            raise InvalidInput("idle_seconds must be >= 0")

    @property
    def cli_path(self) -> str:
        """The binary to run: ``binary``, else the SDK's bundled one, else ``claude``."""
        return self.binary or bundled_cli() or "claude"


def permission_rules(config: ClaudeConfig) -> list[str]:
    """The CLI's own allow rules: the narrow ``Bash(<pattern>)`` ones, nothing wider.

    Every call they do not allow goes to `ToolPolicy` through ``can_use_tool``; a whole
    tool in the rules would approve its calls before the callback is asked.
    """
    return [p if p.startswith("Bash(") else f"Bash({p})" for p in config.allowed_bash]


def allowed_tools(config: ClaudeConfig) -> list[str]:
    """Every call the agent may make, as rules (documentation and the operator's view).

    An extra server's ``allowed_tools`` entries may be bare (``get_issue``, ``*``) or full
    (``mcp__github__get_issue``); an empty list allows all of its tools.
    """
    bash = permission_rules(config)
    tools = [*(bash or ["Bash"]), *BUILTIN_TOOLS[1:], f"mcp__{HYPERHIVE_SERVER}__*"]
    for key, server in config.extra_mcp_servers.items():
        prefix = f"mcp__{key}__"
        named = [t if t.startswith(prefix) else prefix + t for t in server.allowed_tools]
        tools += named or [prefix + "*"]
    return tools


class ToolPolicy:
    """Decides each tool call the CLI's rules leave open: None (allow) or why not.

    A friendly early refusal inside the container, never the trust boundary: the daemon
    checks every hyperhive call again, and the container bounds the rest.
    """

    def __init__(self, config: ClaudeConfig) -> None:
        self.config = config
        self.cwd = Path(os.path.realpath(config.cwd))
        roots = config.write_dirs or (config.cwd,)
        self.write_roots = tuple(Path(os.path.realpath(d)) for d in roots)

    def refusal(self, tool: str, tool_input: Mapping[str, Any]) -> str | None:
        """None when ``tool`` may run with ``tool_input``, else a reason the model can read."""
        if tool.startswith(f"mcp__{HYPERHIVE_SERVER}__"):
            return None
        if tool.startswith("mcp__"):
            return self._mcp_refusal(tool)
        if tool == "Bash":
            if not self.config.allowed_bash:
                return None
            patterns = ", ".join(self.config.allowed_bash)
            return (
                f"this command is not on your Bash allow-list ({patterns}); "
                "ask the manager if you need it"
            )
        if tool in READ_TOOLS:
            return None
        if tool in WRITE_TOOLS:
            return self._write_refusal(tool, tool_input)
        return f"{tool} is not one of your tools"

    def _mcp_refusal(self, tool: str) -> str | None:
        key, _, name = tool[len("mcp__") :].partition("__")
        server = self.config.extra_mcp_servers.get(key)
        if server is None:
            return f"no MCP server {key!r} is configured"
        allowed = server.allowed_tools
        if not allowed or "*" in allowed or name in allowed or tool in allowed:
            return None
        return f"{name!r} is not among the allowed tools of MCP server {key!r}"

    def _write_refusal(self, tool: str, tool_input: Mapping[str, Any]) -> str | None:
        raw = tool_input.get("file_path") or tool_input.get("notebook_path")
        if not isinstance(raw, str) or not raw:
            return f"{tool}: no file path given"
        # realpath: a link inside the agent's dir that points out of it writes out of it
        target = Path(os.path.realpath(self.cwd / raw))
        if any(target == root or root in target.parents for root in self.write_roots):
            return None
        dirs = ", ".join(str(r) for r in self.write_roots)
        return f"{tool}: {raw} is outside the directories you may write ({dirs})"


def mcp_servers(config: ClaudeConfig) -> dict[str, Any]:
    """The session's MCP servers: hyperhive's (in-process or stdio), then the extra ones."""
    servers: dict[str, Any] = {}
    if config.hyperhive_server is not None:
        from hyperhive.agent.sdk_tools import sdk_server_config

        servers[HYPERHIVE_SERVER] = sdk_server_config(config.hyperhive_server)
    else:
        assert config.hyperhive_mcp is not None
        servers[HYPERHIVE_SERVER] = _stdio_entry(config.hyperhive_mcp)
    servers.update({k: _stdio_entry(s) for k, s in config.extra_mcp_servers.items()})
    return servers


def _stdio_entry(server: McpServer) -> dict[str, Any]:
    return {
        "type": "stdio",
        "command": server.command,
        "args": list(server.args),
        "env": dict(server.env),
    }


def claude_env(config: ClaudeConfig, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The CLI's environment: ``base`` (default: ours), `DEFAULT_ENV`, then ``config.env``.

    With ``auto_compact`` off, ``DISABLE_AUTO_COMPACT=1`` (manual ``/compact`` still runs).
    """
    env = dict(os.environ if base is None else base) if config.inherit_env else {}
    for key, value in DEFAULT_ENV.items():
        env.setdefault(key, value)
    env.update(config.env)
    if not config.auto_compact:
        env["DISABLE_AUTO_COMPACT"] = "1"
    return env


CanUseTool = Callable[[str, dict[str, Any], Any], Awaitable[Any]]


def sdk_options(
    config: ClaudeConfig,
    *,
    can_use_tool: CanUseTool,
    resume: str = "",
    system_prompt_path: str | None = None,
    stderr: Callable[[str], None] | None = None,
) -> Any:
    """The `ClaudeAgentOptions` of one warm session.

    ``permission_mode`` is ``default``: the CLI asks ``can_use_tool`` for every call its
    rules do not allow (``dontAsk`` would refuse them unasked; ``bypassPermissions`` is
    never used). The system prompt is Claude Code's own, with ours appended from a file:
    an argument is capped at 128 KiB and one starting with ``-`` reads as an option.
    """
    from claude_agent_sdk import ClaudeAgentOptions

    env = claude_env(config)
    cli = config.cli_path
    if os.sep not in cli:
        cli = which(cli, env.get("PATH")) or cli

    extra: dict[str, str | None] = {}
    if system_prompt_path is not None:
        extra["append-system-prompt-file"] = system_prompt_path
    if not config.persist_session:
        extra["no-session-persistence"] = None
    if not config.inherit_env:
        # the SDK starts the CLI with our whole environment under options.env: blank it
        env = {**{k: "" for k in os.environ if k not in env}, **env}
    return ClaudeAgentOptions(
        cli_path=cli,
        cwd=str(config.cwd),
        env=env,
        model=config.model or None,
        tools=list(BUILTIN_TOOLS),
        allowed_tools=permission_rules(config),
        permission_mode="default",
        setting_sources=cast(Any, list(config.setting_sources)),  # checked by the CLI
        strict_mcp_config=True,
        mcp_servers=mcp_servers(config),
        system_prompt={"type": "preset", "preset": "claude_code"},
        can_use_tool=can_use_tool,
        resume=resume or None,
        extra_args=extra,
        stderr=stderr,
        max_buffer_size=32 * 1024 * 1024,  # one stream-json line holds a whole tool result
    )


def has_credentials(env: Mapping[str, str]) -> bool:
    """True when the CLI has something to authenticate with under ``env``.

    An API key or token in the environment, a gateway (``ANTHROPIC_BASE_URL``), a cloud
    provider, or a login saved in ``$CLAUDE_CONFIG_DIR`` (default ``~/.claude``).
    """
    keys = ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "CLAUDE_CODE_OAUTH_TOKEN")
    providers = ("ANTHROPIC_BASE_URL", "CLAUDE_CODE_USE_BEDROCK", "CLAUDE_CODE_USE_VERTEX")
    if any(env.get(k) for k in keys + providers):
        return True
    home = env.get("HOME", "")
    config_dir = Path(env.get("CLAUDE_CONFIG_DIR") or (Path(home) / ".claude" if home else ""))
    if not str(config_dir):
        return False
    if (config_dir / ".credentials.json").is_file():
        return True
    try:
        settings = json.loads((config_dir / "settings.json").read_text())
    except (OSError, ValueError):
        return False
    return isinstance(settings, dict) and bool(settings.get("apiKeyHelper"))
