"""safefs reads by a trusted path: log chunks, kept-dir sizes, links and FIFOs refused."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from hyperhive.core.errors import Refused
from hyperhive.core.safefs import dir_size, has_entries, read_chunk


def test_a_tail_reads_only_the_last_bytes(tmp_path: Path) -> None:
    log = tmp_path / "log"
    log.write_bytes(b"a" * 1000 + b"tail")
    chunk = read_chunk(log, offset=None, limit=4)
    assert chunk is not None
    assert (chunk.data, chunk.start, chunk.end, chunk.size) == (b"tail", 1000, 1004, 1004)


def test_an_offset_past_the_end_reads_a_truncated_file_from_its_start(tmp_path: Path) -> None:
    log = tmp_path / "log"
    log.write_bytes(b"new")
    chunk = read_chunk(log, offset=500, limit=100)
    assert chunk is not None and chunk.data == b"new"


def test_a_symlink_is_refused_and_a_missing_file_is_none(tmp_path: Path) -> None:
    (tmp_path / "secret").write_text("x")
    os.symlink(tmp_path / "secret", tmp_path / "log")
    with pytest.raises(Refused, match="symbolic link"):
        read_chunk(tmp_path / "log", offset=None, limit=10)
    assert read_chunk(tmp_path / "absent", offset=None, limit=10) is None


def test_a_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "log")
    with pytest.raises(Refused, match="not a regular file"):
        read_chunk(tmp_path / "log", offset=None, limit=10)


def test_dir_size_counts_regular_files_and_never_follows_links(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "f").write_bytes(b"x" * 100)
    (tmp_path / "g").write_bytes(b"y" * 10)
    big = tmp_path.parent / f"{tmp_path.name}-big"
    big.mkdir()
    (big / "huge").write_bytes(b"z" * 100_000)
    os.symlink(big, tmp_path / "dirlink")
    os.symlink(big / "huge", tmp_path / "filelink")
    assert dir_size(tmp_path) == 110
    assert dir_size(tmp_path / "dirlink") == 0  # the root itself a link: nothing
    assert dir_size(tmp_path, max_entries=1) <= 110


def test_has_entries_is_false_for_a_link_or_an_empty_dir(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "token").write_text("t")
    os.symlink(tmp_path / "full", tmp_path / "link")
    assert has_entries(tmp_path / "full")
    assert not has_entries(tmp_path / "empty")
    assert not has_entries(tmp_path / "link")
    assert not has_entries(tmp_path / "absent")
