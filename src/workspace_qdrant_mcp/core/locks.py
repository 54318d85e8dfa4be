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

from .errors import ConfigError

_thread_locks: dict[str, threading.RLock] = {}
_guard = threading.Lock()
_depth = threading.local()


def _thread_lock(path: str) -> threading.RLock:
    with _guard:
        return _thread_locks.setdefault(path, threading.RLock())


def _open_lock_file(path: Path) -> int:
    """Open (create) the lock file, or say in one sentence what is in the way."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    except IsADirectoryError:
        raise ConfigError(
            f"{path} is a folder where wqm keeps a lock file; move it away and retry."
        ) from None
    except OSError as exc:
        raise ConfigError(
            f"Cannot open the lock file {path} ({exc.strerror or type(exc).__name__}); make "
            "the data directory writable, or set WQM_DATA_DIR to another folder."
        ) from None


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
        fd = _open_lock_file(path)
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
