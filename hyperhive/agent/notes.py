"""Notes compaction: a short side session rewrites ``/state/notes.md`` once it grows too big.

The side session writes its rewrite to ``notes.md.new``; only a sane result (non-empty,
smaller than the original) replaces ``notes.md``, atomically, after the original was
copied to ``notes.md.bak``. If anything goes wrong the original stays (and is restored
from the backup if the session touched it), so the notes are never lost.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from hyperhive.agent.drivers.base import Driver, OnEvent
from hyperhive.core import safefs
from hyperhive.core.errors import Refused

logger = logging.getLogger(__name__)

PROMPT = """\
[hyperhive] Notes compaction. Your durable notes file {notes} has grown to {size} bytes;
the limit is {limit} bytes. Read it and write a condensed rewrite to {new} (and ONLY
there: do not edit {notes} itself). Keep every fact that is still true and useful: open
tasks, decisions and their reasons, names, paths, commands that worked, what the operator
asked for. Drop finished work, duplicates and chatter. Aim for well under {target} bytes,
in the same markdown style. Do not send messages; end the turn when the file is written.
"""


@dataclass(frozen=True)
class Outcome:
    """What one compaction did: ``status`` is compacted, skipped or failed."""

    status: str
    detail: str = ""
    before: int = 0
    after: int = 0


NOTES_READ_MAX = 16 * 1024 * 1024  # what one compaction reads of the notes, at most


def _write_atomic(path: Path, data: bytes) -> None:
    """Replace ``path``; a link the agent planted there is replaced, not written through."""
    safefs.write_atomic(path.parent, path.name, data, 0o644, parents=False)


def _read(path: Path) -> bytes:
    """The file as data: never through a link, never a FIFO, at most `NOTES_READ_MAX`.

    Raises:
        FileNotFoundError: there is no such file.
        Refused: a link or a special file.
    """
    return safefs.read_regular(path.parent, path.name, NOTES_READ_MAX)


class NotesCompactor:
    """Decides when the notes are due and runs the rewrite through a side driver session."""

    def __init__(self, path: Path, driver: Driver | None, threshold: int) -> None:
        self.path = path
        self.driver = driver
        self.threshold = threshold
        self._failed_at: int | None = None

    @property
    def backup(self) -> Path:
        return self.path.with_name(self.path.name + ".bak")

    @property
    def staged(self) -> Path:
        return self.path.with_name(self.path.name + ".new")

    def size(self) -> int:
        """The size of the notes in bytes (0 when there are none)."""
        try:
            return safefs.size_of(self.path.parent, self.path.name)
        except OSError:
            return 0

    def due(self) -> bool:
        """Past the threshold, and grown since the last failed attempt (no retry loop)."""
        if self.driver is None or self.threshold <= 0:
            return False
        size = self.size()
        if size <= self.threshold:
            return False
        return self._failed_at is None or size > self._failed_at

    async def compact(self, *, on_event: OnEvent | None = None) -> Outcome:
        """Rewrite the notes through the side session; never loses the file."""
        if self.driver is None:
            return Outcome("skipped", "no driver for notes compaction")
        try:
            original = _read(self.path)
        except FileNotFoundError:
            return Outcome("skipped", "no notes")
        except Refused as exc:
            return Outcome("skipped", f"the notes are not a plain file: {exc}")
        if len(original) <= self.threshold:
            return Outcome("skipped", "under the threshold", len(original), len(original))
        _write_atomic(self.backup, original)
        safefs.remove(self.staged.parent, self.staged.name)
        prompt = PROMPT.format(
            notes=self.path,
            new=self.staged,
            size=len(original),
            limit=self.threshold,
            target=self.threshold // 2,
        )

        async def ignore(event: dict[str, object]) -> None:
            return None

        error = ""
        try:
            result = await self.driver.run_turn(
                prompt, on_event=on_event or ignore, new_session=True
            )
            if not result.exit_class.succeeded:
                error = f"the rewrite session ended {result.exit_class.value}: {result.error}"
        except Exception as exc:  # the side session must never take the harness down
            logger.exception("notes compaction session failed")
            error = f"the rewrite session raised {exc!r}"
        outcome = self._settle(original, error)
        if outcome.status == "failed":
            self._failed_at = outcome.before
            logger.warning("notes compaction failed: %s", outcome.detail)
        else:
            self._failed_at = None
        return outcome

    def _settle(self, original: bytes, error: str) -> Outcome:
        before = len(original)
        try:
            rewrite = _read(self.staged)
        except (FileNotFoundError, Refused):
            rewrite = b""
        if not error:
            if not rewrite.strip():
                error = f"the rewrite session wrote nothing to {self.staged.name}"
            elif len(rewrite) >= before:
                error = f"the rewrite ({len(rewrite)} bytes) is not smaller than the notes"
        safefs.remove(self.staged.parent, self.staged.name)
        if error:
            # the session was told not to touch the notes; if it did, put them back
            try:
                current: bytes | None = _read(self.path)
            except (FileNotFoundError, Refused):
                current = None
            if current != original:
                _write_atomic(self.path, original)
            return Outcome("failed", error, before, before)
        _write_atomic(self.path, rewrite)
        return Outcome("compacted", f"{before} → {len(rewrite)} bytes", before, len(rewrite))
