"""Rebuild a project's index without downtime, and collect the indexes rebuilds retired.

``reindex`` runs the rebuild of ``workspace/rebuild.py`` as the project's
background rebuild job (a second request attaches to it): a new collection is
built beside the old one with the current recipe, caught up, verified, and
every name of the project moves to it in one atomic step; the old collection is
kept for ``wqm project undo``. ``gc`` removes retired collections no name
reaches.
"""

from __future__ import annotations

from typing import Any

from ..core.errors import CollectionNotFound
from ..workspace.indexer import Progress
from ..workspace.rebuild import check_recipe, check_space, gc, settle_collections
from ..workspace.sync import collection_recipe, rebuild_job, running_rebuild
from ..workspace.workspace import Workspace
from .registry import operation
from .results import GcResult, ReindexResult


@operation(takes_project=True, retry_safe=True, timeout="long")
def reindex(
    ws: Workspace,
    project_path: str | None = None,
    detach: bool = False,
    progress: Progress | None = None,
) -> ReindexResult:
    """Rebuild the project's index beside the old one and switch every name to it at once.

    Refused before anything is built when the project has no index, the disk
    cannot hold a second copy, or the recipe's model cannot be loaded. With
    ``detach`` the rebuild runs in the background (``status`` shows it).
    """
    settle_collections(ws)  # a switch a crash left unrecorded is recorded before anything else
    ctx = ws.project(project_path)
    if ctx.physical is None:
        raise CollectionNotFound(
            f"The project at {ctx.root} has no index, so there is nothing to rebuild; "
            "`wqm ingest` indexes it."
        )
    recipe = ws.models.current()
    if running_rebuild(ws, str(ctx.root)) is None:  # else attach: it passed these checks
        check_recipe(ws, recipe)
        check_space(ws, ctx.physical)
    old_recipe = collection_recipe(ws, ctx.physical, ctx.project_id)
    job = rebuild_job(ws, ctx, recipe)
    summary: dict[str, Any] = {"project_root": str(ctx.root), "old_collection": ctx.physical,
                               "from_recipe": old_recipe.to_dict(), "recipe": recipe.to_dict(),
                               "notices": list(ctx.notices)}
    if detach:
        return {**summary, "status": "building", "job": job.state.to_dict(),  # type: ignore[typeddict-item]
                "new_collection": None, "names": [], "change_id": None}
    done = job.wait(progress)
    return {**summary, "status": "switched", "job": job.state.to_dict(),  # type: ignore[typeddict-item]
            "new_collection": done["new_collection"], "names": done["names"],
            "change_id": done["change_id"]}


@operation("gc", destructive=True)
def collect(ws: Workspace, dry_run: bool = False) -> GcResult:
    """Remove retired collections (kept after a rebuild for undo) that no name reaches."""
    removed = gc(ws, dry_run=dry_run)
    return {"removed": removed, "dry_run": dry_run,
            "bytes": sum(int(r.get("bytes") or 0) for r in removed)}
