"""The minimal root of an nspawn container, and the unprivileged uid range it runs under."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import pwd
import shutil
from collections.abc import Iterator
from pathlib import Path

from hyperhive.core.errors import ContainerError

UID_RANGE = 0x10000  # uids per container: 0..65535 inside
# Above systemd-nspawn's own --private-users=pick range (0x00080000-0x6FFFFFFF) and below
# systemd's "foreign" range (0x7FFE0000): nothing else hands out uids here.
UID_FIRST = 0x70000000
UID_END = 0x7FFE0000
UID_SLOTS = (UID_END - UID_FIRST) // UID_RANGE

EMPTY_DIRS = ("proc", "sys", "dev", "run", "tmp", "var", "var/tmp", "etc", "usr", "root")
MERGED_USR = {"bin": "usr/bin", "lib": "usr/lib", "lib64": "usr/lib64", "sbin": "usr/sbin"}


def build_root(
    root: Path,
    *,
    hostname: str,
    owner: int | None,
    resolv_conf: Path = Path("/etc/resolv.conf"),
) -> None:
    """Create (or refresh) the minimal root of one container at ``root``.

    Empty mount points, merged-usr links into the host's read-only ``/usr``, and an
    ``/etc`` with passwd, group, hosts, nsswitch.conf and a copy of the host's
    resolv.conf. With ``owner`` (the container's uid base) the whole tree is chowned to
    it so that root inside owns its ``/``.
    """
    root.mkdir(parents=True, exist_ok=True)
    root.chmod(0o755)
    for name in EMPTY_DIRS:
        (root / name).mkdir(exist_ok=True)
    (root / "tmp").chmod(0o1777)
    (root / "var" / "tmp").chmod(0o1777)
    (root / "root").chmod(0o700)
    for link, target in MERGED_USR.items():
        path = root / link
        if path.is_symlink() and os.readlink(path) == target:
            continue
        if path.is_symlink() or path.is_file():
            path.unlink()
        path.symlink_to(target)
    etc = root / "etc"
    files = {
        "passwd": "root:x:0:0:root:/creds:/bin/sh\n"
        "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n",
        "group": "root:x:0:\nnogroup:x:65534:\n",
        "hosts": f"127.0.0.1\tlocalhost\n127.0.1.1\t{hostname}\n::1\tlocalhost ip6-localhost\n",
        "nsswitch.conf": "passwd: files\ngroup: files\nshadow: files\nhosts: files dns\n",
        "hostname": f"{hostname}\n",
    }
    for name, text in files.items():
        (etc / name).write_text(text)
    try:
        shutil.copyfile(resolv_conf, etc / "resolv.conf")
    except OSError:
        (etc / "resolv.conf").write_text("")
    if owner is not None:
        chown_tree(root, owner, owner)


def chown_tree(path: Path, uid: int, gid: int) -> None:
    """Give ``path`` and everything under it to ``uid:gid`` (symlinks themselves, not targets).

    Only entries that differ are touched, so a second call on a big tree is a cheap walk.
    Mount points below ``path`` are not crossed.
    """
    if not path.exists():
        return
    device = path.lstat().st_dev
    for entry in _walk(path, device):
        st = entry.lstat()
        if st.st_uid != uid or st.st_gid != gid:
            os.lchown(entry, uid, gid)


def _walk(path: Path, device: int) -> Iterator[Path]:
    yield path
    if path.is_symlink() or not path.is_dir():
        return
    stack = [path]
    while stack:
        current = stack.pop()
        with os.scandir(current) as it:
            for entry in it:
                child = Path(entry.path)
                yield child
                if (
                    entry.is_dir(follow_symlinks=False)
                    and entry.stat(follow_symlinks=False).st_dev == device
                ):
                    stack.append(child)


# --- uid ranges --------------------------------------------------------------------------


def allocate_uid_base(registry: Path, key: str) -> int:
    """The first host uid of ``key``'s private range, allocated once and kept in ``registry``.

    A JSON file under the state dir (not the database) so the range is known before the
    store opens and survives a rebuilt store. New ranges start at a slot derived from
    the registry's path (two installs on one host start far apart) and skip ranges that
    host users, /etc/subuid entries or running processes already use.
    """
    registry.parent.mkdir(parents=True, exist_ok=True)
    lock = registry.with_name(registry.name + ".lock")
    with open(lock, "a") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        table = _read_registry(registry)
        if key in table:
            return table[key]
        taken = set(table.values())
        busy = _host_uids()
        start = int(hashlib.sha256(str(registry.resolve()).encode()).hexdigest(), 16) % UID_SLOTS
        for i in range(UID_SLOTS):
            base = UID_FIRST + ((start + i) % UID_SLOTS) * UID_RANGE
            if base in taken or any(base <= u < base + UID_RANGE for u in busy):
                continue
            if _overlaps_subids(base):
                continue
            table[key] = base
            tmp = registry.with_name(f".{registry.name}.tmp")
            tmp.write_text(json.dumps(table, indent=2, sort_keys=True))
            os.replace(tmp, registry)
            return base
    raise ContainerError(f"no free uid range left in {registry}")


def _read_registry(registry: Path) -> dict[str, int]:
    try:
        data = json.loads(registry.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise ContainerError(f"cannot read uid ranges from {registry}: {exc}") from exc
    return {str(k): int(v) for k, v in data.items()}


def _host_uids() -> set[int]:
    uids = {p.pw_uid for p in pwd.getpwall() if p.pw_uid >= UID_FIRST}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        with contextlib.suppress(OSError):
            st = os.stat(f"/proc/{entry}")
            if st.st_uid >= UID_FIRST:
                uids.add(st.st_uid)
    return uids


def _overlaps_subids(base: int) -> bool:
    for path in ("/etc/subuid", "/etc/subgid"):
        with contextlib.suppress(OSError):
            for line in Path(path).read_text().splitlines():
                parts = line.strip().split(":")
                if len(parts) == 3 and parts[1].isdigit() and parts[2].isdigit():
                    start, count = int(parts[1]), int(parts[2])
                    if start < base + UID_RANGE and base < start + count:
                        return True
    return False
