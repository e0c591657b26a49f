"""One snapshot per screen, of a real daemon holding a small, fully deterministic swarm.

`snap_compare` runs the app with its own `asyncio.run`, so the daemon runs on a thread
of its own. Every timestamp is fixed: the seeding runs with `time.time` frozen and the
daemon's clocks pinned, the app's clock is frozen, and times render in UTC.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from textual.pilot import Pilot

from hyperhive.core.client import HiveClient
from hyperhive.core.hive import Hive
from hyperhive.core.models import AgentState
from hyperhive.core.settings import Settings
from hyperhive.tui.app import HiveApp, make_app
from hyperhive.tui.panes.questions import QuestionsPane
from hyperhive.tui.panes.swarm import SwarmPane
from hyperhive.tui.screens.agent import AgentScreen
from hyperhive.tui.screens.approval import ApprovalScreen
from hyperhive.tui.screens.audit import AuditScreen
from hyperhive.tui.screens.help import HelpScreen
from hyperhive.tui.screens.modals import AnswerScreen, ConfirmScreen
from hyperhive.tui.screens.repos import ReposScreen
from hyperhive.tui.screens.stats import StatsScreen
from hyperhive.tui.screens.terminal import TerminalScreen
from hyperhive.tui.widgets.terminal import LocalPtyTransport, TerminalWidget
from tests.tui.conftest import T0

SEED = T0 - 600  # everything happened ten minutes before the frozen "now"


def frozen() -> float:
    return T0


def pin_clocks(hive: Hive) -> None:
    # the daemon's parts take their clocks at construction; pin them for the seeding
    for part in (hive.agents, hive.broker, hive.approvals, hive.audit):
        part._clock = lambda: SEED  # type: ignore[attr-defined]
    hive.questions.clock = lambda: SEED
    hive.stats.clock = lambda: SEED


async def seed(hive: Hive) -> None:
    """A small swarm with something in every pane."""
    pin_clocks(hive)
    for name in ("alpha", "beta", "gamma", "delta", "eps", "zeta"):
        await hive.create_agent(name)
    await hive.agents.update("alpha", state=AgentState.RUNNING, last_turn_at=SEED + 480)
    await hive.agents.update("gamma", state=AgentState.CRASHED, state_reason="exit status 3")
    await hive.agents.update("delta", state=AgentState.RATE_LIMITED, last_turn_at=SEED)
    await hive.agents.update("eps", state=AgentState.RESTARTING)
    await hive.agents.update("zeta", state=AgentState.NEEDS_LOGIN, stale=True)
    await hive.broker.send("alpha", "beta", "please review the parser change in /state/notes.md")
    await hive.broker.send("beta", "alpha", "looks good, one nit about error messages", 1)
    await hive.broker.send("alpha", "operator", "the nightly build is green again")
    await hive.broker.send("manager", "alpha", "[answer to question #3] main")
    alpha = await HiveClient.connect(hive.settings.agent_socket("alpha"))
    await alpha.call(
        "questions.ask",
        question="Which branch should I merge the parser fix into?",
        options=["main", "release-1.2"],
        ttl_seconds=1200,
    )
    await alpha.call(
        "harness.event",
        turn=7,
        events=[
            {"type": "turn_start", "sender": "beta"},
            {"type": "text", "text": "Reading the review comments."},
            {"type": "tool_use", "tool": "Read", "id": "t1", "input": {"path": "parser.py"}},
            {"type": "tool_result", "id": "t1", "is_error": False, "text": "412 lines"},
        ],
    )
    samples = {"turn.duration_ms": 4200.0, "turn.tool_calls": 5.0, "turn.exit.ok": 1.0}
    for i in range(6):
        await alpha.call("stats.record", samples=samples, ts=SEED + 60 * i)
    await alpha.close()
    host = await HiveClient.connect(hive.settings.host_socket)
    await host.call("approvals.request_spawn", name="eta")
    await host.close()
    await hive.stats.sample_swarm()


class ThreadedDaemon:
    """A real Hive served from a thread with its own event loop."""

    def __init__(self, settings: Settings, prepare: Callable[[Hive], Awaitable[None]]) -> None:
        self.settings = settings
        self._prepare = prepare
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._main, name="daemon", daemon=True)

    def _main(self) -> None:
        asyncio.run(self._serve())

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        try:
            async with Hive.open(self.settings) as hive:
                with mock.patch("time.time", lambda: SEED):
                    await self._prepare(hive)
                self._ready.set()
                await self._stop.wait()
        except BaseException as exc:
            self._error = exc
            self._ready.set()

    def __enter__(self) -> ThreadedDaemon:
        self._thread.start()
        if not self._ready.wait(60):
            raise TimeoutError("the daemon did not come up")
        if self._error is not None:
            raise self._error
        return self

    def __exit__(self, *exc: object) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(30)


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ThreadedDaemon]:
    run_dir = Path(tempfile.mkdtemp(prefix="hh-", dir="/tmp"))  # socket paths stay short
    settings = Settings(
        state_dir=tmp_path_factory.mktemp("snap") / "state", run_dir=run_dir, runtime="process"
    )
    try:
        with ThreadedDaemon(settings, seed) as d:
            yield d
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)


@pytest.fixture(autouse=True)
def _utc(utc: None) -> None:
    """Every snapshot renders clock times in UTC."""


def app_on(daemon: ThreadedDaemon, **kwargs: Any) -> HiveApp:
    host = daemon.settings.host_socket
    return make_app(lambda: HiveClient.connect(host), clock=frozen, desktop_notify=False, **kwargs)


async def settle(pilot: Pilot[Any], predicate: Callable[[], object] = lambda: True) -> None:
    app = pilot.app
    assert isinstance(app, HiveApp)
    async with asyncio.timeout(20):
        while not (app.model.connected and app.screen.is_mounted and predicate()):
            await pilot.pause(0.02)
    await pilot.pause()
    app.clear_notifications()  # toasts time out on the wall clock
    await pilot.pause()


async def open_screen(pilot: Pilot[Any], kind: type, ready: Callable[[Any], object]) -> None:
    async with asyncio.timeout(20):
        while not (isinstance(pilot.app.screen, kind) and pilot.app.screen.is_mounted):
            await pilot.pause(0.02)
        while not ready(pilot.app.screen):
            await pilot.pause(0.02)
    await pilot.pause()


SIZES = pytest.mark.parametrize(
    "size", [(80, 24), (120, 40), (200, 50)], ids=["80x24", "120x40", "200x50"]
)


@SIZES
def test_the_dashboard(snap_compare: Any, daemon: ThreadedDaemon, size: tuple[int, int]) -> None:
    assert snap_compare(app_on(daemon), terminal_size=size, run_before=settle)


def test_the_dashboard_of_a_viewer(snap_compare: Any, daemon: ThreadedDaemon) -> None:
    assert snap_compare(app_on(daemon, role="viewer"), terminal_size=(120, 40), run_before=settle)


@SIZES
def test_the_agent_page(snap_compare: Any, daemon: ThreadedDaemon, size: tuple[int, int]) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        pilot.app.ops.open_agent("alpha")  # type: ignore[attr-defined]
        await open_screen(pilot, AgentScreen, lambda s: len(s.query_one("TurnLog").lines) >= 4)

    assert snap_compare(app_on(daemon), terminal_size=size, run_before=run_before)


@SIZES
def test_the_approval_diff(
    snap_compare: Any, daemon: ThreadedDaemon, size: tuple[int, int]
) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        await settle(pilot, lambda: pilot.app.model.approvals)  # type: ignore[attr-defined]
        pilot.app.ops.open_approval(1)  # type: ignore[attr-defined]
        await open_screen(
            pilot,
            ApprovalScreen,
            lambda s: s.query_one("#diff-running").placeholder is None,
        )

    assert snap_compare(app_on(daemon), terminal_size=size, run_before=run_before)


def test_the_answer_dialog(snap_compare: Any, daemon: ThreadedDaemon) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        await settle(pilot, lambda: pilot.app.model.questions)  # type: ignore[attr-defined]
        pilot.app.screen.query_one(QuestionsPane).focus_table()
        await pilot.press("enter")
        await open_screen(pilot, AnswerScreen, lambda s: True)

    assert snap_compare(app_on(daemon), terminal_size=(100, 30), run_before=run_before)


def test_the_confirmation_before_destroy(snap_compare: Any, daemon: ThreadedDaemon) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        pilot.app.screen.query_one(SwarmPane).focus_table()
        await pilot.press("down", "d")
        await open_screen(pilot, ConfirmScreen, lambda s: True)

    assert snap_compare(app_on(daemon), terminal_size=(100, 30), run_before=run_before)


def test_the_repos_screen(snap_compare: Any, daemon: ThreadedDaemon) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        await settle(pilot, lambda: pilot.app.model.approvals)  # type: ignore[attr-defined]
        await pilot.press("2")
        await open_screen(pilot, ReposScreen, lambda s: s.query_one("OptionList").option_count)
        options = pilot.app.screen.query_one("OptionList")
        ids = [options.get_option_at_index(i).id for i in range(options.option_count)]
        options.highlighted = ids.index("eta")
        tree = pilot.app.screen.query_one("Tree")
        async with asyncio.timeout(20):
            while not tree.root.children:
                await pilot.pause(0.02)
        await pilot.pause()

    assert snap_compare(app_on(daemon), terminal_size=(120, 30), run_before=run_before)


@SIZES
def test_the_stats_screen(snap_compare: Any, daemon: ThreadedDaemon, size: tuple[int, int]) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        await pilot.press("3")
        await open_screen(pilot, StatsScreen, lambda s: s.query_one("#chart-agents")._series)

    assert snap_compare(app_on(daemon), terminal_size=size, run_before=run_before)


def test_the_audit_log(snap_compare: Any, daemon: ThreadedDaemon) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        await pilot.press("4")
        await open_screen(pilot, AuditScreen, lambda s: s.query_one("AuditPane").row_keys)

    assert snap_compare(app_on(daemon), terminal_size=(120, 24), run_before=run_before)


def test_the_help_screen(snap_compare: Any, daemon: ThreadedDaemon) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        await pilot.press("question_mark")
        await open_screen(pilot, HelpScreen, lambda s: True)

    assert snap_compare(app_on(daemon), terminal_size=(100, 36), run_before=run_before)


def test_the_terminal_screen(snap_compare: Any, daemon: ThreadedDaemon) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        app = pilot.app
        assert isinstance(app, HiveApp)
        # the daemon's PTY service needs a container; this is the same screen on a local PTY
        transport = LocalPtyTransport(["sh", "-c", "printf 'hello from alpha\\n'; exec sleep 30"])
        app.push_screen(TerminalScreen(app.ctx, "alpha", transport))
        await open_screen(
            pilot,
            TerminalScreen,
            lambda s: "hello from alpha" in s.query_one(TerminalWidget).screen_lines(),
        )

    assert snap_compare(app_on(daemon), terminal_size=(80, 20), run_before=run_before)


def test_seeded_times_are_frozen() -> None:
    assert time.gmtime(T0).tm_year == 2027 and SEED < T0
