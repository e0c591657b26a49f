"""Embedded terminal emulator widget over a PTY byte stream (pyte screen, pluggable transport)."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import logging
import os
import signal
import subprocess
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from functools import lru_cache
from typing import Any, Protocol

import pyte
from pyte.screens import Margins
from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.message import Message
from textual.strip import Strip
from textual.timer import Timer
from textual.widget import Widget

from hyperhive.core.errors import ContainerError, HyperhiveError
from hyperhive.core.pty import set_winsize, take_controlling_tty
from hyperhive.tui.widgets.terminal_keys import key_bytes

logger = logging.getLogger(__name__)

_READ_SIZE = 65536
_FRAME = 1 / 60  # coalesce redraws to at most ~60 per second
_DECCKM = 1 << 5  # pyte shifts private modes by 5: "application cursor keys"
_BRACKETED_PASTE = 2004 << 5
_ALT_SCREENS = frozenset({47 << 5, 1047 << 5, 1049 << 5})  # private modes of the alternate screen


class TerminalTransport(Protocol):
    """The byte pipe a TerminalWidget talks to: a local PTY, or one relayed by the daemon.

    read() returns b"" once the session has ended; close() may be called twice.
    """

    async def read(self) -> bytes: ...

    async def write(self, data: bytes) -> None: ...

    async def resize(self, rows: int, cols: int) -> None: ...

    async def close(self) -> None: ...


class LocalPtyTransport:
    """A child process on a fresh PTY of this host, for local use and tests."""

    def __init__(
        self,
        argv: Sequence[str],
        env: Mapping[str, str] | None = None,
        cwd: str | os.PathLike[str] | None = None,
        *,
        rows: int = 24,
        cols: int = 80,
    ) -> None:
        """Start argv on a new rows x cols PTY, in its own session, with env (default: ours).

        Raises:
            ContainerError: the command could not be started.
        """
        child_env = dict(os.environ if env is None else env)
        child_env.setdefault("TERM", "xterm-256color")
        master, slave = os.openpty()
        set_winsize(slave, rows, cols)
        try:
            self._proc = subprocess.Popen(
                list(argv),
                stdin=slave,
                stdout=slave,
                stderr=slave,
                env=child_env,
                cwd=cwd,
                start_new_session=True,
                preexec_fn=take_controlling_tty,
            )
        except OSError as exc:
            os.close(master)
            raise ContainerError(f"cannot start {argv[0]}: {exc.strerror or exc}") from exc
        finally:
            os.close(slave)
        os.set_blocking(master, False)
        self._fd = master
        self._eof = False
        self._waiters: set[asyncio.Future[None]] = set()

    @property
    def pid(self) -> int:
        """The child's process id (also its session and process group id)."""
        return self._proc.pid

    @property
    def returncode(self) -> int | None:
        """The child's exit status once it has been reaped, else None."""
        return self._proc.returncode

    async def read(self) -> bytes:
        """Return the next chunk of output, or b"" once every holder of the PTY has gone."""
        while self._fd >= 0 and not self._eof:
            try:
                data = os.read(self._fd, _READ_SIZE)
            except BlockingIOError:
                await self._until_ready(asyncio.get_running_loop().add_reader)
                continue
            except OSError:  # EIO: the slave side is closed, the session is over
                data = b""
            self._eof = not data
            return data
        return b""

    async def write(self, data: bytes) -> None:
        """Send data to the child; dropped once the session has ended."""
        view = memoryview(data)
        while view and self._fd >= 0 and not self._eof:
            try:
                view = view[os.write(self._fd, view) :]
            except BlockingIOError:
                await self._until_ready(asyncio.get_running_loop().add_writer)
            except OSError as exc:
                if exc.errno == 5:  # EIO: the child went away; read() reports the end
                    return
                raise ContainerError(f"terminal write failed: {exc.strerror}") from exc

    async def resize(self, rows: int, cols: int) -> None:
        """Set the PTY size; the kernel sends SIGWINCH to the foreground job."""
        if self._fd >= 0:
            set_winsize(self._fd, rows, cols)

    async def close(self) -> None:
        """Hang up the PTY, kill the child's process group and reap the child."""
        if self._fd >= 0:
            loop = asyncio.get_running_loop()
            loop.remove_reader(self._fd)
            loop.remove_writer(self._fd)
            os.close(self._fd)
            self._fd = -1
            for waiter in self._waiters:
                if not waiter.done():
                    waiter.set_result(None)
        if self._proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self._proc.pid, signal.SIGKILL)
            await asyncio.to_thread(self._proc.wait)

    async def _until_ready(self, add: Callable[..., None]) -> None:
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[None] = loop.create_future()
        remove = loop.remove_reader if add == loop.add_reader else loop.remove_writer

        def wake() -> None:
            if not waiter.done():  # the callback can fire again before we resume
                waiter.set_result(None)

        add(self._fd, wake)
        self._waiters.add(waiter)
        try:
            await waiter
        finally:
            self._waiters.discard(waiter)
            if self._fd >= 0:
                remove(self._fd)


class _Screen(pyte.Screen):
    """A pyte screen that keeps scrolled-off lines and answers terminal queries.

    pyte's HistoryScreen wraps every event in Python-level hooks and made
    `seq 20000` five times slower; only `index` needs to know about history.
    """

    def __init__(self, columns: int, lines: int, scrollback: int) -> None:
        self.scrollback: deque[Any] = deque(maxlen=scrollback)
        self.replies: list[str] = []
        # the main screen while a full-screen program has the alternate one
        self.saved_main: tuple[dict[int, Any], Any] | None = None
        super().__init__(columns, lines)

    def set_mode(self, *modes: int, **kwargs: Any) -> None:
        private = bool(kwargs.get("private"))
        if private and self.saved_main is None and {m << 5 for m in modes} & _ALT_SCREENS:
            # a full-screen program starts: keep the main screen, give it a blank one
            self.saved_main = (dict(self.buffer), copy.copy(self.cursor))
            self.buffer.clear()
            self.dirty.update(range(self.lines))
        super().set_mode(*modes, **kwargs)

    def reset_mode(self, *modes: int, **kwargs: Any) -> None:
        private = bool(kwargs.get("private"))
        if private and self.saved_main is not None and {m << 5 for m in modes} & _ALT_SCREENS:
            # it exits: the main screen comes back as it was, its output gone
            buffer, cursor = self.saved_main
            self.saved_main = None
            self.buffer.clear()
            self.buffer.update({y: row for y, row in buffer.items() if y < self.lines})
            self.cursor = cursor
            self.ensure_hbounds()
            self.ensure_vbounds()
            self.dirty.update(range(self.lines))
        super().reset_mode(*modes, **kwargs)

    def index(self) -> None:
        top, bottom = self.margins or Margins(0, self.lines - 1)
        if self.cursor.y == bottom and top == 0 and self.saved_main is None:
            self.scrollback.append(self.buffer[top])  # the alternate screen keeps no history
        super().index()

    def erase_in_display(self, how: int = 0, *args: Any, **kwargs: Any) -> None:
        super().erase_in_display(how, *args, **kwargs)
        if how == 3:  # "clear" also wipes the scrollback
            self.scrollback.clear()

    def write_process_input(self, data: str) -> None:
        self.replies.append(data)

    def resize(self, lines: int | None = None, columns: int | None = None) -> None:
        lines = lines or self.lines
        if lines < self.lines:
            # pyte drops rows from the top even when the cursor sits near the top
            # (erasing the prompt); drop only what the cursor needs and keep it.
            excess = max(0, self.cursor.y + 1 - lines)
            self.scrollback.extend(self.buffer[y] for y in range(excess))
            kept = {y - excess: self.buffer[y] for y in range(excess, excess + lines)}
            self.buffer.clear()
            self.buffer.update(kept)
            self.cursor.y -= excess
            self.dirty.update(range(lines))
            self.lines = lines
            self.margins = None
        super().resize(lines, columns)


_COLOURS = {
    "brown": "yellow",
    "brightbrown": "bright_yellow",
    "bfightmagenta": "bright_magenta",  # sic: pyte's name for SGR 105
    **{f"bright{c}": f"bright_{c}" for c in ("black", "red", "green", "blue", "magenta")},
    **{f"bright{c}": f"bright_{c}" for c in ("cyan", "white")},
}


def _colour(name: str) -> str | None:
    if name == "default":
        return None
    if len(name) == 6 and all(c in "0123456789abcdefABCDEF" for c in name):
        return f"#{name}"  # pyte turns 256-colour and truecolor codes into hex
    return _COLOURS.get(name, name)


@lru_cache(maxsize=4096)
def _style(key: tuple[Any, ...]) -> Style:
    fg, bg, bold, italic, underline, strike, reverse = key
    return Style(
        color=_colour(fg),
        bgcolor=_colour(bg),
        bold=bold or None,
        italic=italic or None,
        underline=underline or None,
        strike=strike or None,
        reverse=reverse or None,
    )


class TerminalWidget(Widget, can_focus=True):
    """A terminal emulator: pyte renders the transport's output, keys go back to it.

    While focused, every key the terminal understands goes to the session (ctrl+c
    included); only the app's priority bindings stay with the app. shift+PgUp /
    shift+PgDn and the mouse wheel scroll through the scrollback. The widget closes
    its transport when it is removed.
    """

    DEFAULT_CSS = """
    TerminalWidget {
        width: 1fr;
        height: 1fr;
    }
    """

    class Closed(Message):
        """The session ended (EOF on the transport, or it failed with `error`)."""

        def __init__(self, terminal: TerminalWidget, error: str | None = None) -> None:
            super().__init__()
            self.terminal = terminal
            self.error = error

        @property
        def control(self) -> TerminalWidget:
            """The terminal whose session ended."""
            return self.terminal

    def __init__(
        self,
        transport: TerminalTransport,
        *,
        scrollback: int = 5000,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.transport = transport
        self._vt = _Screen(80, 24, scrollback)
        self._stream = pyte.ByteStream(self._vt)
        self._scroll = 0  # lines scrolled back into history; 0 follows the output
        self._cache: dict[int, Strip] = {}
        self._cursor_row = 0
        self._flush_timer: Timer | None = None
        self.closed = False

    def on_mount(self) -> None:
        self.run_worker(self._pump(), name="terminal-pump", exit_on_error=False)

    async def on_unmount(self) -> None:
        try:
            await self.transport.close()
        except HyperhiveError as exc:  # the app is tearing this pane down; nobody to tell
            logger.warning("closing the terminal transport failed: %s", exc)

    async def on_resize(self, event: events.Resize) -> None:
        # event.size is the outer size and self.size may lag behind it.
        gutter = self.styles.gutter
        rows, cols = event.size.height - gutter.height, event.size.width - gutter.width
        if rows < 1 or cols < 1 or (rows, cols) == (self._vt.lines, self._vt.columns):
            return
        self._vt.resize(rows, cols)
        self._invalidate(everything=True)
        await self._call(self.transport.resize(rows, cols))

    async def on_key(self, event: events.Key) -> None:
        if event.key in ("shift+pageup", "shift+pagedown"):
            page = max(1, self._vt.lines - 1)
            self.scroll_history(page if event.key == "shift+pageup" else -page)
        else:
            data = key_bytes(event.key, event.character, app_cursor=_DECCKM in self._vt.mode)
            if data is None:
                return  # not a terminal key: let the app's bindings have it
            self.scroll_history(-self._scroll)
            await self._call(self.transport.write(data))
        event.stop()
        event.prevent_default()

    async def on_paste(self, event: events.Paste) -> None:
        event.stop()
        text = event.text.replace("\r\n", "\r").replace("\n", "\r")
        if _BRACKETED_PASTE in self._vt.mode:
            text = f"\x1b[200~{text}\x1b[201~"
        await self._call(self.transport.write(text.encode()))

    def on_mouse_scroll_up(self, event: events.MouseScrollUp) -> None:
        event.stop()
        self.scroll_history(3)

    def on_mouse_scroll_down(self, event: events.MouseScrollDown) -> None:
        event.stop()
        self.scroll_history(-3)

    def scroll_history(self, lines: int) -> None:
        """Scroll back (positive) or forward (negative) through the scrollback."""
        scroll = max(0, min(len(self._vt.scrollback), self._scroll + lines))
        if scroll != self._scroll:
            self._scroll = scroll
            self._invalidate(everything=True)

    def screen_lines(self) -> list[str]:
        """The live screen as text, one string per row, trailing blanks stripped."""
        return [line.rstrip() for line in self._vt.display]

    def render_line(self, y: int) -> Strip:
        vt = self._vt
        if self._scroll:
            index = len(vt.scrollback) - self._scroll + y
            history = len(vt.scrollback)
            row = vt.scrollback[index] if index < history else vt.buffer.get(index - history)
            return self._strip(row, -1)
        strip = self._cache.get(y)
        if strip is None:
            cursor = vt.cursor
            cursor_x = cursor.x if y == cursor.y and not cursor.hidden else -1
            strip = self._cache[y] = self._strip(vt.buffer.get(y), cursor_x)
        return strip

    async def _pump(self) -> None:
        error = None
        try:
            while data := await self.transport.read():
                self._stream.feed(data)
                if replies := self._vt.replies:  # answers to cursor-position queries etc.
                    reply = "".join(replies).encode()
                    replies.clear()
                    await self.transport.write(reply)
                if self._flush_timer is None:
                    self._flush_timer = self.set_timer(_FRAME, self._flush)
                await asyncio.sleep(0)  # a flood must not starve the UI
        except HyperhiveError as exc:
            error = exc.message
        self._flush()
        self.closed = True
        self.post_message(self.Closed(self, error))

    def _flush(self) -> None:
        self._flush_timer = None
        self._invalidate()

    def _invalidate(self, *, everything: bool = False) -> None:
        vt = self._vt
        if everything:
            self._cache.clear()
        for y in (*vt.dirty, self._cursor_row, vt.cursor.y):
            self._cache.pop(y, None)
        vt.dirty.clear()
        self._cursor_row = vt.cursor.y
        self.refresh()

    def _strip(self, row: Any, cursor_x: int) -> Strip:
        base = self.rich_style
        width = self.size.width
        segments: list[Segment] = []
        if row is not None:
            text: list[str] = []
            run: tuple[Any, ...] | None = None
            last = min(self._vt.columns, max(max(row, default=-1), cursor_x) + 1)
            for x in range(last):
                char = row[x]
                if not char.data:
                    continue  # the right half of a wide character
                # pyte's Char is (data, fg, bg, bold, italics, underscore, strike, reverse, ...)
                key = (*char[1:7], char.reverse != (x == cursor_x))
                if key != run:
                    if text and run is not None:
                        segments.append(Segment("".join(text), base + _style(run)))
                    text, run = [], key
                text.append(char.data)
            if text and run is not None:
                segments.append(Segment("".join(text), base + _style(run)))
        return Strip(segments).adjust_cell_length(width, base)

    async def _call(self, operation: Any) -> None:
        try:
            await operation
        except HyperhiveError as exc:
            self.notify(exc.message, title="terminal", severity="error")
