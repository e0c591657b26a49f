"""Claude Code driver: one warm SDK session per agent, a turn is one prompt on it.

The session (`claude_session.WarmSession`, a ``ClaudeSDKClient`` on the SDK's bundled
CLI) starts on the first turn, stays warm between turns, closes after ``idle_seconds``
without a turn (or when the process's `WarmPool` needs room), and the next turn resumes
it by session id, so the conversation goes on. A "new session" from the operator starts
a fresh one; ``cancel`` is the CLI's interrupt. The hyperhive tools run in this process
(`hyperhive.agent.sdk_tools`); `ToolPolicy` answers the CLI's permission requests.
What one prompt reports is folded by `CliRun` (`claude_stream`). See docs/claude.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from hyperhive.agent.drivers.base import ExitClass, OnEvent, TurnResult
from hyperhive.agent.drivers.claude_options import BUILTIN_TOOLS as BUILTIN_TOOLS
from hyperhive.agent.drivers.claude_options import DEFAULT_ENV as DEFAULT_ENV
from hyperhive.agent.drivers.claude_options import ClaudeConfig as ClaudeConfig
from hyperhive.agent.drivers.claude_options import ToolPolicy, claude_env, sdk_options
from hyperhive.agent.drivers.claude_options import allowed_tools as allowed_tools
from hyperhive.agent.drivers.claude_options import has_credentials as has_credentials
from hyperhive.agent.drivers.claude_options import permission_rules as permission_rules
from hyperhive.agent.drivers.claude_session import POOL, SessionGone, WarmPool, WarmSession
from hyperhive.agent.drivers.claude_stream import INPUT_LIMIT as INPUT_LIMIT
from hyperhive.agent.drivers.claude_stream import SEND_TOOL as SEND_TOOL
from hyperhive.agent.drivers.claude_stream import TEXT_LIMIT as TEXT_LIMIT
from hyperhive.agent.drivers.claude_stream import CliRun, cut, turn_result
from hyperhive.agent.drivers.claude_stream import summarise_event as summarise_event
from hyperhive.core.agent_config import McpServer as McpServer
from hyperhive.core.errors import CommandError
from hyperhive.core.runner import ProcessRunner, Runner, which

logger = logging.getLogger(__name__)


class ClaudeDriver:
    """Runs Claude Code for one agent on a warm session (see `hyperhive.agent.drivers.base`).

    ``runner`` runs the short ``--version`` / ``auth status`` probes of `check`; ``pool``
    bounds the warm sessions (default: the process's); ``closing`` are closed with the
    driver (the hyperhive tools' link to the daemon).
    """

    def __init__(
        self,
        config: ClaudeConfig,
        runner: Runner | None = None,
        pool: WarmPool | None = None,
        closing: list[Any] | None = None,
    ) -> None:
        self.config = config
        self._closing = list(closing or [])
        self.policy = ToolPolicy(config)
        self._runner = runner or ProcessRunner()
        self._pool = POOL if pool is None else pool
        self._session: WarmSession | None = None
        self._session_id = ""  # what the next cold start resumes
        self._cancelled = False
        self._on_event: OnEvent | None = None
        self._idle: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self.cold_starts = 0

    # -- readiness ------------------------------------------------------------------

    async def check(self) -> tuple[ExitClass | None, str]:
        """Return ``(None, version)`` when the CLI runs and has credentials, else the reason."""
        env = claude_env(self.config)
        binary = self.config.cli_path
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

    # -- a turn -----------------------------------------------------------------------

    @property
    def warm(self) -> bool:
        """True while a session is connected and its CLI runs."""
        return self._session is not None and self._session.alive

    @property
    def session_id(self) -> str:
        """The conversation the next turn continues ("" for a fresh one)."""
        return self._session.session_id if self.warm and self._session else self._session_id

    async def run_turn(
        self, prompt: str, *, on_event: OnEvent, new_session: bool = False
    ) -> TurnResult:
        """Run one turn on the warm session; on a full context, compact and retry once."""
        self._cancelled = False
        self._on_event = on_event
        self._cancel_idle()
        if new_session or not self.config.persist_session:
            await self._drop_session(forget=True)
        runs: list[CliRun] = []
        try:
            run = await self._ask(prompt, on_event)
            runs.append(run)
            exit_class, error = run.outcome()
            retries = self.config.compact_retries if self.config.auto_compact else 0
            for _ in range(retries if self.config.persist_session else 0):
                if not run.prompt_too_long or self._cancelled:
                    break
                exit_class, error, compacted = await self._compact_and_retry(
                    prompt, run, runs, on_event
                )
                run = runs[-1]
                if not compacted:
                    break
                if exit_class is ExitClass.OK:
                    exit_class = ExitClass.COMPACT_RETRY
        finally:
            self._on_event = None
            await self._after_turn()
        if self._cancelled:
            exit_class, error = ExitClass.CANCELLED, "cancelled by the operator"
        elif exit_class is ExitClass.OK and any(r.compacted for r in runs):
            exit_class = ExitClass.COMPACT_RETRY  # the CLI compacted the context on its own
        retry_after = self.config.rate_limit_backoff_seconds
        return turn_result(
            runs,
            exit_class,
            error,
            retry_after_s=retry_after if exit_class is ExitClass.RATE_LIMITED else 0.0,
        )

    async def _compact_and_retry(
        self, prompt: str, failed: CliRun, runs: list[CliRun], on_event: OnEvent
    ) -> tuple[ExitClass, str, bool]:
        exit_class, error = failed.outcome()
        await on_event(_driver_event("compact", "prompt is too long: running /compact"))
        compact = await self._ask("/compact", on_event)
        runs.append(compact)
        compact_class, compact_error = compact.outcome()
        if compact_class is ExitClass.OK and compact.compact_result == "failed":
            compact_class = ExitClass.FAILED
            compact_error = _result_text(compact) or "compaction failed"
        if compact_class is not ExitClass.OK:
            # a rate limit or a lost login during /compact is what the harness must see
            return compact_class, f"{error} (/compact failed: {compact_error})", False
        if self._cancelled:
            return exit_class, error, False
        await on_event(_driver_event("retry", "retrying the turn after /compact"))
        retry = await self._ask(prompt, on_event)
        runs.append(retry)
        return (*retry.outcome(), True)

    async def compact(self, *, on_event: OnEvent) -> TurnResult:
        """The operator's "compact now": ``/compact`` on the agent's conversation."""
        if not self._session_id and not self.warm:
            return TurnResult(ExitClass.FAILED, error="no conversation to compact yet")
        self._cancelled = False
        self._on_event = on_event
        self._cancel_idle()
        try:
            await on_event(_driver_event("compact", "compacting on the operator's request"))
            run = await self._ask("/compact", on_event)
        finally:
            self._on_event = None
            await self._after_turn()
        exit_class, error = run.outcome()
        if exit_class is ExitClass.OK and run.compact_result == "failed":
            exit_class, error = ExitClass.FAILED, _result_text(run) or "compaction failed"
        return turn_result([run], exit_class, error)

    async def _ask(self, prompt: str, on_event: OnEvent) -> CliRun:
        """One prompt on the session (connecting it first when cold), folded into a run."""
        run = CliRun()
        if self._cancelled:
            run.error = "cancelled by the operator"
            return run
        started = time.monotonic()
        try:
            async with asyncio.timeout(self.config.turn_timeout_seconds):
                session = await self._ensure_session(run, on_event)
                if session is None:
                    return run
                if self._cancelled:  # the operator cancelled while the CLI was starting
                    run.error = "cancelled by the operator"
                    return run
                try:
                    async for event in session.ask(prompt):
                        for summary in run.feed(event):
                            await on_event(summary)
                        await self._note_compaction(event, on_event)
                except SessionGone as exc:
                    run.error = str(exc)
                    run.stderr = exc.stderr
                    await self._drop_session()
                    await on_event(_driver_event("exit", f"{exc}: {exc.stderr[-300:]}"))
        except TimeoutError:
            run.error = f"the turn timed out after {self.config.turn_timeout_seconds:g} s"
            await on_event(_driver_event("timeout", run.error))
            # the CLI is still in the turn: stop it, close the session (its leftover
            # events go with it); the next turn resumes the conversation
            await self._abandon_turn()
        finally:
            run.wall_ms = (time.monotonic() - started) * 1000
        return run

    async def _ensure_session(self, run: CliRun, on_event: OnEvent) -> WarmSession | None:
        if self._session is not None and self._session.alive:
            if self._session.model != self.config.model:
                # the operator switched the model: the warm session follows from this turn
                await self._session.client.set_model(self.config.model or None)
                self._session.model = self.config.model
                await on_event(_driver_event("session", f"model {self.config.model or '-'}"))
            return self._session
        if self._session is not None:
            if not self._session.closed:
                # the CLI went away between turns (killed, crashed): resume in a new one
                await on_event(_driver_event("exit", "the Claude CLI had exited: resuming"))
            await self._drop_session()  # (a closed one was evicted by the pool)
        from claude_agent_sdk import CLIConnectionError, CLINotFoundError

        resume = self._session_id if self.config.persist_session else ""
        if not self.config.cwd.is_dir():
            run.error = f"working directory {self.config.cwd} does not exist"
            return None
        try:
            options = sdk_options(
                self.config,
                can_use_tool=self._can_use_tool,
                resume=resume,
                system_prompt_path=self._system_prompt_file(),
            )
            self.cold_starts += 1
            session = await WarmSession.connect(options)
            session.model = self.config.model
        except CLINotFoundError as exc:
            run.missing_binary = True
            run.error = f"cannot start {self.config.cli_path}: {exc}"
        except (CLIConnectionError, OSError) as exc:
            run.missing_binary = isinstance(exc, FileNotFoundError | PermissionError)
            run.error = f"cannot start the Claude session: {exc}"
        else:
            self._session = session
            await on_event(
                _driver_event("session", f"resumed {resume}" if resume else "new session")
            )
            return session
        await on_event(_driver_event("exit", run.error))
        return None

    async def _note_compaction(self, event: dict[str, Any], on_event: OnEvent) -> None:
        if event.get("type") == "system" and event.get("subtype") == "compact_boundary":
            meta = event.get("compact_metadata")
            meta = meta if isinstance(meta, dict) else {}
            trigger = str(meta.get("trigger") or "auto")
            tokens = meta.get("pre_tokens")
            await on_event(
                _driver_event("compacted", f"context compacted ({trigger}, {tokens} tokens before)")
            )

    async def _can_use_tool(self, tool: str, tool_input: dict[str, Any], context: Any) -> Any:
        from claude_agent_sdk import PermissionResultAllow, PermissionResultDeny

        refusal = self.policy.refusal(tool, tool_input if isinstance(tool_input, dict) else {})
        if refusal is None:
            return PermissionResultAllow()
        on_event = self._on_event
        if on_event is not None:
            event = _driver_event("denied", f"{tool}: {refusal}")
            event["tool"] = tool
            with contextlib.suppress(Exception):
                await on_event(event)
        return PermissionResultDeny(message=f"refused: {refusal}")

    # -- stopping ---------------------------------------------------------------------

    def cancel(self) -> None:
        """Interrupt the running turn; kill its CLI if it lingers past the grace."""
        self._cancelled = True
        if self._session is None or not self._session.busy:
            return
        try:
            task = asyncio.get_running_loop().create_task(self._stop_turn())
        except RuntimeError:
            return
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _stop_turn(self) -> None:
        session = self._session
        if session is None:
            return
        try:
            async with asyncio.timeout(self.config.cancel_grace_seconds):
                await session.interrupt()
                while session.busy:
                    await asyncio.sleep(0.05)
        except Exception:  # no answer to the interrupt: the CLI goes
            logger.warning("the Claude CLI did not stop on interrupt; killing it")
            session.kill()

    async def _abandon_turn(self) -> None:
        session = self._session
        if session is not None and not session.closed:
            try:
                async with asyncio.timeout(min(self.config.cancel_grace_seconds, 5.0)):
                    await session.interrupt()
            except Exception:
                session.kill()
        await self._drop_session()

    async def _after_turn(self) -> None:
        session = self._session
        if session is None:
            return
        if session.closed or not self.config.persist_session:
            await self._drop_session()
            return
        self._session_id = session.session_id or self._session_id
        for other in self._pool.touch(session):
            await other.close()
        if self.config.idle_seconds > 0:
            loop = asyncio.get_running_loop()
            self._idle = loop.call_later(self.config.idle_seconds, self._idle_close)
        else:
            await self._drop_session()

    def _idle_close(self) -> None:
        self._idle = None
        task = asyncio.get_running_loop().create_task(self._drop_session())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _cancel_idle(self) -> None:
        if self._idle is not None:
            self._idle.cancel()
            self._idle = None

    async def _drop_session(self, *, forget: bool = False) -> None:
        """Close the session; its id stays for the next turn to resume unless ``forget``."""
        session, self._session = self._session, None
        if session is not None:
            self._session_id = session.session_id or self._session_id
            self._pool.forget(session)
            await session.close()
        if forget:
            self._session_id = ""

    async def close(self) -> None:
        """Close the warm session and the driver's files (the harness is stopping)."""
        self._cancel_idle()
        await self._drop_session()
        for task in list(self._tasks):
            with contextlib.suppress(Exception):
                await task
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None
        for item in self._closing:
            with contextlib.suppress(Exception):
                await item.close()

    def _system_prompt_file(self) -> str | None:
        if not self.config.system_prompt:
            return None
        if self._tmp is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="hyperhive-claude-")
        path = Path(self._tmp.name) / "system-prompt.md"
        path.write_text(self.config.system_prompt)
        return str(path)


def _driver_event(subtype: str, text: str) -> dict[str, Any]:
    return {"type": "driver", "subtype": subtype, "text": cut(text)}


def _result_text(run: CliRun) -> str:
    return str((run.result or {}).get("result") or "")
