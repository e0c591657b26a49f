"""Files inside trees an agent can write, handled as hostile: no links, no FIFOs, bounded.

Everything the daemon (or the harness) opens under a directory an agent can write goes
through here. A path is given as a trusted ``root`` (a directory whose parents no agent
can change) and a relative path below it; the walk opens one component at a time with
``O_NOFOLLOW`` relative to the previous directory's fd, so a symlink anywhere below
``root`` (or at ``root`` itself) is refused instead of followed. Files are opened with
``O_NONBLOCK`` (a FIFO cannot block the opener) and checked with ``fstat`` to be regular
files before a byte is read or written. Renames and unlinks happen relative to a
directory fd: ``rename`` replaces a planted link instead of writing through it.

Errors are `Refused` with the relative path only, never the host root.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from hyperhive.core.errors import Refused

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE_FLAGS = os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_CHUNK = 1024 * 1024


def _parts(rel: str | os.PathLike[str]) -> list[str]:
    """The components of a relative path, refusing absolute paths and ``..``."""
    text = os.fspath(rel)
    if text.startswith("/"):
        raise Refused(f"refused {text!r}: not a relative path")
    parts = [p for p in PurePosixPath(text).parts if p not in ("", ".")]
    if any(p == ".." or "\0" in p for p in parts):
        raise Refused(f"refused {text!r}: the path leaves its directory")
    return parts


def _refuse(rel: str | os.PathLike[str], exc: OSError) -> Refused:
    import errno

    if exc.errno in (errno.ELOOP, errno.ENOTDIR, errno.EMLINK):
        return Refused(f"refused {os.fspath(rel)!r}: a link or not a directory on the way")
    return Refused(f"cannot open {os.fspath(rel)!r}: {exc.strerror}")


def open_root(root: Path) -> int:
    """An fd of the directory ``root``; refused if ``root`` itself is a link."""
    try:
        return os.open(root, _DIR_FLAGS)
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise _refuse(root.name, exc) from exc


def _walk(root: Path, parts: list[str], *, create: bool, mode: int) -> int:
    """An fd of ``root/parts...`` (every component a real directory, made if ``create``)."""
    fd = open_root(root)
    try:
        for i, part in enumerate(parts):
            if create:
                with contextlib.suppress(FileExistsError):
                    os.mkdir(part, mode, dir_fd=fd)
            try:
                nxt = os.open(part, _DIR_FLAGS, dir_fd=fd)
            except FileNotFoundError:
                raise
            except OSError as exc:
                raise _refuse("/".join(parts[: i + 1]), exc) from exc
            os.close(fd)
            fd = nxt
        return fd
    except BaseException:
        os.close(fd)
        raise


def open_dir(root: Path, rel: str | os.PathLike[str] = "", *, create: bool = False) -> int:
    """An fd of the directory ``root/rel`` reached without following any link.

    With ``create``, missing directories are made (mode 0o755). The caller closes the fd.

    Raises:
        FileNotFoundError: a component is missing (and not ``create``).
        Refused: a component is a link or not a directory.
    """
    return _walk(root, _parts(rel), create=create, mode=0o755)


def ensure_dir(root: Path, rel: str | os.PathLike[str] = "", *, mode: int = 0o755) -> None:
    """Make ``root/rel`` a real directory (parents too); refuse a link on the way."""
    os.close(_walk(root, _parts(rel), create=True, mode=mode))


@contextlib.contextmanager
def parent_of(
    root: Path, rel: str | os.PathLike[str], *, create: bool = False
) -> Iterator[tuple[int, str]]:
    """``(fd of the parent dir, last name)`` of ``root/rel``; the fd is closed on exit."""
    parts = _parts(rel)
    if not parts:
        raise Refused("refused an empty path")
    fd = _walk(root, parts[:-1], create=create, mode=0o755)
    try:
        yield fd, parts[-1]
    finally:
        os.close(fd)


def open_beneath(
    root: Path, rel: str | os.PathLike[str], flags: int = os.O_RDONLY, mode: int = 0o600
) -> int:
    """An fd of the regular file ``root/rel``, opened without following links or blocking.

    ``flags`` are ``os.open`` flags (``O_WRONLY | O_APPEND | O_CREAT`` for a log); the
    parents must exist. The caller closes the fd.

    Raises:
        FileNotFoundError: the file (or a parent) does not exist.
        Refused: a link, a FIFO, a device, a socket or a directory.
    """
    with parent_of(root, rel) as (dfd, name):
        try:
            fd = os.open(name, flags | _FILE_FLAGS, mode, dir_fd=dfd)
        except FileNotFoundError:
            raise
        except OSError as exc:
            raise _refuse(rel, exc) from exc
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise Refused(f"refused {os.fspath(rel)!r}: not a regular file")
        # O_NONBLOCK only mattered for the open: plain blocking I/O from here on
        os.set_blocking(fd, True)
        return fd
    except BaseException:
        os.close(fd)
        raise


def read_regular(root: Path, rel: str | os.PathLike[str], limit: int) -> bytes:
    """At most ``limit`` bytes of the regular file ``root/rel`` (see `open_beneath`)."""
    fd = open_beneath(root, rel)
    try:
        return _read_fd(fd, limit)
    finally:
        os.close(fd)


def _read_fd(fd: int, limit: int) -> bytes:
    chunks: list[bytes] = []
    left = limit
    while left > 0:
        chunk = os.read(fd, min(left, _CHUNK))
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def size_of(root: Path, rel: str | os.PathLike[str]) -> int:
    """The size of the regular file ``root/rel``; 0 if it is missing or not regular."""
    try:
        fd = open_beneath(root, rel)
    except (FileNotFoundError, Refused):
        return 0
    try:
        return os.fstat(fd).st_size
    finally:
        os.close(fd)


def is_dir(root: Path, rel: str | os.PathLike[str] = "") -> bool:
    """Whether ``root/rel`` is a real directory reached without any link."""
    try:
        os.close(open_dir(root, rel))
    except (FileNotFoundError, Refused):
        return False
    return True


def is_regular(root: Path, rel: str | os.PathLike[str]) -> bool:
    """Whether ``root/rel`` is a regular file reached without any link."""
    try:
        with parent_of(root, rel) as (dfd, name):
            st = os.stat(name, dir_fd=dfd, follow_symlinks=False)
    except (FileNotFoundError, NotADirectoryError, Refused):
        return False
    return stat.S_ISREG(st.st_mode)


def write_atomic(
    root: Path, rel: str | os.PathLike[str], data: bytes, mode: int = 0o644, *, parents: bool = True
) -> None:
    """Replace ``root/rel`` with ``data`` atomically; a link planted there is replaced."""
    with parent_of(root, rel, create=parents) as (dfd, name):
        tmp = f".{name}.hyperhive-tmp"
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp, dir_fd=dfd)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _FILE_FLAGS, 0o600, dir_fd=dfd)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
                out.flush()
                os.fchmod(out.fileno(), mode)
            os.rename(tmp, name, src_dir_fd=dfd, dst_dir_fd=dfd)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp, dir_fd=dfd)
            raise


def remove(root: Path, rel: str | os.PathLike[str]) -> None:
    """Remove ``root/rel`` (a file, a link or a whole tree) without following any link."""
    try:
        with parent_of(root, rel) as (dfd, name):
            try:
                st = os.stat(name, dir_fd=dfd, follow_symlinks=False)
            except FileNotFoundError:
                return
            if stat.S_ISDIR(st.st_mode):
                shutil.rmtree(name, dir_fd=dfd)  # the fd-based walk: never follows a link
            else:
                os.unlink(name, dir_fd=dfd)
    except FileNotFoundError:
        return


def append_fd(root: Path, rel: str | os.PathLike[str]) -> int:
    """An ``O_APPEND`` fd of the log ``root/rel`` (created 0600) for a child's stdout."""
    return open_beneath(root, rel, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)


def rotate_log(root: Path, rel: str | os.PathLike[str], cap: int) -> bool:
    """Copy ``root/rel`` to ``<rel>.1`` and truncate it once it passes ``cap`` bytes.

    Copy-and-truncate (the writer keeps its ``O_APPEND`` fd). The copy is written to a
    fresh file and renamed over ``<rel>.1``, so a link planted there is replaced, never
    written through; at most ``2 * cap`` bytes are copied. Returns whether it rotated.
    """
    try:
        fd = open_beneath(root, rel, os.O_RDWR)
    except FileNotFoundError:
        return False
    try:
        if os.fstat(fd).st_size <= cap:
            return False
        data = _read_fd(fd, 2 * cap)
        write_atomic(root, f"{os.fspath(rel)}.1", data, 0o600, parents=False)
        os.ftruncate(fd, 0)
        return True
    finally:
        os.close(fd)


def copy_tree(
    root: Path,
    rel: str | os.PathLike[str],
    dest: Path,
    *,
    skip: frozenset[str] = frozenset(),
    limit: int,
) -> int:
    """Copy the directory ``root/rel`` into the new directory ``dest``: data only.

    Only real directories and regular files are copied, at most ``limit`` bytes in all;
    ``skip`` names relative paths (``a/b``) left out. Any link, FIFO, device or socket
    is refused. Returns the bytes copied.

    Raises:
        FileNotFoundError: ``root/rel`` does not exist.
        Refused: a link or special file, or more than ``limit`` bytes.
    """
    total = 0
    dest.mkdir(mode=0o700)

    def copy(dfd: int, here: str, out: Path) -> None:
        nonlocal total
        for entry in sorted(os.listdir(dfd)):
            path = f"{here}/{entry}" if here else entry
            if path in skip:
                continue
            st = os.stat(entry, dir_fd=dfd, follow_symlinks=False)
            if stat.S_ISDIR(st.st_mode):
                sub = os.open(entry, _DIR_FLAGS, dir_fd=dfd)
                try:
                    (out / entry).mkdir(mode=0o700)
                    copy(sub, path, out / entry)
                finally:
                    os.close(sub)
            elif stat.S_ISREG(st.st_mode):
                fd = os.open(entry, os.O_RDONLY | _FILE_FLAGS, dir_fd=dfd)
                try:
                    if not stat.S_ISREG(os.fstat(fd).st_mode):
                        raise Refused(f"refused {path!r}: not a regular file")
                    os.set_blocking(fd, True)
                    data = _read_fd(fd, limit - total + 1)
                finally:
                    os.close(fd)
                total += len(data)
                if total > limit:
                    raise Refused(f"refused {os.fspath(rel)!r}: more than {limit} bytes")
                (out / entry).write_bytes(data)
            else:
                raise Refused(f"refused {path!r}: a link or a special file")

    top = open_dir(root, rel)
    try:
        copy(top, "", dest)
    except OSError as exc:
        raise _refuse(rel, exc) from exc
    finally:
        os.close(top)
    return total


# --- reads by a path whose parents no agent can change (logs, kept dirs) -----------------


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
        fd = os.open(path, os.O_RDONLY | _FILE_FLAGS)
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
    return _sum_regular(root, budget, 0)


def _sum_regular(fd: int, budget: list[int], depth: int) -> int:
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
                    total += _sum_regular(child, budget, depth + 1)
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
