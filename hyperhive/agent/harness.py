"""The turn loop of an agent (`hyperhive agent serve`): wake on a message, run one turn, report.

Long-poll ``messages.recv`` → a wake prompt naming the sender → the driver runs one
turn, its events streamed to the daemon (``harness.event``) → ack on success, requeue on
failure → one stats sample set (``stats.record``) and ``harness.turn_ended``. A driver
that cannot run (CLI missing, no credentials) or is rate limited is a visible agent
state (``harness.state``), never a crash loop. The operator's ``cancel``,
``new_session`` and ``compact`` arrive on a long-poll ``harness.control``. The hyperhive
MCP tools run in this process (served to Claude Code through the Agent SDK; called
in-memory by the scripted driver). The driver is closed when the harness stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import signal
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from hyperhive.agent.config import AgentEnv, load_agent_env
from hyperhive.agent.driver_setup import IdleDriver as IdleDriver
from hyperhive.agent.driver_setup import UnusableDriver as UnusableDriver
from hyperhive.agent.driver_setup import make_driver as make_driver
from hyperhive.agent.driver_setup import system_prompt as system_prompt
from hyperhive.agent.drivers.base import Driver, ExitClass, TurnResult
from hyperhive.agent.notes import NotesCompactor
from hyperhive.agent.wake import Wake as Wake
from hyperhive.agent.wake import parse_wake as parse_wake
from hyperhive.agent.wake import sender_class as sender_class
from hyperhive.agent.wake import wake_prompt as wake_prompt
from hyperhive.core.client import HiveClient
from hyperhive.core.errors import DaemonUnavailable, HyperhiveError, Refused
from hyperhive.core.names import BROADCAST, MANAGER, OPERATOR

logger = logging.getLogger(__name__)

RECV_WAIT_SECONDS = 180.0
CONTROL_WAIT_SECONDS = 60.0
FAILURE_BACKOFF_MAX = 300.0
BODY_PREVIEW = 500
_KEY_BAD = re.compile(r"[^a-z0-9_.:-]")
MAX_TOOL_KEYS = 150


def recipient_class(recipient: str) -> str:
    """operator, manager, broadcast or peer: how stats group the messages a turn sent."""
    if recipient == BROADCAST:
        return "broadcast"
    return recipient if recipient in (OPERATOR, MANAGER) else "peer"


def turn_samples(
    result: TurnResult,
    *,
    wall_ms: float,
    inbox_depth: int,
    notes_bytes: int,
    received: Sequence[str] = (),
) -> dict[str, float]:
    """The stats sample set of one turn; usage and cost come from the result, never summed.

    ``received`` are the senders of the messages the turn took: its wake message and
    what it took with ``recv``.
    """
    samples: dict[str, float] = {
        "turn.duration_ms": float(result.duration_ms or wall_ms),
        "turn.wall_ms": float(wall_ms),
        f"turn.exit.{result.exit_class.value}": 1.0,
        "turn.tool_calls": float(result.tool_calls),
        "turn.sent": float(len(result.messages_sent)),
        "turn.permission_denials": float(len(result.permission_denials)),
        "inbox.depth": float(inbox_depth),
        "tokens.input": float(result.input_tokens),
        "tokens.output": float(result.output_tokens),
        "tokens.cache_read": float(result.cache_read_tokens),
        "tokens.cache_creation": float(result.cache_creation_tokens),
        "cost.usd": float(result.cost_usd),
        "notes.bytes": float(notes_bytes),
    }
    for cls, count in Counter(recipient_class(r) for r in result.messages_sent).items():
        samples[f"turn.sent.{cls}"] = float(count)
    samples["turn.received"] = float(len(received))
    for cls, count in Counter(sender_class(s) for s in received).items():
        samples[f"turn.received.{cls}"] = float(count)
    tools: Counter[str] = Counter()
    for tool, count in result.tools.items():
        tools[stat_key(f"turn.tool.{tool}")] += count
    # a sample set holds at most 200 keys: keep the most used tools
    for key, count in tools.most_common(MAX_TOOL_KEYS):
        samples[key] = float(count)
    return samples


def stat_key(key: str) -> str:
    """``key`` as a stats key: 1-64 chars of ``[a-z0-9_.:-]`` (``Bash`` → ``bash``)."""
    return _KEY_BAD.sub("_", key.lower())[:64]


# --- the harness -----------------------------------------------------------------------


class _EventSender:
    """Streams a turn's events to the daemon in batches, without holding up the driver."""

    def __init__(self, client: HiveClient, turn: int) -> None:
        self._client = client
        self._turn = turn
        self._pending: list[dict[str, Any]] = []
        self._wake = asyncio.Event()
        self._closing = False
        self._warned = False
        self._task = asyncio.create_task(self._run())

    async def put(self, event: dict[str, Any]) -> None:
        if not isinstance(event, dict) or not isinstance(event.get("type"), str):
            event = {"type": "unknown", "text": repr(event)[:500]}
        self._pending.append(event)
        self._wake.set()

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._pending:
                batch, self._pending = self._pending[:200], self._pending[200:]
                try:
                    await self._client.call("harness.event", turn=self._turn, events=batch)
                except HyperhiveError as exc:
                    if not self._warned:
                        logger.warning("turn events not stored: %s", exc)
                        self._warned = True
            if self._closing:
                return

    async def close(self) -> None:
        """Send what is queued, then stop."""
        self._closing = True
        self._wake.set()
        await self._task


class Harness:
    """Runs one agent: its MCP server, its turn loop, and its link to the daemon."""

    def __init__(
        self,
        env: AgentEnv,
        driver: Driver,
        *,
        notes_driver: Driver | None = None,
        recv_wait: float = RECV_WAIT_SECONDS,
        tools: Sequence[Any] = (),
    ) -> None:
        self.env = env
        self.driver = driver
        self.recv_wait = recv_wait
        self.notes = NotesCompactor(env.notes_path, notes_driver, env.notes_compact_bytes)
        self.turn = 0
        self.failures = 0
        self._new_session = False
        self._in_turn = False
        self._turn_lock = asyncio.Lock()  # one turn (or compaction) on the driver at a time
        self._side: set[asyncio.Task[None]] = set()
        self._warned_stats = False
        self._state: tuple[str, str] | None = None
        self._tools = list(tools)  # the drivers' HiveTools: what the model saw
        self._received: list[str] = []  # senders of the messages this turn took
        self._model: str | None = None  # the operator's model override, from the next turn
        self._config_model: str | None = None

    # -- the outer loop: (re)connect to the daemon -----------------------------------------

    async def run(self) -> None:
        """Serve until cancelled; a daemon that goes away is waited for, never fatal."""
        try:
            backoff = 0.1
            while True:
                since = time.monotonic()
                try:
                    await self._serve_connected()
                except DaemonUnavailable as exc:
                    logger.warning("daemon unavailable (%s); reconnecting", exc)
                except HyperhiveError as exc:
                    # e.g. the agent was destroyed under us: wait, never crash-loop
                    logger.error("the daemon refused the harness: %s", exc)
                    backoff = max(backoff, 5.0)
                if time.monotonic() - since > 30:
                    backoff = 0.1
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 30.0)
        finally:
            for task in list(self._side):
                task.cancel()
            for driver in (self.driver, self.notes.driver):
                await _close_driver(driver)

    async def _serve_connected(self) -> None:
        client = await HiveClient.connect(self.env.socket)
        control: asyncio.Task[None] | None = None
        try:
            info = await client.call("harness.started")
            self.turn = max(self.turn, int(info.get("last_turn") or 0))
            if info.get("requeued"):
                logger.info("requeued %d message(s) left in flight", info["requeued"])
            self._state = None
            self._model = info.get("model") or None
            limits = info.get("limits") or {}
            wait = min(self.recv_wait, float(limits.get("recv_wait_seconds") or self.recv_wait))
            control = asyncio.create_task(self._control_loop(client))
            await self._wait_ready(client)
            while True:
                got = await client.call("messages.recv", wait_seconds=wait, max=1)
                messages = got.get("messages") or []
                if messages:
                    await self.run_turn(client, messages[0], int(got.get("pending") or 0))
        finally:
            if control is not None:
                control.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await control
            await client.close()

    # -- driver readiness and state ------------------------------------------------------

    async def _set_state(self, client: HiveClient, state: str, reason: str = "") -> None:
        if self._state == (state, reason):
            return
        got = await client.call("harness.state", state=state, reason=reason)
        # not applied while the lifecycle owns the state (starting, ...): say it again later
        self._state = (state, reason) if got.get("applied") else None

    async def _wait_ready(self, client: HiveClient) -> None:
        """Return once the driver can run; meanwhile its state tells the operator why not."""
        while True:
            try:
                exit_class, reason = await self.driver.check()
            except Exception as exc:  # a driver bug is a visible state, not a crash loop
                logger.exception("driver check failed")
                exit_class, reason = ExitClass.DRIVER_MISSING, f"driver check failed: {exc}"
            if exit_class is None:
                await self._set_state(client, "running")
                return
            state = "needs_login" if exit_class is ExitClass.NEEDS_LOGIN else "driver_missing"
            await self._set_state(client, state, reason)
            await asyncio.sleep(self.env.check_interval_seconds)

    async def _control_loop(self, client: HiveClient) -> None:
        while True:
            try:
                got = await client.call("harness.control", wait_seconds=CONTROL_WAIT_SECONDS)
            except DaemonUnavailable:
                return
            except HyperhiveError as exc:
                logger.warning("operator control unavailable: %s", exc)
                return
            for command in got.get("commands") or []:
                name = command.get("command") if isinstance(command, dict) else None
                if name == "cancel" and self._in_turn:
                    logger.info("the operator cancelled the turn")
                    self.driver.cancel()
                elif name == "new_session":
                    logger.info("the next turn starts a new session")
                    self._new_session = True
                elif name == "model":
                    self._model = command.get("model") or None
                    logger.info("the next turn uses model %s", self._model or "(from config)")
                elif name == "compact":
                    logger.info("the operator asked to compact the conversation")
                    task = asyncio.create_task(self._compact_now(client))
                    self._side.add(task)
                    task.add_done_callback(self._side.discard)

    async def _compact_now(self, client: HiveClient) -> None:
        """The operator's "compact now", between turns; its events join the last turn."""
        compact = getattr(self.driver, "compact", None)
        async with self._turn_lock:
            events = _EventSender(client, self.turn)
            try:
                if compact is None:
                    await events.put(
                        {"type": "driver", "subtype": "compact", "text": "nothing to compact"}
                    )
                    return
                result = await compact(on_event=events.put)
                text = result.error or "the conversation was compacted"
                subtype = f"compact_{result.exit_class.value}"
                await events.put({"type": "driver", "subtype": subtype, "text": text})
            except Exception:  # a driver bug must not take the control loop down
                logger.exception("compacting failed")
            finally:
                await events.close()

    # -- one turn ------------------------------------------------------------------------

    async def run_turn(
        self, client: HiveClient, message: dict[str, Any], pending: int
    ) -> TurnResult:
        """Run the turn for ``message`` and report it; returns the driver's result."""
        self.turn += 1
        turn = self.turn
        started = time.monotonic()
        new_session, self._new_session = self._new_session, False
        self.apply_model()
        sender = str(message.get("sender", "?"))
        self._received = [sender]
        with contextlib.suppress(Refused):  # over a quota: the turn runs unrecorded
            await client.call(
                "harness.event",
                turn=turn,
                events=[
                    {
                        "type": "turn_start",
                        "message_id": message.get("id"),
                        "sender": sender,
                        "sender_class": sender_class(sender),
                        "body": str(message.get("body", ""))[:BODY_PREVIEW],
                        "pending": pending,
                        "redelivered": bool(message.get("redelivered")),
                        "new_session": new_session,
                    }
                ],
            )
        events = _EventSender(client, turn)
        self._take_seen(count=False)  # anything left from before this turn was not this turn's
        self._in_turn = True
        try:
            async with self._turn_lock:
                result = await self.driver.run_turn(
                    wake_prompt(message, pending), on_event=events.put, new_session=new_session
                )
        except Exception as exc:  # a driver bug fails the turn; the harness keeps serving
            logger.exception("the driver raised")
            result = TurnResult(ExitClass.FAILED, error=f"driver error: {exc!r}")
        finally:
            self._in_turn = False
            await events.close()
        wall_ms = (time.monotonic() - started) * 1000
        exit_class = result.exit_class
        if exit_class.succeeded or exit_class is ExitClass.CANCELLED:
            # ack what the turn saw: its message and what recv handed the model. A
            # cancelled turn was stopped on purpose: running it again would undo that
            seen = [int(message["id"]), *self._take_seen()]
            await client.call("messages.ack", ids=seen)
        else:
            self._take_seen()
        # whatever else is in flight was handed over but never seen: back to the queue
        await client.call("messages.requeue")
        await self._record(client, result, wall_ms)
        await client.call(
            "harness.turn_ended",
            turn=turn,
            exit_class=exit_class.value,
            duration_ms=float(result.duration_ms or wall_ms),
            error=result.error,
            message_id=message.get("id"),
        )
        await self._after(client, result, new_session)
        return result

    def _take_seen(self, *, count: bool = True) -> list[int]:
        """The ids the model took with ``recv`` since the last call (their senders counted
        as received this turn unless ``count`` is false)."""
        seen = [i for tools in self._tools for i in tools.take_seen()]
        senders = [s for tools in self._tools for s in tools.take_senders()]
        if count:
            self._received += senders
        return seen

    def apply_model(self) -> None:
        """Give the driver the operator's model override, or its config's model again."""
        config = getattr(self.driver, "config", None)
        if config is None or not hasattr(config, "model"):
            return
        if self._config_model is None:
            self._config_model = str(config.model)  # what the agent's config chose
        wanted = self._model or self._config_model
        if config.model != wanted:
            self.driver.config = replace(config, model=wanted)  # type: ignore[attr-defined]

    async def _record(self, client: HiveClient, result: TurnResult, wall_ms: float) -> None:
        try:
            me = await client.call("agent.whoami")
            depth = int(me.get("inbox") or 0)
        except HyperhiveError:
            depth = 0
        samples = turn_samples(
            result,
            wall_ms=wall_ms,
            inbox_depth=depth,
            notes_bytes=self.notes.size(),
            received=self._received,
        )
        try:
            await client.call("stats.record", samples=samples)
        except DaemonUnavailable:
            raise
        except HyperhiveError as exc:  # stats are telemetry: the turn counts without them
            if not self._warned_stats:
                logger.warning("turn stats not recorded: %s", exc)
                self._warned_stats = True

    async def _after(self, client: HiveClient, result: TurnResult, new_session: bool) -> None:
        """What the exit class asks for: back off, wait for a login, compact the notes."""
        exit_class = result.exit_class
        if exit_class is ExitClass.RATE_LIMITED:
            wait = result.retry_after_s or self.env.rate_limit_backoff_seconds
            until = time.strftime("%H:%M:%S", time.localtime(time.time() + wait))
            await self._set_state(client, "rate_limited", f"rate limited: retrying at {until}")
            await asyncio.sleep(wait)
            await self._set_state(client, "running")
        elif exit_class in (ExitClass.NEEDS_LOGIN, ExitClass.DRIVER_MISSING):
            state = "needs_login" if exit_class is ExitClass.NEEDS_LOGIN else "driver_missing"
            await self._set_state(client, state, result.error or state.replace("_", " "))
            await asyncio.sleep(self.env.check_interval_seconds)
            await self._wait_ready(client)
        elif exit_class is ExitClass.FAILED:
            self.failures += 1
            # the message comes straight back: without a pause a persistent error spins
            wait = min(
                self.env.failure_backoff_seconds * 2 ** (self.failures - 1), FAILURE_BACKOFF_MAX
            )
            self._new_session = self._new_session or new_session
            if wait > 0:
                await asyncio.sleep(wait)
        else:
            self.failures = 0
            if exit_class.succeeded:
                await self._compact_notes(client)

    async def _compact_notes(self, client: HiveClient) -> None:
        if not self.notes.due():
            return
        events = _EventSender(client, self.turn)
        await events.put({"type": "notes", "subtype": "compact", "text": "compacting notes.md"})
        outcome = await self.notes.compact(on_event=events.put)
        await events.put({"type": "notes", "subtype": outcome.status, "text": outcome.detail})
        await events.close()


async def _close_driver(driver: Driver | None) -> None:
    close = getattr(driver, "close", None)
    if close is None:
        return
    try:
        await close()
    except Exception:  # stopping must finish whatever a driver does
        logger.exception("closing the driver failed")


async def run_harness(env: dict[str, str] | None = None) -> None:
    """``hyperhive agent serve``: load the agent's config, then run its harness until SIGTERM."""
    agent = load_agent_env(env)
    tools: list[Any] = []
    driver, notes_driver = make_driver(agent, tools_out=tools)
    harness = Harness(agent, driver, notes_driver=notes_driver, tools=tools)
    task = asyncio.current_task()
    loop = asyncio.get_running_loop()

    def stop() -> None:
        driver.cancel()
        if task is not None:
            task.cancel()

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop)
    try:
        await harness.run()
    except asyncio.CancelledError:
        logger.info("harness of %s stopped", agent.name)
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
