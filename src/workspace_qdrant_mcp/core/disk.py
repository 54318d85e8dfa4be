"""Why a store on this disk cannot open, when the cause is the disk and not the store.

SQLite (the registry, and qdrant-client's local mode) reports a read-only file
system as "unable to open database file" and a full disk as "disk I/O error";
taken at their word, both look like damage, and the way out for damage (move
the store away) loses data. Asking the file system first gives the user the
cause they can act on.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

#: Below this much free space, a store that cannot open is blamed on a full disk.
FULL_DISK_BYTES = 1 << 20


def disk_trouble(folder: Path) -> str | None:
    """"its file system is read-only", "its disk is full", or None (the disk looks fine)."""
    with contextlib.suppress(OSError):
        disk = os.statvfs(folder)
        if disk.f_flag & os.ST_RDONLY:
            return "its file system is read-only"
        if disk.f_bavail * disk.f_frsize < FULL_DISK_BYTES:
            return "its disk is full"
    return None


def way_out(trouble: str) -> str:
    """What to do about ``disk_trouble``'s answer (the command changed nothing)."""
    if "read-only" in trouble:
        return "remount it writable, or set WQM_DATA_DIR to another folder"
    return "free some space and retry (nothing was changed)"
