"""Bounded, link-refusing reads of files an agent can write (its harness log, its dirs).

Every path under an agent's directory is hostile: a symlink there may point at the
daemon's secrets, a FIFO there would block a read forever, and a file may be huge. These
helpers open with ``O_NOFOLLOW | O_NONBLOCK``, refuse anything that is not a regular
file, and read at most what they are asked for. (To be folded into ``safefs``.)
"""

from __future__ import annotations

import errno
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from hyperhive.core.errors import Refused

__all__ = ["Chunk", "dir_size", "has_entries", "read_chunk"]

_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


@dataclass(frozen=True)
class Chunk:
    """Bytes ``[start, end)`` of a file whose size was ``size`` when read."""

    data: bytes
    start: int
    end: int
    size: int


def read_chunk(path: Path, *, offset: int | None, limit: int) -> Chunk | None:
    """Read at most ``limit`` bytes of the regular file ``path``, never following a link.

    ``offset`` None reads the last ``limit`` bytes (a tail); an offset past the end
    (the file was truncated by a rotation) reads from the start again.
    Returns None when the file does not exist.

    Raises:
        Refused: ``path`` is a symlink or not a regular file.
    """
    try:
        fd = os.open(path, _FLAGS)
    except FileNotFoundError:
        return None
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.EMLINK):
            raise Refused(f"{path.name} is a symbolic link; refusing to follow it") from exc
        raise Refused(f"cannot open {path.name}: {exc.strerror}") from exc
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise Refused(f"{path.name} is not a regular file")
        size = st.st_size
        if offset is None:
            start = max(0, size - limit)
        else:
            start = 0 if offset > size else max(0, offset)
        want = max(0, min(limit, size - start))
        data = os.pread(fd, want, start) if want else b""
        return Chunk(data, start, start + len(data), size)
    finally:
        os.close(fd)


_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
MAX_DEPTH = 64


def dir_size(path: Path, *, max_entries: int = 200_000) -> int:
    """Bytes of the regular files under ``path``, at most ``max_entries`` entries deep into it.

    Every directory is opened relative to its parent's descriptor with ``O_NOFOLLOW``, so
    a directory swapped for a link while it is walked is skipped, never followed.
    """
    try:
        root = os.open(path, _DIR_FLAGS)
    except OSError:
        return 0
    budget = [max_entries]
    return _walk(root, budget, 0)


def _walk(fd: int, budget: list[int], depth: int) -> int:
    """Sum the regular files under the directory ``fd`` (closed here)."""
    total = 0
    try:
        with os.scandir(fd) as entries:
            for entry in entries:
                budget[0] -= 1
                if budget[0] < 0:
                    break
                try:
                    st = entry.stat(follow_symlinks=False)
                except OSError:
                    continue
                if stat.S_ISREG(st.st_mode):
                    total += st.st_size
                elif stat.S_ISDIR(st.st_mode) and depth < MAX_DEPTH:
                    try:
                        child = os.open(entry.name, _DIR_FLAGS, dir_fd=fd)
                    except OSError:
                        continue
                    total += _walk(child, budget, depth + 1)
    except OSError:
        pass
    finally:
        os.close(fd)
    return total


def has_entries(path: Path) -> bool:
    """Whether ``path`` is a real directory (not a link) holding anything."""
    try:
        if not stat.S_ISDIR(os.lstat(path).st_mode):
            return False
        with os.scandir(path) as entries:
            return any(True for _ in entries)
    except OSError:
        return False
