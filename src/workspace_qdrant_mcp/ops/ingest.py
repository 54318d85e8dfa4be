"""Indexing operations: ``ingest`` (wait for the index, with progress), ``index`` (start it and return).

Both run the project's one background job (``workspace/sync.py``): a second
request for the same project, from the CLI or another assistant, attaches to
the running job and sees its progress instead of starting another. ``watch``
turns the workspace service's file watching on or off for a project.
"""

from __future__ import annotations

from typing import Any

from ..core.errors import CollectionNotFound
from ..workspace.indexer import Progress
from ..workspace.sync import project_job
from ..workspace.workspace import Workspace
from .registry import operation
from .results import IndexStarted, IngestResult, WatchResult


@operation(takes_project=True, retry_safe=True, timeout="long")
def ingest(
    ws: Workspace, project_path: str | None = None, progress: Progress | None = None
) -> IngestResult:
    """Index the project at ``project_path`` and wait until it is complete (keywords and meaning).

    Returns counts of files seen/indexed/unchanged/deleted/skipped (with reasons),
    chunks written, seconds, the collection name and any notices. Attaches to
    an indexing job already running for the project.
    """
    ctx = ws.project(project_path)
    job = project_job(ws, ctx)
    result: IngestResult = job.wait(progress)  # type: ignore[assignment]
    return {**result, "notices": list(dict.fromkeys([*ctx.notices, *result["notices"]]))}


@operation(takes_project=True, retry_safe=True, mcp_tool="index")
def index(ws: Workspace, project_path: str | None = None) -> IndexStarted:
    """Start indexing the project in the background and return at once.

    The index becomes searchable by keyword within seconds and complete (meaning
    too) later; ``status`` shows the progress. A job already running for the
    project is joined, not doubled.
    """
    ctx = ws.project(project_path)
    job = project_job(ws, ctx)
    state: dict[str, Any] = job.state.to_dict()
    return {"project_root": str(ctx.root), "started": job.running, "job": state,
            "notices": list(ctx.notices)}


@operation(takes_project=True)
def watch(ws: Workspace, on: bool, project_path: str | None = None) -> WatchResult:
    """Turn the workspace service's watching of the project's folder on or off."""
    ctx = ws.project(project_path)
    if ctx.project_id is None:
        raise CollectionNotFound(f"The project at {ctx.root} has no index yet, so there is "
                                 "nothing to watch; `wqm ingest` indexes it (and watches it).")
    ws.state.set_watch(ctx.project_id, on)
    ws.watch_changed()
    return {"project_root": str(ctx.root), "watch": on}
