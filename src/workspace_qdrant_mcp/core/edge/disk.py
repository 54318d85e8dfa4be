"""Disk use of Edge shards: copies that keep holes, and a floor of free space before writes.

Edge maps its storage files far beyond what it has written (a 200-point shard:
0.2 MB of blocks in 131 MB of file length). A plain copy writes the zeros out,
so every optimised copy would cost the full length on disk; ``copy_tree``
copies only the data ranges. And a write through a map to a disk with no free
block is not an error but a SIGBUS that kills the process: ``ensure_free``
refuses a write before the disk gets that close, with one sentence.
"""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path

from ..errors import StoreError

#: Free space below which no write goes to an Edge shard (its WAL segments are 32 MB maps).
MIN_FREE_BYTES = 64 * 1024 * 1024


def free_bytes(path: Path) -> int:
    """Free bytes on the file system holding ``path``."""
    return shutil.disk_usage(path).free


def ensure_free(path: Path, needed: int = 0) -> None:
    """Refuse (StoreError) when the disk of ``path`` has under ``needed`` + the floor free."""
    free = free_bytes(path)
    if free < needed + MIN_FREE_BYTES:
        raise StoreError(
            f"The disk holding {path} has {free / 1e6:,.0f} MB free, under the "
            f"{(needed + MIN_FREE_BYTES) / 1e6:,.0f} MB wqm keeps free to write safely; "
            "free some space and retry."
        )


def used_bytes(path: Path) -> int:
    """Bytes of disk the files under ``path`` occupy (blocks, not lengths)."""
    return sum(f.stat().st_blocks * 512 for f in path.rglob("*") if f.is_file())


def copy_tree(source: Path, target: Path) -> None:
    """Copy the folder ``source`` to the new folder ``target``, keeping files' holes."""
    target.mkdir(parents=True)
    for entry in source.iterdir():
        if entry.is_dir() and not entry.is_symlink():
            copy_tree(entry, target / entry.name)
        else:
            _copy_file(entry, target / entry.name)
    shutil.copystat(source, target)


def _copy_file(source: Path, target: Path) -> None:
    """Copy one file's data ranges only (SEEK_DATA / SEEK_HOLE); a plain copy where unsupported."""
    with source.open("rb") as src, target.open("wb") as dst:
        size = os.fstat(src.fileno()).st_size
        offset = 0
        try:
            while offset < size:
                try:
                    start = os.lseek(src.fileno(), offset, os.SEEK_DATA)
                except OSError as exc:
                    if exc.errno == errno.ENXIO:  # only a hole is left
                        break
                    raise
                end = os.lseek(src.fileno(), start, os.SEEK_HOLE)
                src.seek(start)
                dst.seek(start)
                remaining = end - start
                while remaining:
                    block = src.read(min(remaining, 1 << 20))
                    if not block:
                        break
                    dst.write(block)
                    remaining -= len(block)
                offset = end
        except OSError as exc:
            if exc.errno not in (errno.EINVAL, errno.EOPNOTSUPP):
                raise
            src.seek(0)
            dst.seek(0)
            shutil.copyfileobj(src, dst)
        dst.truncate(size)
    shutil.copystat(source, target)


__all__ = ["MIN_FREE_BYTES", "copy_tree", "ensure_free", "free_bytes", "used_bytes"]
