"""Claude Code driver: one ``claude --print`` process per turn, read as stream-json.

The plan is data: `claude_argv`, `mcp_config`, `allowed_tools` and `claude_env` are pure
functions of a `ClaudeConfig`; `ClaudeDriver` runs them. What one CLI run reports is
folded by `CliRun`: tool calls counted from ``tool_use`` blocks (the CLI emits one
``assistant`` event per content block, all carrying placeholder usage), usage, cost and
duration taken from the ``result`` event only. See docs/claude.md.
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
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hyperhive.agent.drivers.base import ExitClass, OnEvent, TurnResult
from hyperhive.core.agent_config import McpServer
from hyperhive.core.errors import CommandError, InvalidInput
from hyperhive.core.runner import ProcessRunner, Runner, which

logger = logging.getLogger(__name__)

HYPERHIVE_SERVER = "hyperhive"
SEND_TOOL = "mcp__hyperhive__send"
BUILTIN_TOOLS = ("Bash", "Edit", "Glob", "Grep", "Read", "Write")
# Set unless the environment or the config says otherwise. The agent's CLI is pinned by the
# image, so it must not update itself; the hyperhive MCP tools must be connected before the
# first request goes out, or the model starts a turn without them.
DEFAULT_ENV = {
    "DISABLE_AUTOUPDATER": "1",
    "MCP_CONNECTION_NONBLOCKING": "0",
    "MCP_CONNECT_TIMEOUT_MS": "30000",
}
TEXT_LIMIT = 500
INPUT_LIMIT = 200
_LINE_LIMIT = 32 * 1024 * 1024  # one stream-json line holds a whole tool result
_STDERR_LIMIT = 16 * 1024
_KEY_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")
_AUTH_RE = re.compile(
    r"invalid api key|invalid x-api-key|please run /login|authentication_error|"
    r"authentication_failed|oauth token|not logged in|invalid bearer token",
    re.IGNORECASE,
)
_RATE_RE = re.compile(r"rate.?limit|usage limit|hit your limit|overloaded", re.IGNORECASE)
_TOO_LONG_RE = re.compile(r"prompt is too long", re.IGNORECASE)
_USAGE_KEYS = (
    "input_tokens",
    "output_tokens",
    "cache_read_input_tokens",
    "cache_creation_input_tokens",
)


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


def summarise_event(event: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Turn one stream-json event into the small dicts `OnEvent` receives (one per block)."""
    kind = str(event.get("type", "unknown"))
    message = _message(event)
    if kind == "assistant":
        out = [_summarise_block(b) for b in _blocks(message.get("content"))]
        if event.get("error"):
            for item in out:
                item["error"] = str(event["error"])
        return out or [{"type": "assistant"}]
    if kind == "user":
        content = message.get("content")
        if isinstance(content, str):
            return [{"type": "user", "text": _cut(content)}]
        return [_summarise_block(b) for b in _blocks(content)] or [{"type": "user"}]
    if kind == "result":
        return [
            {
                "type": "result",
                "subtype": event.get("subtype"),
                "is_error": bool(event.get("is_error")),
                "text": _cut(str(event.get("result") or "")),
                "duration_ms": event.get("duration_ms"),
                "cost_usd": event.get("total_cost_usd"),
                "num_turns": event.get("num_turns"),
                "api_error_status": event.get("api_error_status"),
            }
        ]
    out_event: dict[str, Any] = {"type": kind}
    if "subtype" in event:
        out_event["subtype"] = event["subtype"]
    if kind == "system" and event.get("subtype") == "init":
        servers = event.get("mcp_servers") or []
        out_event["model"] = event.get("model")
        out_event["session_id"] = event.get("session_id")
        out_event["tools"] = len(event.get("tools") or [])
        out_event["mcp_servers"] = {
            str(s.get("name")): str(s.get("status")) for s in servers if isinstance(s, dict)
        }
        return [out_event]
    for key, value in event.items():
        if key in ("type", "subtype", "uuid", "session_id") or isinstance(value, dict | list):
            continue
        out_event[key] = _cut(value, INPUT_LIMIT) if isinstance(value, str) else value
    return [out_event]


@dataclass
class CliRun:
    """What one CLI process reported: its events folded into counts, usage and an outcome."""

    tools: Counter[str] = field(default_factory=Counter)
    tool_ids: set[str] = field(default_factory=set)
    sends: dict[str, str] = field(default_factory=dict)
    failed_ids: set[str] = field(default_factory=set)
    api_errors: list[str] = field(default_factory=list)
    result: dict[str, Any] | None = None
    session_id: str = ""
    compact_result: str = ""
    returncode: int | None = None
    stderr: str = ""
    wall_ms: float = 0.0
    error: str = ""  # set by the driver when the run never got going or was stopped
    missing_binary: bool = False

    def feed_line(self, line: str) -> list[dict[str, Any]]:
        """Fold one stdout line; return its summarised events."""
        line = line.strip()
        if not line:
            return []
        try:
            event = json.loads(line)
        except ValueError:
            return [{"type": "driver", "subtype": "stdout", "text": _cut(line)}]
        if not isinstance(event, dict):
            return [{"type": "driver", "subtype": "stdout", "text": _cut(line)}]
        return self.feed(event)

    def feed(self, event: dict[str, Any]) -> list[dict[str, Any]]:
        """Fold one parsed event; return its summarised events."""
        kind = event.get("type")
        message = _message(event)
        if kind == "assistant":
            if event.get("error"):
                self.api_errors.append(str(event["error"]))
            for block in _blocks(message.get("content")):
                if block.get("type") != "tool_use":
                    continue
                tool_id = str(block.get("id") or f"#{len(self.tool_ids)}")
                if tool_id in self.tool_ids:
                    continue  # the same block seen twice (a re-emitted message)
                self.tool_ids.add(tool_id)
                name = str(block.get("name") or "?")
                self.tools[name] += 1
                tool_input = block.get("input")
                if name == SEND_TOOL and isinstance(tool_input, dict) and "to" in tool_input:
                    self.sends[tool_id] = str(tool_input["to"])
        elif kind == "user":
            for block in _blocks(message.get("content")):
                if block.get("type") == "tool_result" and block.get("is_error"):
                    self.failed_ids.add(str(block.get("tool_use_id")))
        elif kind == "system":
            if event.get("subtype") == "init":
                self.session_id = str(event.get("session_id") or self.session_id)
            if event.get("compact_result"):
                self.compact_result = str(event["compact_result"])
        elif kind == "result":
            self.result = event
            self.session_id = str(event.get("session_id") or self.session_id)
        return summarise_event(event)

    @property
    def tool_calls(self) -> int:
        """How many tools the model called."""
        return len(self.tool_ids)

    @property
    def messages_sent(self) -> list[str]:
        """Recipients of hyperhive sends that did not come back as an error."""
        return [to for tool_id, to in self.sends.items() if tool_id not in self.failed_ids]

    @property
    def permission_denials(self) -> list[str]:
        """Refused calls as ``Tool(detail)``, from the result event."""
        denials = (self.result or {}).get("permission_denials") or []
        return [_denial(d) for d in denials if isinstance(d, dict)]

    @property
    def prompt_too_long(self) -> bool:
        """True when the run failed because the context window is full."""
        r = self.result
        if r is None or not r.get("is_error"):
            return False
        return r.get("terminal_reason") == "prompt_too_long" or bool(
            _TOO_LONG_RE.search(str(r.get("result") or ""))
        )

    def outcome(self) -> tuple[ExitClass, str]:
        """Classify the run: exit class and a one-line error ("" when it went well)."""
        if self.missing_binary:
            return ExitClass.DRIVER_MISSING, self.error
        if self.error:
            return ExitClass.FAILED, self.error
        r = self.result
        if r is not None and not r.get("is_error"):
            return ExitClass.OK, ""
        text = str(r.get("result") or r.get("subtype") or "") if r else ""
        tail = self.stderr.strip()[-TEXT_LIMIT:]
        detail = text or tail or f"claude exited {self.returncode} without a result"
        status = r.get("api_error_status") if r else None
        haystack = f"{text}\n{tail}"
        if status in (401, 403) or "authentication_failed" in self.api_errors:
            return ExitClass.NEEDS_LOGIN, detail
        if status in (429, 529) or "rate_limit" in self.api_errors:
            return ExitClass.RATE_LIMITED, detail
        if _AUTH_RE.search(haystack):
            return ExitClass.NEEDS_LOGIN, detail
        if _RATE_RE.search(haystack):
            return ExitClass.RATE_LIMITED, detail
        return ExitClass.FAILED, detail


def turn_result(
    runs: list[CliRun], exit_class: ExitClass, error: str, *, retry_after_s: float = 0.0
) -> TurnResult:
    """Merge the CLI runs of one turn (a compaction makes three) into its `TurnResult`."""
    tools: Counter[str] = Counter()
    usage: Counter[str] = Counter()
    cost = duration = 0.0
    turns = 0
    sent: list[str] = []
    denials: list[str] = []
    for run in runs:
        tools.update(run.tools)
        sent += run.messages_sent
        denials += run.permission_denials
        r = run.result or {}
        u = r.get("usage")
        for key in _USAGE_KEYS:
            usage[key] += int((u.get(key) if isinstance(u, dict) else 0) or 0)
        cost += float(r.get("total_cost_usd") or 0.0)
        turns += int(r.get("num_turns") or 0)
        duration += float(r["duration_ms"]) if r.get("duration_ms") is not None else run.wall_ms
    return TurnResult(
        exit_class=exit_class,
        duration_ms=duration,
        tool_calls=sum(run.tool_calls for run in runs),
        tools=dict(tools),
        input_tokens=usage["input_tokens"],
        output_tokens=usage["output_tokens"],
        cache_read_tokens=usage["cache_read_input_tokens"],
        cache_creation_tokens=usage["cache_creation_input_tokens"],
        cost_usd=cost,
        num_turns=turns,
        error=error,
        permission_denials=denials,
        messages_sent=sent,
        retry_after_s=retry_after_s,
        session_id=next((r.session_id for r in reversed(runs) if r.session_id), ""),
    )


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
        proc.stdin.write(prompt.encode())
        await proc.stdin.drain()
    except (BrokenPipeError, ConnectionResetError):
        pass  # the CLI died early; its exit status tells why
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
    return {"type": "driver", "subtype": subtype, "text": _cut(text)}


def _result_text(run: CliRun) -> str:
    return str((run.result or {}).get("result") or "")


def _message(event: Mapping[str, Any]) -> dict[str, Any]:
    message = event.get("message")
    return message if isinstance(message, dict) else {}


def _blocks(content: Any) -> list[dict[str, Any]]:
    if not isinstance(content, list):
        return []
    return [b for b in content if isinstance(b, dict)]


def _summarise_block(block: dict[str, Any]) -> dict[str, Any]:
    kind = str(block.get("type", "unknown"))
    if kind == "text":
        return {"type": "text", "text": _cut(str(block.get("text", "")))}
    if kind == "thinking":
        return {"type": "thinking", "text": _cut(str(block.get("thinking", "")))}
    if kind == "tool_use":
        raw = block.get("input")
        tool_input = raw if isinstance(raw, dict) else {}
        return {
            "type": "tool_use",
            "tool": block.get("name"),
            "id": block.get("id"),
            "input": {k: _short(v) for k, v in list(tool_input.items())[:10]},
        }
    if kind == "tool_result":
        return {
            "type": "tool_result",
            "id": block.get("tool_use_id"),
            "is_error": bool(block.get("is_error")),
            "text": _cut(_content_text(block.get("content"))),
        }
    return {"type": kind}


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    parts = [str(b.get("text", "")) for b in _blocks(content) if b.get("type") == "text"]
    return "\n".join(parts)


def _denial(denial: dict[str, Any]) -> str:
    name = str(denial.get("tool_name") or "?")
    raw = denial.get("tool_input")
    tool_input = raw if isinstance(raw, dict) else {}
    for key in ("command", "file_path", "path", "pattern", "url"):
        if isinstance(tool_input.get(key), str):
            return f"{name}({_cut(tool_input[key], INPUT_LIMIT)})"
    return name


def _short(value: Any) -> Any:
    if isinstance(value, str):
        return _cut(value, INPUT_LIMIT)
    if value is None or isinstance(value, bool | int | float):
        return value
    return _cut(json.dumps(value, default=str), INPUT_LIMIT)


def _cut(text: str, limit: int = TEXT_LIMIT) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
