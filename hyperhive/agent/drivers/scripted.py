"""The scripted driver: plays a JSON script through the real hyperhive MCP tools (demo, tests).

A script is ``{"turns": [{"on": ..., "steps": [...]}, ...]}``. Each turn the first
entry whose ``on`` matches the wake message runs (no match: the turn does nothing).
``on`` is ``"any"``, ``"from:<sender>"``, ``"body:<substring>"``, or a list of those
that must all match; ``"once": true`` plays an entry only once (remembered in the state
dir). A step is one of:

* ``{"send": {"to", "body", "in_reply_to"?}}``, ``{"recv": {...}}``,
  ``{"ask_operator": {...}}`` (or ``ask``), ``{"whoami": {}}``, or any other tool by its
  name (``{"request_apply_commit": {"agent", "commit_ref"}}``, ``{"kill": {"name"}}``)
* ``{"tool": "<name>", "args": {...}}`` — the same, spelled out
* ``{"commit": {"agent", "files": {path: text}, "message"}}`` — write files into
  ``$HYPERHIVE_AGENTS/<agent>/config`` and ``git commit`` them (the manager's way to
  propose a change); the sha is ``{commit}`` in later steps
* ``{"sleep": seconds}`` and ``{"fail": "reason"}`` (the turn fails; the message is requeued)

Strings in step arguments may use ``{sender}``, ``{body}``, ``{message_id}``, ``{me}``,
``{commit}`` and ``{question}``. Tool calls go through the same MCP server the Claude
CLI uses (served in the harness process), with the MCP SDK client; a stdio command
(`McpServer`) works too.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from hyperhive.agent.drivers.base import ExitClass, OnEvent, TurnResult
from hyperhive.core.agent_config import McpServer
from hyperhive.core.errors import CommandError, InvalidInput
from hyperhive.core.runner import ProcessRunner, Runner

logger = logging.getLogger(__name__)

TOOL_PREFIX = "mcp__hyperhive__"
ALIASES = {"ask": "ask_operator"}
TEXT_LIMIT = 500
GIT_SAFE = ("-c", "core.hooksPath=/dev/null", "-c", "core.fsmonitor=false")
GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "hyperhive scripted driver",
    "GIT_AUTHOR_EMAIL": "scripted@hyperhive.invalid",
    "GIT_COMMITTER_NAME": "hyperhive scripted driver",
    "GIT_COMMITTER_EMAIL": "scripted@hyperhive.invalid",
}


@dataclass(frozen=True)
class ScriptTurn:
    """One entry of a script: when it plays, and its steps."""

    on: tuple[str, ...]
    steps: tuple[Mapping[str, Any], ...]
    once: bool = False


def parse_script(data: Any) -> tuple[ScriptTurn, ...]:
    """Validate a decoded script.

    Raises:
        InvalidInput: the shape is wrong; the message names the entry.
    """
    if isinstance(data, dict):
        data = data.get("turns")
    if not isinstance(data, list):
        raise InvalidInput('a script is {"turns": [...]} or a list of turns')
    turns = []
    for i, entry in enumerate(data):
        where = f"script turn {i}"
        if not isinstance(entry, dict):
            raise InvalidInput(f"{where} must be an object")
        on = entry.get("on", "any")
        conds = (on,) if isinstance(on, str) else on
        if not isinstance(conds, list | tuple) or not all(_valid_cond(c) for c in conds):
            raise InvalidInput(f'{where}: "on" must be any, from:<name>, body:<text> or a list')
        steps = entry.get("steps", [])
        if not isinstance(steps, list) or not all(_valid_step(s) for s in steps):
            raise InvalidInput(f"{where}: every step must be an object with one action key")
        turns.append(ScriptTurn(tuple(conds), tuple(steps), bool(entry.get("once", False))))
    return tuple(turns)


def load_script(path: Path) -> tuple[ScriptTurn, ...]:
    """Read and validate the script at ``path``.

    Raises:
        InvalidInput: it is missing, not JSON, or malformed.
    """
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError as exc:
        raise InvalidInput(f"script {path} does not exist") from exc
    except (OSError, ValueError) as exc:
        raise InvalidInput(f"script {path} is not readable JSON: {exc}") from exc
    try:
        return parse_script(data)
    except InvalidInput as exc:
        raise InvalidInput(f"{path}: {exc.message}") from exc


def demo_script(name: str) -> Path:
    """The path of a demo script shipped with hyperhive (``manager``, ``alice``, ``bob``)."""
    return Path(str(resources.files("hyperhive.agent").joinpath("scripts", f"demo-{name}.json")))


def _valid_cond(cond: object) -> bool:
    return isinstance(cond, str) and (cond == "any" or cond.startswith(("from:", "body:")))


def _valid_step(step: object) -> bool:
    return isinstance(step, dict) and len(step) >= 1


def matches(turn: ScriptTurn, sender: str, body: str) -> bool:
    """Whether every condition of ``turn`` holds for a wake from ``sender`` with ``body``."""
    for cond in turn.on:
        if cond == "any":
            continue
        kind, _, value = cond.partition(":")
        if kind == "from" and sender != value:
            return False
        if kind == "body" and value not in body:
            return False
    return True


def expand(value: Any, variables: Mapping[str, str]) -> Any:
    """Substitute ``{name}`` placeholders in every string of ``value``."""
    if isinstance(value, str):
        for key, text in variables.items():
            value = value.replace("{" + key + "}", text)
        return value
    if isinstance(value, list):
        return [expand(v, variables) for v in value]
    if isinstance(value, dict):
        return {k: expand(v, variables) for k, v in value.items()}
    return value


@dataclass
class _TurnRun:
    """The state of one scripted turn while its steps play."""

    stack: contextlib.AsyncExitStack
    variables: dict[str, str]
    tools: Counter[str]
    sent: list[str]
    on_event: OnEvent
    session: Any = None


class StepFailed(Exception):
    """A ``fail`` step or a broken ``commit``: the turn fails with this message."""


class ScriptedDriver:
    """Runs the steps of a script as one turn; see the module docstring."""

    def __init__(
        self,
        script: Path,
        *,
        mcp: McpServer | Any,
        name: str,
        state_dir: Path,
        agents_root: Path,
        runner: Runner | None = None,
        closing: list[Any] | None = None,
    ) -> None:
        self.script = script
        self.mcp = mcp  # an in-process MCP server, or a stdio command to start per turn
        self._closing = list(closing or [])
        self.name = name
        self.state_dir = state_dir
        self.agents_root = agents_root
        self.runner = runner or ProcessRunner()
        self._cancel = asyncio.Event()

    @property
    def _once_file(self) -> Path:
        return self.state_dir / ".scripted-once.json"

    async def check(self) -> tuple[ExitClass | None, str]:
        """Ready when the script loads."""
        try:
            turns = load_script(self.script)
        except InvalidInput as exc:
            return ExitClass.DRIVER_MISSING, exc.message
        return None, f"script {self.script} ({len(turns)} turns)"

    def cancel(self) -> None:
        self._cancel.set()

    async def close(self) -> None:
        """Close what the driver was given to close (the tools' link to the daemon)."""
        for item in self._closing:
            with contextlib.suppress(Exception):
                await item.close()

    async def run_turn(
        self, prompt: str, *, on_event: OnEvent, new_session: bool = False
    ) -> TurnResult:
        """Play the entry matching the wake in ``prompt`` through the MCP tools."""
        from hyperhive.agent.wake import parse_wake

        self._cancel.clear()
        started = time.monotonic()
        try:
            turns = load_script(self.script)
        except InvalidInput as exc:
            return TurnResult(ExitClass.DRIVER_MISSING, error=exc.message)
        wake = parse_wake(prompt)
        sender, body = (wake.sender, wake.body) if wake else ("", prompt)
        used = self._used_once()
        chosen = next(
            (
                (i, t)
                for i, t in enumerate(turns)
                if matches(t, sender, body) and not (t.once and i in used)
            ),
            None,
        )
        if chosen is None:
            await on_event({"type": "text", "text": "(the script has nothing for this message)"})
            return self._result(ExitClass.OK, started, Counter(), [])
        index, turn = chosen
        if turn.once:
            self._mark_once(used | {index})
        variables = {
            "sender": sender,
            "body": body,
            "message_id": str(wake.message_id) if wake else "",
            "me": self.name,
            "commit": "",
            "question": "",
        }
        tools: Counter[str] = Counter()
        sent: list[str] = []
        await on_event({"type": "text", "text": f"script turn {index}: {', '.join(turn.on)}"})
        try:
            await self._play(turn, variables, tools, sent, on_event)
        except StepFailed as exc:
            await on_event(_result_event(True, str(exc), started))
            return self._result(ExitClass.FAILED, started, tools, sent, error=str(exc))
        except Exception as exc:  # the MCP server or relay broke: a failed turn
            logger.exception("scripted turn failed")
            error = f"MCP session failed: {exc!r}"
            await on_event(_result_event(True, error, started))
            return self._result(ExitClass.FAILED, started, tools, sent, error=error)
        if self._cancel.is_set():
            await on_event(_result_event(True, "cancelled", started))
            return self._result(
                ExitClass.CANCELLED, started, tools, sent, error="cancelled by the operator"
            )
        await on_event(_result_event(False, "done", started))
        return self._result(ExitClass.OK, started, tools, sent)

    async def _play(
        self,
        turn: ScriptTurn,
        variables: dict[str, str],
        tools: Counter[str],
        sent: list[str],
        on_event: OnEvent,
    ) -> None:
        async with contextlib.AsyncExitStack() as stack:
            run = _TurnRun(stack, variables, tools, sent, on_event)
            for n, raw in enumerate(turn.steps):
                if self._cancel.is_set():
                    return
                step = expand(dict(raw), variables)
                try:
                    await self._step(run, step, n)
                except StepFailed as exc:
                    if not step.get("optional"):
                        raise
                    await on_event({"type": "text", "text": f"optional step {n} failed: {exc}"})

    async def _step(self, run: _TurnRun, step: dict[str, Any], n: int) -> None:
        action = next(k for k in step if k != "optional")
        if action == "sleep":
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._cancel.wait(), float(step["sleep"]))
            return
        if action == "fail":
            raise StepFailed(str(step["fail"] or "the script failed this turn"))
        if action == "commit":
            run.variables["commit"] = await self._commit(step["commit"], run.on_event)
            return
        if action == "tool":
            tool, args = str(step["tool"]), step.get("args") or {}
        else:
            tool, args = ALIASES.get(action, action), step[action] or {}
        if not isinstance(args, dict):
            raise StepFailed(f"step {n}: the arguments of {tool} must be an object")
        reply_to = args.get("in_reply_to")
        if isinstance(reply_to, str):  # "{message_id}" expands to text
            args = {**args, "in_reply_to": int(reply_to) if reply_to.isdigit() else None}
        session = await self._session(run)
        text, is_error = await self._call(session, tool, args, n, run.on_event)
        run.tools[TOOL_PREFIX + tool] += 1
        if not is_error and tool == "send":
            run.sent.append(str(args.get("to", "")))
        if not is_error and tool == "ask_operator":
            run.variables["question"] = _first_id(text)

    async def _session(self, run: _TurnRun) -> Any:
        """The turn's MCP session, started at its first tool call like the agent CLI does."""
        if run.session is None and not isinstance(self.mcp, McpServer):
            from mcp.client import Client

            from hyperhive.agent.sdk_tools import served

            run.session = await run.stack.enter_async_context(Client(served(self.mcp)))
        if run.session is None:
            from mcp.client.session import ClientSession
            from mcp.client.stdio import StdioServerParameters, stdio_client

            params = StdioServerParameters(
                command=self.mcp.command,
                args=list(self.mcp.args),
                env={**os.environ, **self.mcp.env},
                cwd=str(self.state_dir) if self.state_dir.is_dir() else None,
            )
            read, write = await run.stack.enter_async_context(stdio_client(params))
            session = await run.stack.enter_async_context(ClientSession(read, write))
            await session.initialize()
            run.session = session
        return run.session

    async def _call(
        self, session: Any, tool: str, args: Any, n: int, on_event: OnEvent
    ) -> tuple[str, bool]:
        call_id = f"step-{n}"
        await on_event(
            {"type": "tool_use", "tool": TOOL_PREFIX + tool, "id": call_id, "input": _short(args)}
        )
        result = await session.call_tool(tool, args if isinstance(args, dict) else {})
        text = "\n".join(getattr(c, "text", "") for c in result.content)
        await on_event(
            {"type": "tool_result", "id": call_id, "is_error": result.is_error, "text": _cut(text)}
        )
        return text, bool(result.is_error)

    async def _commit(self, spec: Any, on_event: OnEvent) -> str:
        if not isinstance(spec, dict) or not isinstance(spec.get("agent"), str):
            raise StepFailed('commit needs {"agent": <name>, "files": {...}, "message": ...}')
        agent = spec["agent"]
        repo = self.agents_root / agent / "config"
        if not (repo / ".git").exists():
            raise StepFailed(f"commit: {repo} is not a git repository")
        files = spec.get("files") or {}
        for rel, text in files.items():
            target = (repo / rel).resolve()
            if repo.resolve() not in target.parents:
                raise StepFailed(f"commit: {rel!r} is outside the repository")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(str(text))
        message = str(spec.get("message") or f"scripted change of {agent}")
        env = {**os.environ, **GIT_IDENTITY}
        # the repo is agent-written: none of its hooks or fsmonitor commands may run
        git = ["git", *GIT_SAFE, "-C", str(repo)]
        try:
            await self.runner.run([*git, "add", "-A"], env=env)
            await self.runner.run([*git, "commit", "--allow-empty", "-q", "-m", message], env=env)
            done = await self.runner.run([*git, "rev-parse", "HEAD"], env=env)
        except CommandError as exc:
            raise StepFailed(f"commit in {repo} failed: {exc.message}") from exc
        sha = done.stdout.strip()
        await on_event({"type": "text", "text": f"committed {sha[:12]} in {repo}"})
        return sha

    def _used_once(self) -> set[int]:
        try:
            data = json.loads(self._once_file.read_text())
        except (OSError, ValueError):
            return set()
        if not isinstance(data, dict) or str(self.script) not in data:
            return set()
        return {int(i) for i in data[str(self.script)] if isinstance(i, int)}

    def _mark_once(self, used: set[int]) -> None:
        try:
            data = json.loads(self._once_file.read_text())
            if not isinstance(data, dict):
                data = {}
        except (OSError, ValueError):
            data = {}
        data[str(self.script)] = sorted(used)
        with contextlib.suppress(OSError):
            self._once_file.parent.mkdir(parents=True, exist_ok=True)
            tmp = self._once_file.with_name(self._once_file.name + ".tmp")
            tmp.write_text(json.dumps(data))
            os.replace(tmp, self._once_file)

    def _result(
        self,
        exit_class: ExitClass,
        started: float,
        tools: Counter[str],
        sent: list[str],
        *,
        error: str = "",
    ) -> TurnResult:
        return TurnResult(
            exit_class=exit_class,
            duration_ms=(time.monotonic() - started) * 1000,
            tool_calls=sum(tools.values()),
            tools=dict(tools),
            num_turns=1,
            error=error,
            messages_sent=sent,
        )


def _result_event(is_error: bool, text: str, started: float) -> dict[str, Any]:
    return {
        "type": "result",
        "subtype": "error" if is_error else "success",
        "is_error": is_error,
        "text": _cut(text),
        "duration_ms": (time.monotonic() - started) * 1000,
        "cost_usd": 0.0,
        "num_turns": 1,
    }


def _first_id(text: str) -> str:
    for word in text.replace("#", " #").split():
        if word.startswith("#") and word[1:].isdigit():
            return word[1:]
    return ""


def _short(args: Any) -> Any:
    if not isinstance(args, dict):
        return args
    return {k: _cut(v, 200) if isinstance(v, str) else v for k, v in list(args.items())[:10]}


def _cut(text: str, limit: int = TEXT_LIMIT) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
