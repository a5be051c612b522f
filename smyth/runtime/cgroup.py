"""What the container's memory cgroup says: its limit, and how many OOM kills it has seen.

A SIGKILL alone does not tell an out-of-memory kill from ``kill -9``; the kernel's
``oom_kill`` counter of the cgroup does. cgroup v2 keeps it in ``memory.events``, v1 in
``memory.oom_control`` (kernels 4.13 and later). Outside a container, or where neither file
can be read, the functions answer ``None`` and callers fall back to the plain exit error.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

ROOT = Path("/sys/fs/cgroup")


def _counter(path: Path, key: str) -> int | None:
    try:
        fd = os.open(path, os.O_RDONLY)
        try:
            data = os.read(fd, 8192)
        finally:
            os.close(fd)
    except OSError:
        return None
    for line in data.decode("ascii", "replace").splitlines():
        name, _, value = line.partition(" ")
        if name == key and value.strip().isdigit():
            return int(value)
    return None


@functools.cache
def _oom_file(root: Path) -> Path | None:
    """The file that counts OOM kills, found once: v2's ``memory.events``, else v1's."""
    for path in (root / "memory.events", root / "memory" / "memory.oom_control"):
        if _counter(path, "oom_kill") is not None:
            return path
    return None


def oom_kills(root: Path = ROOT) -> int | None:
    """How many processes the OOM killer has ended in this cgroup so far."""
    path = _oom_file(root)
    return None if path is None else _counter(path, "oom_kill")


def oom_killed_since(before: int | None, root: Path = ROOT) -> bool:
    """Whether the OOM killer struck since ``oom_kills()`` answered ``before``."""
    after = oom_kills(root)
    return before is not None and after is not None and after > before


def memory_limit_mb(root: Path = ROOT) -> int | None:
    for path in (root / "memory.max", root / "memory" / "memory.limit_in_bytes"):
        try:
            text = path.read_text().strip()
        except OSError:
            continue
        if text.isdigit() and int(text) < 1 << 50:  # v1 says "no limit" with a huge number
            return int(text) // (1024 * 1024)
        return None
    return None
