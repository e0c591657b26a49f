"""The one sqlite connection: migrations, group commit, and the typed query modules.

All SQL of hyperhive lives in this package: ``store/<concept>.py`` holds plain functions
taking a `sqlite3.Connection` and returning frozen dataclasses. They run on aiosqlite's
worker thread through `Store.read` and `Store.write`.

Reads run on aiosqlite's worker thread, so a large query never stalls the daemon.
Writes take the other road: the daemon is the only writer, and a small insert+commit
costs ~20 µs while a hop to the worker thread and back costs ~200 µs, so writes run
on a second, writer-only connection in the event loop's own thread. `Store.write` is a
*group commit*: writes submitted while the loop is busy are queued and run together in
one transaction, each in its own savepoint, and every caller is answered after the
commit that made its write durable. WAL checkpoints (the one slow part of a commit)
are taken off the loop and run on the reader's thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import sqlite3
import stat
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite

from hyperhive.core.errors import HyperhiveError, InvalidInput, StoreError

logger = logging.getLogger(__name__)

T = TypeVar("T")
Op = Callable[..., Any]


def migrations() -> list[tuple[int, str]]:
    """The numbered migration scripts, in order: ``(version, sql)``."""
    found = []
    for entry in resources.files("hyperhive.core.store").joinpath("migrations").iterdir():
        name = entry.name
        if name.endswith(".sql") and name[:4].isdigit():
            found.append((int(name[:4]), entry.read_text()))
    found.sort()
    versions = [v for v, _ in found]
    if versions != list(range(1, len(versions) + 1)):
        raise StoreError(f"migration numbers are not contiguous: {versions}")
    return found


SCHEMA_VERSION = len(migrations())


def _map_error(exc: BaseException) -> HyperhiveError:
    if isinstance(exc, OverflowError):
        # sqlite integers are 64-bit: a bigger one is the caller's input, not a fault
        return InvalidInput(f"a number is out of range for the database: {exc}")
    if not isinstance(exc, sqlite3.Error):
        return StoreError(f"database write failed: {type(exc).__name__}: {exc}")
    text = str(exc)
    if isinstance(exc, sqlite3.OperationalError):
        if "readonly" in text or "read-only" in text:
            return StoreError(f"the database is read-only: {text}")
        if "disk is full" in text or "database or disk is full" in text:
            return StoreError(f"the disk is full: {text}")
    return StoreError(f"database error: {text}")


def _private(path: Path) -> None:
    """Create the database 0600 (sqlite gives -wal and -shm the same mode); fix old ones.

    Raises:
        StoreError: the path is a link or not a regular file.
    """
    flags = os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | flags, 0o600)
        writable = True
    except OSError as exc:
        if exc.errno not in (errno.EROFS, errno.EACCES, errno.EPERM):
            raise StoreError(f"cannot open the database {path.name}: {exc.strerror}") from exc
        try:  # a read-only database still serves reads: sqlite says so on the first write
            fd, writable = os.open(path, os.O_RDONLY | flags), False
        except OSError as again:
            msg = f"cannot open the database {path.name}: {again.strerror}"
            raise StoreError(msg) from again
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise StoreError(f"the database {path.name} is not a regular file")
        if writable:
            os.fchmod(fd, 0o600)
    finally:
        os.close(fd)
    for suffix in ("-wal", "-shm"):
        side = path.with_name(path.name + suffix)
        with contextlib.suppress(OSError):
            if stat.S_ISREG(side.lstat().st_mode):
                os.chmod(side, 0o600)  # the state dir is the daemon's alone


def _migrate(db: sqlite3.Connection, upto: int | None = None) -> int:
    current = db.execute("PRAGMA user_version").fetchone()[0]
    for version, sql in migrations():
        if version <= current or (upto is not None and version > upto):
            continue
        logger.info("migrating database schema to v%d", version)
        db.execute("BEGIN IMMEDIATE")
        try:
            for statement in sql.split(";\n"):
                if statement.strip():
                    db.execute(statement)
            db.execute(f"PRAGMA user_version = {version}")
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        current = version
    return int(current)


def _run_batch(db: sqlite3.Connection, batch: list[tuple[Op, tuple[Any, ...]]]) -> list[Any]:
    """Run every op in one transaction; if one fails, redo them each in a savepoint.

    The common case (nothing fails) costs one BEGIN and one COMMIT for the whole group.
    """
    db.execute("BEGIN IMMEDIATE")
    try:
        results = [fn(db, *args) for fn, args in batch]
        db.execute("COMMIT")
        return results
    except _OP_ERRORS:
        db.execute("ROLLBACK")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise
    results = []
    db.execute("BEGIN IMMEDIATE")
    try:
        for fn, args in batch:
            db.execute("SAVEPOINT op")
            try:
                results.append(fn(db, *args))
                db.execute("RELEASE op")
            except _OP_ERRORS as exc:
                db.execute("ROLLBACK TO op")
                db.execute("RELEASE op")
                results.append(exc)
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise
    return results


_OP_ERRORS = (HyperhiveError, sqlite3.IntegrityError, ValueError, TypeError, OverflowError)


class Store:
    """Owns the database connection. Build with `Store.open`, close with `close`."""

    CHECKPOINT_EVERY = 2000  # rows written between two WAL checkpoints
    LATER_SECONDS = 0.02  # how long a `write_later` may wait for a group to ride with

    def __init__(self, conn: aiosqlite.Connection, writer: sqlite3.Connection, path: Path) -> None:
        self._conn = conn
        self._writer = writer
        self._since_checkpoint = 0
        self._checkpoint: asyncio.Task[None] | None = None
        self.path = path
        self._queue: list[tuple[Op, tuple[Any, ...], asyncio.Future[Any]]] = []
        self._flusher: asyncio.Task[None] | None = None
        self._later: asyncio.TimerHandle | None = None
        self._closed = False

    @classmethod
    async def open(
        cls, path: Path, *, synchronous: str = "NORMAL", migrate_to: int | None = None
    ) -> Store:
        """Open (creating if needed) and migrate the database at ``path``."""
        path.parent.mkdir(parents=True, exist_ok=True)
        _private(path)
        try:
            conn = await aiosqlite.connect(path, isolation_level=None)
        except sqlite3.Error as exc:
            raise _map_error(exc) from exc
        try:
            await conn._execute(cls._setup, conn._conn, synchronous, migrate_to)
            writer = sqlite3.connect(path, isolation_level=None)
            writer.execute("PRAGMA busy_timeout = 5000")
            writer.execute(f"PRAGMA synchronous = {synchronous}")
            writer.execute("PRAGMA wal_autocheckpoint = 0")
        except sqlite3.Error as exc:
            await conn.close()
            raise _map_error(exc) from exc
        except BaseException:
            await conn.close()
            raise
        return cls(conn, writer, path)

    @staticmethod
    def _setup(db: sqlite3.Connection, synchronous: str, migrate_to: int | None) -> None:
        db.execute("PRAGMA busy_timeout = 5000")
        mode = db.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if mode != "wal":
            logger.warning("sqlite journal mode is %s, not wal", mode)
        db.execute(f"PRAGMA synchronous = {synchronous}")
        db.execute("PRAGMA foreign_keys = ON")
        _migrate(db, migrate_to)

    async def close(self) -> None:
        """Finish queued writes, then close the connection."""
        if self._closed:
            return
        self._closed = True
        self._start_flush()  # what waits in the queue is written before the close
        if self._flusher is not None:
            await asyncio.shield(self._flusher)
        if self._checkpoint is not None:
            await asyncio.shield(self._checkpoint)
        self._writer.close()
        await self._conn.close()

    def used_bytes(self) -> int:
        """Bytes of database pages in use (free pages excluded), as the writer sees them.

        Three pragmas on the writer connection in the loop's thread: a few microseconds.
        """
        db = self._writer
        pages = db.execute("PRAGMA page_count").fetchone()[0]
        free = db.execute("PRAGMA freelist_count").fetchone()[0]
        size = db.execute("PRAGMA page_size").fetchone()[0]
        return int((pages - free) * size)

    async def schema_version(self) -> int:
        return int(await self.read(lambda db: db.execute("PRAGMA user_version").fetchone()[0]))

    async def _in_thread(self, fn: Callable[..., T], *args: Any) -> T:
        # One hop onto the connection's worker thread for a whole function.
        # aiosqlite has no public API for this; `_execute` is what all of its methods use.
        db = self._conn._conn
        try:
            result: T = await self._conn._execute(fn, db, *args)
        except (sqlite3.Error, OverflowError) as exc:
            raise _map_error(exc) from exc
        return result

    async def read(self, fn: Callable[..., T], *args: Any) -> T:
        """Run the query function ``fn(db, *args)`` and return its result."""
        if self._closed:
            raise StoreError("the store is closed")
        return await self._in_thread(fn, *args)

    async def write(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(db, *args)`` in the next group commit; return once it is durable."""
        if self._closed:
            raise StoreError("the store is closed")
        fut: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._queue.append((fn, args, fut))
        self._start_flush()
        return await fut

    def write_later(self, fn: Callable[..., Any], *args: Any) -> None:
        """Queue a write whose caller need not wait (e.g. delivery marks); errors are logged.

        It joins the next group commit, or one of its own within `LATER_SECONDS` if no
        other write comes: under load it rides along instead of adding a commit. Writes
        still commit in the order they were queued.
        """
        if self._closed:
            return
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[Any] = loop.create_future()
        fut.add_done_callback(_log_failure)
        self._queue.append((fn, args, fut))
        if self._later is None and (self._flusher is None or self._flusher.done()):
            self._later = loop.call_later(self.LATER_SECONDS, self._start_flush)

    def _start_flush(self) -> None:
        if self._later is not None:
            self._later.cancel()
            self._later = None
        if self._queue and (self._flusher is None or self._flusher.done()):
            self._flusher = asyncio.create_task(self._flush())

    async def _flush(self) -> None:
        while self._queue:
            batch, self._queue = self._queue, []
            self._commit(batch)
            # let requests that arrived meanwhile join the next group
            await asyncio.sleep(0)

    def _commit(self, batch: list[tuple[Op, tuple[Any, ...], asyncio.Future[Any]]]) -> None:
        """Run one group in one transaction and answer every caller of it."""
        ops = [(fn, args) for fn, args, _ in batch]
        before = self._writer.total_changes
        try:
            results = _run_batch(self._writer, ops)
        except Exception as exc:
            # whatever went wrong, every caller of this group gets an answer: an
            # unanswered future would hang its request (and the daemon's shutdown)
            if not isinstance(exc, sqlite3.Error):
                logger.exception("group commit failed")
            err = _map_error(exc)
            for _, _, fut in batch:
                if not fut.done():
                    fut.set_exception(err)
            return
        for (_, _, fut), result in zip(batch, results, strict=True):
            if fut.done():
                continue
            if isinstance(result, OverflowError):
                fut.set_exception(_map_error(result))
            elif isinstance(result, BaseException):
                fut.set_exception(result)
            else:
                fut.set_result(result)
        self._since_checkpoint += self._writer.total_changes - before
        if self._since_checkpoint >= self.CHECKPOINT_EVERY and (
            self._checkpoint is None or self._checkpoint.done()
        ):
            self._since_checkpoint = 0
            self._checkpoint = asyncio.create_task(self._run_checkpoint())

    async def _run_checkpoint(self) -> None:
        try:
            await self._in_thread(lambda db: db.execute("PRAGMA wal_checkpoint(PASSIVE)"))
        except StoreError as exc:
            logger.warning("WAL checkpoint failed: %s", exc)


def _log_failure(fut: asyncio.Future[Any]) -> None:
    if not fut.cancelled() and fut.exception() is not None:
        logger.error("background write failed: %s", fut.exception())
