"""Index one project: the work behind ``wqm ingest``, the ``index`` tool and the watcher.

``sync_project`` finds the project's data (creating its collection on the first
run, under the current recipe), refuses a project too big to index by surprise,
and runs the ``Indexer`` over the checkout with the collection's own recipe.
``project_job`` wraps it as a background job of the workspace (one per
project; a second request attaches to it).
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..core import store
from ..core.errors import InvalidArgument
from ..core.identity import path_collection_name
from ..core.index_registry import LIVE, IndexRegistry
from ..core.recipe import IndexRecipe
from ..ingest import walker
from .indexer import Indexer, Interleave, Progress
from .jobs import Job, Work
from .projects import ProjectContext, ensure_project_collection
from .rebuild import Rebuild
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


#: The recipe of a collection built before wqm recorded recipes: line chunks of the first
#: chunker, the first BM25 tokenizer. This code cannot make such points, so a collection of
#: this recipe is rebuilt (beside itself, then switched), never extended in place.
LEGACY_RECIPE = IndexRecipe(dense="precise", dense_signature="unrecorded", dense_dim=384,
                            sparse="bm25-1", chunker="lines-1", payload=2)


def collection_recipe(ws: Workspace, physical: str, project_id: int | None) -> IndexRecipe:
    """The recipe of ``physical``; an unrecorded one is new (empty) or legacy (has points)."""
    registry = IndexRegistry(ws.state)
    record = registry.collection(physical)
    if record is not None and record.recipe is not None:
        return record.recipe
    client = ws.client
    points = store.call(client, f"count the points of {physical}",
                        lambda: client.count(physical, exact=False).count)
    recipe = ws.models.current() if points == 0 else LEGACY_RECIPE
    registry.record_collection(physical, recipe, LIVE, project_id)
    return recipe


def rebuild_key(root: str) -> str:
    """The job key of the project's rebuild (apart from its syncs, which go on meanwhile)."""
    return f"reindex:{root}"


def running_rebuild(ws: Workspace, root: str) -> Job | None:
    """The project's rebuild job while it runs, else None."""
    job = ws.jobs.get(rebuild_key(root))
    return job if job is not None and job.running and job.state.kind == "reindex" else None


def rebuild_job(ws: Workspace, ctx: ProjectContext, recipe: IndexRecipe | None = None) -> Job:
    """The background job rebuilding the project's index (one per project; joined if running)."""
    root = str(ctx.root)
    target = recipe or ws.models.current()

    def work(progress: Progress, _paths: set[str] | None) -> dict[str, Any]:
        with _rebuild_slot(ws, progress):
            fresh = ws.project(root, auto_migrate=False)
            return Rebuild(ws, fresh, target, progress).run()

    running = ws.jobs.get(rebuild_key(root))
    if running is not None and running.running and running.state.kind != "reindex":
        running.join()  # the sync queued behind the last rebuild (a few files): let it end
    return ws.jobs.start(rebuild_key(root), "reindex", work)


#: One rebuild at a time per process: after an upgrade every project is outdated at once,
#: and rebuilds side by side would only share the same cores (and hold more memory).
_REBUILDS = threading.Lock()


@contextlib.contextmanager
def _rebuild_slot(ws: Workspace, progress: Progress) -> Iterator[None]:
    """Wait (shown as ``queued``) until no other project is being rebuilt."""
    if not _REBUILDS.acquire(blocking=False):
        progress({"phase": "queued"})
        while not _REBUILDS.acquire(timeout=0.5):
            ws.check_stopping("the rebuild")
    try:
        yield
    finally:
        _REBUILDS.release()


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
    undecided_move = list(ctx.move_candidates) if ctx.physical is None else []
    ctx = ensure_project_collection(ws.aliases, ctx)
    for old in undecided_move:  # indexed anew; say how the old data is reached or removed
        ctx.notices.append(
            f"If this folder is the project that was at {old}, its data is still there: "
            f"`wqm project forget --name {path_collection_name(Path(old))}` removes it (this folder "
            "now has its own index).")
    assert ctx.physical is not None
    if only is None:
        # A project indexed for the first time (or again) is watched from now on, before its
        # files are read, so an edit made while they are indexed is not lost.
        ws.watch_changed()
    recipe = collection_recipe(ws, ctx.physical, ctx.project_id)
    if not ws.models.producible(recipe):
        # Points of another recipe must not be mixed in: bring the index up to date by
        # rebuilding it beside itself (the names keep serving the old one meanwhile).
        if only is not None:
            if running_rebuild(ws, str(ctx.root)) is not None:
                # The rebuild's last catch-up may have read these files before they
                # changed: sync them into the rebuilt index right after it, as a
                # follow-up of its job (merged with other batches; never a wait here).
                ws.jobs.queue(rebuild_key(str(ctx.root)), "sync", _sync_work(ws, str(ctx.root)),
                              only)
            return {"project_root": str(ctx.root), "deferred_to_rebuild": True}
        rebuilt = rebuild_job(ws, ctx).wait(progress)
        return _rebuilt_as_ingest(ctx, rebuilt)
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


def _rebuilt_as_ingest(ctx: ProjectContext, rebuilt: dict[str, Any]) -> dict[str, Any]:
    """A rebuild's summary in the shape of an ingest result (``wqm ingest`` shows it)."""
    return {
        "project_root": str(ctx.root), "collection": ctx.query_name, "git": True,
        "files_seen": rebuilt["files"], "files_indexed": rebuilt["files"],
        "files_unchanged": 0, "files_deleted": 0, "files_skipped": 0, "skipped": {},
        "skipped_files": [], "chunks_written": rebuilt["chunks"],
        "chunks_dense": rebuilt["chunks"], "seconds": rebuilt.get("seconds", 0.0),
        "chunks_per_second": 0.0, "recipe": rebuilt["recipe"]["id"],
        "notices": [(f"The index was built by an older recipe, so it was rebuilt beside itself "
                    f"and its names moved to {rebuilt['new_collection']} in one step "
                    "(`wqm project undo` switches back).")],
    }


def _sync_work(ws: Workspace, root: str, checked: bool = False) -> Work:
    """A job's work: sync the project at ``root`` (all files, or the paths given).

    A full sync lets the files saved meanwhile (queued syncs of the same project) go
    in between two of its batches, so an edit is not held back by a long first index.
    """

    def saved_meanwhile(paths: set[str], progress: Progress) -> dict[str, Any]:
        return sync_project(ws, ws.project(root, auto_migrate=False), progress, paths)

    def work(progress: Progress, paths: set[str] | None) -> dict[str, Any]:
        # The project as it is when the job runs. A background job never migrates names:
        # that is for the commands a person or an assistant runs (and can undo).
        fresh = ws.project(root, auto_migrate=False)
        return sync_project(ws, fresh, progress, paths, checked=checked and paths is None,
                            interleave=lambda: ws.jobs.run_queued_now(root, saved_meanwhile))

    return work


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
    work = _sync_work(ws, root, checked)
    if only is None:
        return ws.jobs.start(root, kind, work)
    return ws.jobs.queue(root, kind, work, only)


__all__ = ["LEGACY_RECIPE", "ProjectTooLarge", "check_indexable", "check_size", "collection_recipe", "project_job",
           "rebuild_job", "rebuild_key", "running_rebuild", "sync_project"]
