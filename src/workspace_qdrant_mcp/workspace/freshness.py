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
from .sync import project_job, sync_project
from .workspace import Workspace

#: At most this many changed files, of at most this many bytes in all, are re-indexed
#: before a search answers; more are marked stale and queued.
MAX_SYNC_FILES = 5
MAX_SYNC_BYTES = 512 * 1024


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
    """Re-index ``paths`` now when cheap (True), else queue them on the project's job (False)."""
    root = Path(ctx.root)
    size = 0
    for path in paths:
        try:
            size += os.stat(root / path).st_size
        except OSError:
            continue
    job = ws.jobs.get(str(ctx.root))
    busy = job is not None and job.running
    if not busy and len(paths) <= MAX_SYNC_FILES and size <= MAX_SYNC_BYTES:
        # An index of an older recipe is not written to: its rebuild catches up instead.
        return not sync_project(ws, ctx, only=set(paths)).get("deferred_to_rebuild")
    project_job(ws, ctx, only=set(paths), kind="sync")
    return False


__all__ = ["MAX_SYNC_BYTES", "MAX_SYNC_FILES", "changed_files", "refresh"]
