"""safefs: every file in a tree an agent can write is opened as hostile."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from hyperhive.core import safefs
from hyperhive.core.errors import Refused
from hyperhive.core.runtimes.supervisor import rotate_log


@pytest.fixture
def canary(tmp_path: Path) -> Path:
    path = tmp_path / "outside" / "canary"
    path.parent.mkdir()
    path.write_text("untouched")
    return path


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "agent"
    root.mkdir()
    return root


def test_a_link_at_the_file_is_refused_not_followed(tree: Path, canary: Path) -> None:
    (tree / "notes.md").symlink_to(canary)
    with pytest.raises(Refused):
        safefs.read_regular(tree, "notes.md", 1024)
    with pytest.raises(Refused):
        safefs.append_fd(tree, "notes.md")
    assert canary.read_text() == "untouched"


def test_a_link_on_the_way_is_refused_not_followed(tree: Path, canary: Path) -> None:
    (tree / "sub").symlink_to(canary.parent)
    with pytest.raises(Refused):
        safefs.read_regular(tree, "sub/canary", 1024)
    assert not safefs.is_dir(tree, "sub")
    assert not safefs.is_regular(tree, "sub/canary")


def test_a_linked_root_is_refused(tmp_path: Path, canary: Path) -> None:
    (tmp_path / "root").symlink_to(canary.parent)
    with pytest.raises(Refused):
        safefs.read_regular(tmp_path / "root", "canary", 1024)


def test_a_fifo_never_blocks_the_reader(tree: Path) -> None:
    os.mkfifo(tree / "notes.md")
    outcome: list[object] = []

    def read() -> None:
        try:
            outcome.append(safefs.read_regular(tree, "notes.md", 1024))
        except Refused as exc:
            outcome.append(exc)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(5)
    assert not reader.is_alive(), "opening a FIFO blocked"
    assert isinstance(outcome[0], Refused)
    with pytest.raises(Refused):
        safefs.append_fd(tree, "notes.md")  # O_WRONLY on a FIFO without reader: refused too


def test_reads_are_bounded(tree: Path) -> None:
    (tree / "big").write_bytes(b"x" * 10_000)
    assert safefs.read_regular(tree, "big", 100) == b"x" * 100


def test_paths_leaving_the_root_are_refused(tree: Path) -> None:
    for bad in ("../x", "/etc/passwd", "a/../../x"):
        with pytest.raises(Refused):
            safefs.read_regular(tree, bad, 10)


def test_an_atomic_write_replaces_a_planted_link(tree: Path, canary: Path) -> None:
    (tree / "send-allow.json").symlink_to(canary)
    safefs.write_atomic(tree, "send-allow.json", b"[]", 0o444)
    assert canary.read_text() == "untouched"
    assert not (tree / "send-allow.json").is_symlink()
    assert (tree / "send-allow.json").read_bytes() == b"[]"
    assert (tree / "send-allow.json").stat().st_mode & 0o777 == 0o444


def test_remove_deletes_a_link_not_its_target(tree: Path, canary: Path) -> None:
    (tree / "tree").symlink_to(canary.parent, target_is_directory=True)
    safefs.remove(tree, "tree")
    assert canary.read_text() == "untouched"
    (tree / "d").mkdir()
    (tree / "d" / "inner").symlink_to(canary.parent)
    safefs.remove(tree, "d")
    assert not (tree / "d").exists() and canary.read_text() == "untouched"


def test_ensure_dir_refuses_a_link_in_place_of_a_directory(tree: Path, canary: Path) -> None:
    (tree / "etc").symlink_to(canary.parent)
    with pytest.raises(Refused):
        safefs.ensure_dir(tree, "etc/hyperhive")
    assert sorted(p.name for p in canary.parent.iterdir()) == ["canary"]


def test_copy_tree_copies_data_and_refuses_links_and_fifos(tree: Path, canary: Path) -> None:
    (tree / "objects" / "ab").mkdir(parents=True)
    (tree / "objects" / "ab" / "cd").write_bytes(b"blob")
    (tree / "objects" / "info").mkdir()
    (tree / "objects" / "info" / "alternates").write_text(str(canary.parent))
    copied = safefs.copy_tree(
        tree, "objects", tree.parent / "copy", skip=frozenset({"info"}), limit=100
    )
    assert copied == 4
    assert (tree.parent / "copy" / "ab" / "cd").read_bytes() == b"blob"
    assert not (tree.parent / "copy" / "info").exists()

    (tree / "objects" / "ab" / "ln").symlink_to(canary)
    with pytest.raises(Refused):
        safefs.copy_tree(tree, "objects", tree.parent / "copy2", limit=100)
    (tree / "objects" / "ab" / "ln").unlink()
    os.mkfifo(tree / "objects" / "ab" / "ff")
    with pytest.raises(Refused):
        safefs.copy_tree(tree, "objects", tree.parent / "copy3", limit=100)
    (tree / "objects" / "ab" / "ff").unlink()
    with pytest.raises(Refused):
        safefs.copy_tree(tree, "objects", tree.parent / "copy4", limit=3)


def test_log_rotation_never_writes_through_a_planted_link(tree: Path, canary: Path) -> None:
    # the attack: a log past the cap holding a payload, its .1 a link to a host file
    log = tree / "harness.log"
    log.write_bytes(b"* * * * * root payload\n" * 20)
    (tree / "harness.log.1").symlink_to(canary)
    rotate_log(log, cap=100)
    assert canary.read_text() == "untouched"
    assert (tree / "harness.log.1").read_bytes().startswith(b"* * * * * root payload")
    assert log.stat().st_size == 0


def test_a_linked_log_is_neither_rotated_nor_truncated(tree: Path, canary: Path) -> None:
    big = canary.parent / "hive.sqlite"
    big.write_bytes(b"x" * 1000)
    (tree / "harness.log").symlink_to(big)
    rotate_log(tree / "harness.log", cap=100)
    assert big.stat().st_size == 1000
    assert not (tree / "harness.log.1").exists()
