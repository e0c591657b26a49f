"""Notes compaction through a fake side session: it never loses the notes."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from hyperhive.agent.drivers.base import ExitClass, OnEvent, TurnResult
from hyperhive.agent.notes import NotesCompactor

NOTES = "# notes\n" + "".join(f"- fact {i}: something worth keeping\n" for i in range(100))


class FakeSession:
    """A side session that does ``act(notes_path, staged_path)`` and ends with ``exit_class``."""

    def __init__(
        self, act: Callable[[Path, Path], None], exit_class: ExitClass = ExitClass.OK
    ) -> None:
        self.act = act
        self.exit_class = exit_class
        self.prompts: list[str] = []
        self.new_sessions: list[bool] = []

    async def check(self) -> tuple[ExitClass | None, str]:
        return None, "fake"

    async def run_turn(
        self, prompt: str, *, on_event: OnEvent, new_session: bool = False
    ) -> TurnResult:
        self.prompts.append(prompt)
        self.new_sessions.append(new_session)
        notes = tmp_notes(prompt)
        self.act(notes, notes.with_name("notes.md.new"))
        return TurnResult(self.exit_class, error="" if self.exit_class.succeeded else "broke")

    def cancel(self) -> None:
        pass


def tmp_notes(prompt: str) -> Path:
    return Path(prompt.split("notes file ", 1)[1].split(" ", 1)[0])


def setup(tmp_path: Path, act: Callable[[Path, Path], None], **kw: ExitClass) -> NotesCompactor:
    notes = tmp_path / "notes.md"
    notes.write_text(NOTES)
    return NotesCompactor(notes, FakeSession(act, **kw), threshold=1000)


async def test_notes_past_the_threshold_are_rewritten_with_a_backup(tmp_path: Path) -> None:
    compactor = setup(tmp_path, lambda notes, new: new.write_text("# notes\n- the gist\n"))
    assert compactor.due()
    outcome = await compactor.compact()
    assert outcome.status == "compacted" and outcome.after < outcome.before
    assert (tmp_path / "notes.md").read_text() == "# notes\n- the gist\n"
    assert (tmp_path / "notes.md.bak").read_text() == NOTES
    assert not (tmp_path / "notes.md.new").exists()
    assert not compactor.due()
    session = compactor.driver
    assert isinstance(session, FakeSession) and session.new_sessions == [True]
    assert "notes.md.new" in session.prompts[0] and "do not edit" in session.prompts[0]


async def test_a_failed_session_keeps_the_notes_and_is_not_retried_until_they_grow(
    tmp_path: Path,
) -> None:
    compactor = setup(tmp_path, lambda notes, new: None, exit_class=ExitClass.FAILED)
    outcome = await compactor.compact()
    assert outcome.status == "failed" and "failed" in outcome.detail
    assert (tmp_path / "notes.md").read_text() == NOTES
    assert not compactor.due()
    with open(tmp_path / "notes.md", "a") as f:
        f.write("- one more fact\n")
    assert compactor.due()


async def test_a_session_that_clobbers_the_notes_is_undone(tmp_path: Path) -> None:
    def clobber(notes: Path, new: Path) -> None:
        notes.write_text("oops")

    compactor = setup(tmp_path, clobber)
    outcome = await compactor.compact()
    assert outcome.status == "failed" and "wrote nothing" in outcome.detail
    assert (tmp_path / "notes.md").read_text() == NOTES


async def test_a_rewrite_that_is_not_smaller_is_refused(tmp_path: Path) -> None:
    compactor = setup(tmp_path, lambda notes, new: new.write_text(NOTES + "more"))
    outcome = await compactor.compact()
    assert outcome.status == "failed" and "not smaller" in outcome.detail
    assert (tmp_path / "notes.md").read_text() == NOTES
    assert not (tmp_path / "notes.md.new").exists()


async def test_small_or_missing_notes_are_left_alone(tmp_path: Path) -> None:
    compactor = NotesCompactor(tmp_path / "notes.md", None, threshold=1000)
    assert not compactor.due() and compactor.size() == 0
    compactor = setup(tmp_path, lambda notes, new: None)
    compactor.threshold = 10**6
    assert not compactor.due()
    assert (await compactor.compact()).status == "skipped"
