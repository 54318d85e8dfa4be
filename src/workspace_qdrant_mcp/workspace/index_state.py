"""How complete a project's index is, in one small record that status and search both show.

States: ``none`` (no index yet), ``building`` (a job is indexing it),
``partial`` (some points still lack their dense vector: keyword search finds
them, meaning does not yet), ``complete``. A search that answers from a
building or partial index says so, so an assistant never takes a thin answer
for a final one.
"""

from __future__ import annotations

from typing import Any

from qdrant_client import models as qm

from ..core import schema, store
from ..core.errors import StoreError
from ..core.index_registry import RETIRED, IndexRegistry
from .projects import ProjectContext
from .workspace import Workspace

NONE, BUILDING, PARTIAL, COMPLETE = "none", "building", "partial", "complete"


def dense_missing(ws: Workspace, name: str) -> int:
    """Points of ``name`` that have no dense vector yet."""
    client = ws.client
    flt = qm.Filter(must_not=[qm.HasVectorCondition(has_vector=schema.DENSE_VECTOR)])
    return store.call(client, f"count the points of {name} still to embed",
                      lambda: client.count(name, count_filter=flt, exact=True)).count


def index_state(ws: Workspace, ctx: ProjectContext, name: str | None = None) -> dict[str, Any]:
    """The index's state, its running job's progress, watching and recipe facts."""
    job = ws.jobs.get(str(ctx.root))
    running = job is not None and job.running
    rebuild = ws.jobs.get(f"reindex:{ctx.root}")
    if rebuild is not None and rebuild.state.kind != "reindex":
        rebuild = None  # a sync queued behind a rebuild runs under its key
    record = ws.state.project_by_collection(ctx.physical) if ctx.physical else None
    state: dict[str, Any] = {
        "state": NONE,
        "job": job.state.to_dict() if job is not None else None,
        "pending_paths": ws.jobs.pending(str(ctx.root)),
        # Watched now: watching is on for the project and a service with WQM_WATCH on watches it.
        "watched": record is not None and bool(record.watch) and str(ctx.root) in ws.watching(),
        "last_sync_at": record.last_sync_at if record is not None else None,
        "dense_missing": 0,
        "recipe": None,
        "recipe_current": None,
        "rebuild": rebuild.state.to_dict() if rebuild is not None else None,
        "retired": [],
    }
    if ctx.physical is None:
        state["state"] = BUILDING if running else NONE
        return state
    registry = IndexRegistry(ws.state)
    collection = registry.collection(ctx.physical)
    if collection is not None:
        state["retired"] = [
            {"collection": c.physical, "retired_at": c.retired_at, "replaced_by": c.replaced_by}
            for c in registry.collections(RETIRED) if c.project_id == collection.project_id
        ]
    if collection is not None and collection.recipe is not None:
        state["recipe"] = collection.recipe.to_dict()
        state["recipe_current"] = collection.recipe.id == ws.models.current().id
    try:
        state["dense_missing"] = dense_missing(ws, name or ctx.query_name)
    except StoreError:
        state["dense_missing"] = 0
    if running:
        state["state"] = BUILDING
    elif state["dense_missing"]:
        state["state"] = PARTIAL
    else:
        state["state"] = COMPLETE
    return state


def partial_notice(state: dict[str, Any]) -> str | None:
    """One sentence saying an answer came from an index still being built, or None."""
    if state["state"] == COMPLETE:
        return None
    job = state.get("job") or {}
    if state["state"] == BUILDING:
        phase = job.get("phase", "starting")
        if phase in ("keywords", "scan", "plan", "starting"):
            done = f"{job.get('keywords_done', 0)}/{job.get('keywords_total', 0)} files"
            return (f"The index of this project is being built ({done} read); these results "
                    "are partial: search again in a moment for more.")
        eta = job.get("eta_seconds")
        left = f", about {eta:.0f} s left" if isinstance(eta, int | float) else ""
        return (f"The index of this project is being completed (meaning: "
                f"{job.get('dense_done', 0)}/{job.get('dense_total', 0)} chunks{left}); "
                "keyword matches are all there, matches by meaning are partial.")
    if state["state"] == PARTIAL:
        return (f"{state['dense_missing']} chunks of this project are not embedded yet: they "
                "are found by keyword but not by meaning until indexing completes.")
    return None


__all__ = ["BUILDING", "COMPLETE", "NONE", "PARTIAL", "dense_missing", "index_state",
           "partial_notice"]
