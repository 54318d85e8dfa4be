"""A search result never silently points at lines that changed since they were indexed.

At query time each result's file is checked cheaply: its size and mtime against
what the checkout recorded when it indexed the file, and only when those differ
its content hash against the result's. What changed is then either re-indexed
before the answer (a few small files, and no indexing job already running for
the project: about a tenth of a second per file, so the answer is current) or
left marked ``stale`` in the answer and queued for re-indexing (many or large
files, or a job already at work): a correct answer fast beats a perfect one
late, and the mark says which lines to distrust.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from pathlib import Path

from ..core.index_registry import IndexRegistry
from .projects import ProjectContext
from .sync import project_job
from .workspace import Workspace

#: At most this many changed files, of at most this many bytes in all, are re-indexed
#: before a search answers; more are marked stale and queued.
MAX_SYNC_FILES = 5
MAX_SYNC_BYTES = 512 * 1024
#: Seconds a search waits for that re-index (a job that began meanwhile may be ahead of it).
REFRESH_WAIT = 10.0


def changed_files(ws: Workspace, ctx: ProjectContext, hits: Iterable[tuple[str, str]]
                  ) -> set[str]:
    """Paths whose file differs from the version a hit came from (or is gone).

    ``hits`` are (path, content hash) of file results of the project's own index.
    """
    wanted: dict[str, set[str]] = {}
    for path, digest in hits:
        wanted.setdefault(path, set()).add(digest)
    if not wanted or ctx.physical is None:
        return set()
    recorded = IndexRegistry(ws.state).file_states(ctx.physical, str(ctx.root), sorted(wanted))
    changed: set[str] = set()
    for path, digests in wanted.items():
        full = Path(ctx.root) / path
        try:
            info = os.stat(full)
        except OSError:
            changed.add(path)  # deleted (or unreadable) since it was indexed
            continue
        known = recorded.get(path)
        if (known is not None and known.size == info.st_size
                and known.mtime_ns == info.st_mtime_ns and digests == {known.content_hash}):
            continue
        if digests != {_hash(full)}:
            changed.add(path)
    return changed


def _hash(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


def refresh(ws: Workspace, ctx: ProjectContext, paths: set[str]) -> bool:
    """Re-index ``paths``; True when that is done before the answer, False when queued.

    Either way it runs as the project's job, never beside it: two syncs of one
    project writing at once could each keep a version the other replaced.
    """
    root = Path(ctx.root)
    size = 0
    for path in paths:
        try:
            size += os.stat(root / path).st_size
        except OSError:
            continue
    running = ws.jobs.get(str(ctx.root))
    busy = running is not None and running.running
    job = project_job(ws, ctx, only=set(paths), kind="sync")
    if busy or len(paths) > MAX_SYNC_FILES or size > MAX_SYNC_BYTES:
        return False
    if not job.join(REFRESH_WAIT) or job.exception is not None:
        return False
    # An index of an older recipe is not written to: its rebuild catches up instead.
    return not (job.result or {}).get("deferred_to_rebuild")


__all__ = ["MAX_SYNC_BYTES", "MAX_SYNC_FILES", "REFRESH_WAIT", "changed_files", "refresh"]
