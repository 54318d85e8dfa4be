"""Cross-process and cross-thread mutual exclusion on a lock file.

Alias changes check a precondition and then switch Qdrant; both must happen
while no other writer runs, in this process or another. ``flock`` locks are
released by the kernel when their holder dies, so a crashed writer never
leaves the lock held: whoever takes it next can treat any pending change as
abandoned by a dead process.
"""

from __future__ import annotations

import fcntl
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

_thread_locks: dict[str, threading.RLock] = {}
_guard = threading.Lock()
_depth = threading.local()


def _thread_lock(path: str) -> threading.RLock:
    with _guard:
        return _thread_locks.setdefault(path, threading.RLock())


@contextmanager
def exclusive(path: Path) -> Iterator[None]:
    """Hold the lock at ``path`` (re-entrant within a thread)."""
    key = str(path)
    lock = _thread_lock(key)
    with lock:
        depths: dict[str, int] = getattr(_depth, "by_path", None) or {}
        _depth.by_path = depths
        if depths.get(key, 0) > 0:
            depths[key] += 1
            try:
                yield
            finally:
                depths[key] -= 1
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(key, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            depths[key] = 1
            try:
                yield
            finally:
                depths[key] = 0
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)
