"""Index one project: the work behind ``wqm ingest``, the ``index`` tool and the watcher.

``sync_project`` finds the project's data (creating its collection on the first
run, under the current recipe), refuses a project too big to index by surprise,
and runs the ``Indexer`` over the checkout with the collection's own recipe.
``project_job`` wraps it as a background job of the workspace (one per
project; a second request attaches to it).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..core.errors import InvalidArgument
from ..core.index_registry import LIVE, IndexRegistry
from ..core.recipe import IndexRecipe
from ..ingest import walker
from .indexer import Indexer, Interleave, Progress
from .jobs import Job
from .projects import ProjectContext, ensure_project_collection
from .routing import Route
from .workspace import Workspace


class ProjectTooLarge(InvalidArgument):
    """A project is over the size limit set for indexing it."""


def check_size(ws: Workspace, root: Path) -> tuple[int, int]:
    """Files and bytes git would index under ``root``; refuses a project over the limits.

    Checked before anything is written, so a home folder given by mistake costs
    one listing, not hours of indexing.
    """
    listing = walker.walk(root)
    files = len(listing.files)
    limit_files, limit_bytes = ws.settings.max_project_files, ws.settings.max_project_bytes
    if files > limit_files:
        raise ProjectTooLarge(
            f"The project at {root} has {files:,} files to index, over the limit of "
            f"{limit_files:,} (WQM_MAX_PROJECT_FILES); raise the limit to index it anyway."
        )
    size = 0
    for rel in listing.files:
        try:
            size += min(os.stat(root / rel).st_size, ws.settings.max_file_bytes + 1)
        except OSError:
            continue
        if size > limit_bytes:
            raise ProjectTooLarge(
                f"The project at {root} holds more than {limit_bytes:,} bytes to index, over "
                "the limit (WQM_MAX_PROJECT_BYTES); raise the limit to index it anyway."
            )
    return files, size


def collection_recipe(ws: Workspace, physical: str, project_id: int | None) -> IndexRecipe:
    """The recipe of ``physical`` (a collection made before recipes were kept is adopted)."""
    registry = IndexRegistry(ws.state)
    record = registry.collection(physical)
    if record is not None and record.recipe is not None:
        return record.recipe
    recipe = ws.models.current()
    registry.record_collection(physical, recipe, LIVE, project_id)
    return recipe


def check_indexable(ws: Workspace, ctx: ProjectContext) -> None:
    """Refuse a project that must not be indexed whole: the file system root, or too big."""
    if ctx.root == Path(ctx.root.anchor):
        raise InvalidArgument(
            f"Refusing to index the whole file system at {ctx.root}; pass a project folder."
        )
    check_size(ws, ctx.root)


def sync_project(
    ws: Workspace, ctx: ProjectContext, progress: Progress | None = None,
    only: set[str] | None = None, checked: bool = False,
    interleave: Interleave | None = None,
) -> dict[str, Any]:
    """Bring the project's index in step with its files; the ``ingest`` result.

    ``checked``: the caller has just run ``check_indexable`` (one listing spared).
    ``interleave``: see ``Indexer`` (the project's job passes its queued syncs).
    """
    if (ctx.physical is None or only is None) and not checked:
        check_indexable(ws, ctx)
    ctx = ensure_project_collection(ws.aliases, ctx)
    assert ctx.physical is not None
    if only is None:
        # A project indexed for the first time (or again) is watched from now on, before its
        # files are read, so an edit made while they are indexed is not lost.
        ws.watch_changed()
    recipe = collection_recipe(ws, ctx.physical, ctx.project_id)
    route = Route(ws, ctx.query_name, str(ctx.root), ctx)
    indexer = Indexer(ws, route, ctx.physical, str(ctx.root), recipe,
                      project_id=ctx.project_id, progress=progress, interleave=interleave)
    report = indexer.sync(only)
    if ctx.project_id is not None:
        ws.state.mark_synced(ctx.project_id)
    seconds = report.seconds
    return {
        "project_root": str(ctx.root),
        "collection": route.name,
        "git": report.git,
        "files_seen": report.files_seen,
        "files_indexed": report.files_indexed,
        "files_unchanged": report.files_unchanged,
        "files_deleted": report.files_deleted,
        "files_skipped": sum(report.skipped.values()),
        "skipped": dict(sorted(report.skipped.items())),
        "skipped_files": report.skip_details,
        "chunks_written": report.chunks_written,
        "chunks_dense": report.chunks_dense,
        "seconds": seconds,
        "chunks_per_second": round(report.chunks_written / seconds, 1) if seconds > 0 else 0.0,
        "recipe": recipe.id,
        "notices": list(ctx.notices),
    }


def project_job(ws: Workspace, ctx: ProjectContext, only: set[str] | None = None,
                kind: str = "index") -> Job:
    """The background job indexing the project (a running one is joined, not doubled).

    A full index of a project too big (or the file system root) is refused here,
    in the caller's thread, with the limit's one sentence: a job that failed in
    the background would leave an ``index`` call looking started.
    """
    root = str(ctx.root)
    running = ws.jobs.get(root)
    checked = only is None and (running is None or not running.running)
    if checked:
        check_indexable(ws, ctx)

    def saved_meanwhile(paths: set[str], progress: Progress) -> dict[str, Any]:
        return sync_project(ws, ws.project(root, auto_migrate=False), progress, paths)

    def work(progress: Progress, paths: set[str] | None) -> dict[str, Any]:
        # The project as it is when the job runs. A background job never migrates names:
        # that is for the commands a person or an assistant runs (and can undo).
        fresh = ws.project(root, auto_migrate=False)
        return sync_project(ws, fresh, progress, paths, checked=checked and paths is None,
                            interleave=lambda: ws.jobs.run_queued_now(root, saved_meanwhile))

    if only is None:
        return ws.jobs.start(root, kind, work)
    return ws.jobs.queue(root, kind, work, only)


__all__ = ["ProjectTooLarge", "check_indexable", "check_size", "collection_recipe", "project_job",
           "sync_project"]
