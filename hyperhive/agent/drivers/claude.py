"""Claude Code driver: one ``claude --print`` process per turn, read as stream-json.

The plan is data: `claude_argv`, `mcp_config`, `allowed_tools` and `claude_env` are pure
functions of a `ClaudeConfig`; `ClaudeDriver` runs them. What one CLI run reports is
folded by `CliRun`, which lives in `claude_stream` with `summarise_event` and `turn_result`
(all three re-exported here). See docs/claude.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
import signal
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hyperhive.agent.drivers.base import ExitClass, OnEvent, TurnResult
from hyperhive.agent.drivers.claude_stream import INPUT_LIMIT as INPUT_LIMIT
from hyperhive.agent.drivers.claude_stream import SEND_TOOL as SEND_TOOL
from hyperhive.agent.drivers.claude_stream import TEXT_LIMIT as TEXT_LIMIT
from hyperhive.agent.drivers.claude_stream import CliRun, cut, turn_result
from hyperhive.agent.drivers.claude_stream import summarise_event as summarise_event
from hyperhive.core.agent_config import McpServer
from hyperhive.core.errors import CommandError, InvalidInput
from hyperhive.core.runner import ProcessRunner, Runner, which

logger = logging.getLogger(__name__)

HYPERHIVE_SERVER = "hyperhive"
BUILTIN_TOOLS = ("Bash", "Edit", "Glob", "Grep", "Read", "Write")
# Set unless the environment or the config says otherwise. The agent's CLI is pinned by the
# image, so it must not update itself; the hyperhive MCP tools must be connected before the
# first request goes out, or the model starts a turn without them.
DEFAULT_ENV = {
    "DISABLE_AUTOUPDATER": "1",
    "MCP_CONNECTION_NONBLOCKING": "0",
    "MCP_CONNECT_TIMEOUT_MS": "30000",
}
_LINE_LIMIT = 32 * 1024 * 1024  # one stream-json line holds a whole tool result
_STDERR_LIMIT = 16 * 1024
_KEY_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")


@dataclass(frozen=True)
class ClaudeConfig:
    """Everything the driver needs to run the CLI for one agent.

    ``allowed_bash`` patterns become ``Bash(<pattern>)`` permission rules (empty: any
    command). ``permission_mode`` ``dontAsk`` refuses every tool call the rules do not
    allow, without prompting. ``setting_sources`` defaults to the user's settings only:
    project settings live in the agent's own writable cwd, and their hooks would let an
    agent widen its own permissions. ``persist_session=False`` never continues or saves a
    conversation (for short side sessions such as notes compaction).
    """

    cwd: Path
    hyperhive_mcp: McpServer
    binary: str = "claude"
    model: str = ""
    env: Mapping[str, str] = field(default_factory=dict)
    inherit_env: bool = True
    system_prompt: str = ""
    extra_mcp_servers: Mapping[str, McpServer] = field(default_factory=dict)
    allowed_bash: tuple[str, ...] = ()
    permission_mode: str = "dontAsk"
    setting_sources: tuple[str, ...] = ("user",)
    persist_session: bool = True
    compact_retries: int = 1
    rate_limit_backoff_seconds: float = 60.0
    turn_timeout_seconds: float | None = None
    cancel_grace_seconds: float = 10.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "cwd", Path(self.cwd))
        object.__setattr__(self, "allowed_bash", tuple(self.allowed_bash))
        object.__setattr__(self, "setting_sources", tuple(self.setting_sources))
        if not self.hyperhive_mcp.command:
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


def allowed_tools(config: ClaudeConfig) -> list[str]:
    """The ``--allowedTools`` permission rules: builtins, hyperhive's tools, extra servers.

    An extra server's ``allowed_tools`` entries may be bare (``get_issue``, ``*``) or full
    (``mcp__github__get_issue``); an empty list allows all of its tools.
    """
    bash = [p if p.startswith("Bash(") else f"Bash({p})" for p in config.allowed_bash]
    tools = [*(bash or ["Bash"]), *BUILTIN_TOOLS[1:], f"mcp__{HYPERHIVE_SERVER}__*"]
    for key, server in config.extra_mcp_servers.items():
        prefix = f"mcp__{key}__"
        named = [t if t.startswith(prefix) else prefix + t for t in server.allowed_tools]
        tools += named or [prefix + "*"]
    return tools


def mcp_config(config: ClaudeConfig) -> dict[str, Any]:
    """The ``--mcp-config`` document: hyperhive's server first, then the extra ones."""
    servers = {HYPERHIVE_SERVER: _server_entry(config.hyperhive_mcp)}
    servers.update({k: _server_entry(s) for k, s in config.extra_mcp_servers.items()})
    return {"mcpServers": servers}


def _server_entry(server: McpServer) -> dict[str, Any]:
    return {
        "type": "stdio",
        "command": server.command,
        "args": list(server.args),
        "env": dict(server.env),
    }


def claude_argv(
    config: ClaudeConfig,
    *,
    continue_session: bool,
    mcp_config_path: str,
    system_prompt_path: str | None = None,
) -> list[str]:
    """The CLI command line for one run; the prompt goes on stdin.

    The appended system prompt is passed as a file: an argument is capped at 128 KiB and
    one starting with ``-`` would read as an option. ``--tools`` restricts the built-in
    set (``--allowedTools`` alone is no whitelist); ``--allowedTools`` then says which
    calls run without asking, and ``dontAsk`` refuses the rest.
    """
    argv = [config.binary, "--print", "--verbose", "--output-format", "stream-json"]
    if not config.persist_session:
        argv.append("--no-session-persistence")
    elif continue_session:
        argv.append("--continue")
    if config.model:
        argv += ["--model", config.model]
    argv += ["--mcp-config", mcp_config_path, "--strict-mcp-config"]
    argv += ["--setting-sources", ",".join(config.setting_sources)]
    argv += ["--permission-mode", config.permission_mode]
    argv += ["--tools", ",".join(BUILTIN_TOOLS)]
    argv += ["--allowedTools", *allowed_tools(config)]
    if system_prompt_path is not None:
        argv += ["--append-system-prompt-file", system_prompt_path]
    return argv


def claude_env(config: ClaudeConfig, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The CLI's environment: ``base`` (default: ours), `DEFAULT_ENV`, then ``config.env``."""
    env = dict(os.environ if base is None else base) if config.inherit_env else {}
    for key, value in DEFAULT_ENV.items():
        env.setdefault(key, value)
    env.update(config.env)
    return env


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


class ClaudeDriver:
    """Runs Claude Code for one agent, one process per turn (see `hyperhive.agent.drivers.base`).

    ``runner`` runs the short ``--version`` probe of `check`; a turn streams its output and
    must be signalled mid-run, so it starts the process itself.
    """

    def __init__(self, config: ClaudeConfig, runner: Runner | None = None) -> None:
        self.config = config
        self._runner = runner or ProcessRunner()
        self._proc: asyncio.subprocess.Process | None = None
        self._cancelled = False
        self._kill_timer: asyncio.TimerHandle | None = None

    async def check(self) -> tuple[ExitClass | None, str]:
        """Return ``(None, version)`` when the CLI runs and has credentials, else the reason."""
        env = claude_env(self.config)
        binary = self.config.binary
        found = binary if os.sep in binary else which(binary, env.get("PATH"))
        if found is None or not os.access(found, os.X_OK):
            return ExitClass.DRIVER_MISSING, f"{binary!r} not found (install Claude Code)"
        try:
            done = await self._runner.run([found, "--version"], env=env, timeout=60)
        except CommandError as exc:
            return ExitClass.DRIVER_MISSING, f"{binary} --version failed: {exc}"
        except TimeoutError:
            return ExitClass.DRIVER_MISSING, f"{binary} --version did not answer"
        if not has_credentials(env) and not await self._logged_in(found, env):
            return ExitClass.NEEDS_LOGIN, (
                "no Claude credentials: set ANTHROPIC_API_KEY or log the agent in "
                "(claude auth login); see docs/claude.md"
            )
        return None, done.stdout.strip()

    async def _logged_in(self, binary: str, env: dict[str, str]) -> bool:
        # The CLI knows login methods the file check does not (keychains, console keys).
        argv = [binary, "auth", "status", "--json"]
        try:
            done = await self._runner.run(argv, check=False, env=env, timeout=60)
            status = json.loads(done.stdout)
        except (CommandError, TimeoutError, ValueError):
            return False
        return isinstance(status, dict) and status.get("loggedIn") is True

    async def run_turn(
        self, prompt: str, *, on_event: OnEvent, new_session: bool = False
    ) -> TurnResult:
        """Run one turn; on a full context, ``/compact`` and retry it (see docs/claude.md)."""
        self._cancelled = False
        runs: list[CliRun] = []
        compacted = False
        try:
            tmp = tempfile.TemporaryDirectory(prefix="hyperhive-claude-")
        except OSError as exc:
            return TurnResult(ExitClass.FAILED, error=f"cannot write the turn's files: {exc}")
        with tmp:
            try:
                mcp_path, prompt_path = self._write_turn_files(Path(tmp.name))
            except OSError as exc:
                return TurnResult(ExitClass.FAILED, error=f"cannot write the turn's files: {exc}")

            async def run_cli(text: str, continue_session: bool) -> CliRun:
                runs.append(
                    await self._run(text, continue_session, mcp_path, prompt_path, on_event)
                )
                return runs[-1]

            run = await run_cli(prompt, not new_session)
            exit_class, error = run.outcome()
            for _ in range(self.config.compact_retries if self.config.persist_session else 0):
                if not run.prompt_too_long or self._cancelled:
                    break
                await on_event(_driver_event("compact", "prompt is too long: running /compact"))
                compact = await run_cli("/compact", True)
                compact_class, compact_error = compact.outcome()
                if compact_class is ExitClass.OK and compact.compact_result == "failed":
                    compact_class = ExitClass.FAILED
                    compact_error = _result_text(compact) or "compaction failed"
                if compact_class is not ExitClass.OK:
                    # a rate limit or a lost login during /compact is what the harness must see
                    exit_class = compact_class
                    error = f"{error} (/compact failed: {compact_error})"
                    break
                if self._cancelled:
                    break
                await on_event(_driver_event("retry", "retrying the turn after /compact"))
                run = await run_cli(prompt, True)
                exit_class, error = run.outcome()
                compacted = True
        if self._cancelled:
            exit_class, error = ExitClass.CANCELLED, "cancelled by the operator"
        elif compacted and exit_class is ExitClass.OK:
            exit_class = ExitClass.COMPACT_RETRY
        retry_after = self.config.rate_limit_backoff_seconds
        return turn_result(
            runs,
            exit_class,
            error,
            retry_after_s=retry_after if exit_class is ExitClass.RATE_LIMITED else 0.0,
        )

    def cancel(self) -> None:
        """SIGINT the running CLI; SIGKILL its process group if it lingers past the grace."""
        self._cancelled = True
        proc = self._proc
        if proc is None or proc.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGINT)
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        if self._kill_timer is None:
            self._kill_timer = loop.call_later(
                self.config.cancel_grace_seconds, _kill_group, proc.pid
            )

    # -- one CLI run ------------------------------------------------------------

    def _write_turn_files(self, tmp: Path) -> tuple[str, str | None]:
        mcp_path = tmp / "mcp.json"
        # The MCP config can hold tokens in env: readable by the agent's user only.
        fd = os.open(mcp_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(mcp_config(self.config), f)
        if not self.config.system_prompt:
            return str(mcp_path), None
        (tmp / "system-prompt.md").write_text(self.config.system_prompt)
        return str(mcp_path), str(tmp / "system-prompt.md")

    async def _run(
        self,
        prompt: str,
        continue_session: bool,
        mcp_path: str,
        prompt_path: str | None,
        on_event: OnEvent,
    ) -> CliRun:
        run = CliRun()
        argv = claude_argv(
            self.config,
            continue_session=continue_session,
            mcp_config_path=mcp_path,
            system_prompt_path=prompt_path,
        )
        logger.debug("claude run: %s", argv)
        if self._cancelled:
            run.error = "cancelled by the operator"
            return run
        if not self.config.cwd.is_dir():
            run.error = f"working directory {self.config.cwd} does not exist"
            return run
        started = time.monotonic()
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                cwd=self.config.cwd,
                env=claude_env(self.config),
                limit=_LINE_LIMIT,
                # Its own process group: a Ctrl-C at the harness's terminal is the
                # harness's to handle, and a hung CLI can be killed with its children.
                start_new_session=True,
            )
        except OSError as exc:
            run.missing_binary = isinstance(exc, FileNotFoundError | PermissionError)
            run.error = f"cannot start {argv[0]}: {exc.strerror or exc}"
            await on_event(_driver_event("exit", run.error))
            return run
        self._proc = proc
        stdin_task = asyncio.create_task(_feed_stdin(proc, prompt))
        stderr_task = asyncio.create_task(_read_tail(proc))
        try:
            async with asyncio.timeout(self.config.turn_timeout_seconds):
                await self._read_events(proc, run, on_event)
                await proc.wait()
        except TimeoutError:
            run.error = f"the turn timed out after {self.config.turn_timeout_seconds:g} s"
            await on_event(_driver_event("timeout", run.error))
        finally:
            if proc.returncode is None:
                await self._stop(proc)
            self._proc = None
            if self._kill_timer is not None:
                self._kill_timer.cancel()
                self._kill_timer = None
            await stdin_task  # ends once the pipe closes, whatever the CLI did
            try:
                run.stderr = await asyncio.wait_for(stderr_task, self.config.cancel_grace_seconds)
            except TimeoutError:
                _kill_group(proc.pid)  # a leftover child of the CLI holds the pipe open
            run.returncode = proc.returncode
            run.wall_ms = (time.monotonic() - started) * 1000
        if run.result is None and not self._cancelled:
            await on_event(
                _driver_event("exit", f"claude exited {proc.returncode}: {run.stderr[-300:]}")
            )
        return run

    async def _read_events(
        self, proc: asyncio.subprocess.Process, run: CliRun, on_event: OnEvent
    ) -> None:
        assert proc.stdout is not None
        while True:
            try:
                line = await proc.stdout.readline()
            except ValueError:  # a line past _LINE_LIMIT: the reader dropped it
                await on_event(_driver_event("stdout", "an oversized event was skipped"))
                continue
            if not line:
                return
            for event in run.feed_line(line.decode(errors="replace")):
                await on_event(event)

    async def _stop(self, proc: asyncio.subprocess.Process) -> None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGINT)
        try:
            await asyncio.wait_for(proc.wait(), self.config.cancel_grace_seconds)
        except TimeoutError:
            _kill_group(proc.pid)
            await proc.wait()


async def _feed_stdin(proc: asyncio.subprocess.Process, prompt: str) -> None:
    assert proc.stdin is not None
    try:
        if not proc.stdin.is_closing():
            proc.stdin.write(prompt.encode())
            await proc.stdin.drain()
    except (BrokenPipeError, ConnectionResetError, RuntimeError):
        # the CLI died early (uvloop says so with a RuntimeError on its closed pipe);
        # its exit status tells why
        pass
    finally:
        proc.stdin.close()


async def _read_tail(proc: asyncio.subprocess.Process) -> str:
    assert proc.stderr is not None
    tail = b""
    while chunk := await proc.stderr.read(65536):
        tail = (tail + chunk)[-_STDERR_LIMIT:]
    return tail.decode(errors="replace")


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def _driver_event(subtype: str, text: str) -> dict[str, Any]:
    return {"type": "driver", "subtype": subtype, "text": cut(text)}


def _result_text(run: CliRun) -> str:
    return str((run.result or {}).get("result") or "")
