"""Where a project's data lives and how much of it there is: one call for ``wqm status``.

Counts are asked of Qdrant through the project's logical name (never the
physical one, DESIGN.md §2); the physical collection is shown for admins only.
File and note counts are the numbers of distinct ``path`` values of file and
note points (a note's path is ``notes/<id>``), read with a facet on the
indexed ``path`` field, so no payload is transferred.
"""

from __future__ import annotations

from qdrant_client import models as qm

from ..core import schema, store
from ..workspace.index_state import index_state
from ..workspace.projects import ProjectContext
from ..workspace.routing import Route, no_data_message
from ..workspace.workspace import Workspace
from .registry import operation
from .results import StatusResult

#: Upper bound of distinct paths counted (far above any real project).
MAX_FILES = 1_000_000


def _source_is(source: str) -> qm.Filter:
    return qm.Filter(must=[qm.FieldCondition(key="source", match=qm.MatchValue(value=source))])


def _pending_rename(ctx: ProjectContext) -> list[str]:
    """A notice when the project's current name does not reach its data yet (or may not)."""
    if ctx.physical is None and ctx.move_candidates:
        return [no_data_message(ctx)]
    if ctx.physical is None or ctx.current_reachable:
        return []
    how = "moved" if ctx.moved_from else "changed its name"
    command = (f"update-path --old-path {ctx.moved_from}" if ctx.moved_from
               else "update-remote")
    return [(f"The project {how} ({ctx.current_name} does not reach its data yet); the next "
             "search, ingest or note adds it as an alias automatically, or "
             f"`wqm project {command}` does it now.")]


@operation("status", takes_project=True, read_only=True, mcp_tool="workspace_status")
def workspace_status(ws: Workspace, project_path: str | None = None,
                     migrate: bool = False) -> StatusResult:
    """Project root, names (current one marked), physical collection, counts, engine, registry.

    A read: by default it never changes names; a pending identity change is shown
    and applied by the next search, ingest or note (or `wqm project update-remote`
    now). ``migrate`` applies it first (an assistant's session start does: opening
    the project is a deliberate act, and the change is announced and undoable).
    """
    ctx = ws.project(project_path, auto_migrate=None if migrate else False)
    result: StatusResult = {
        "project_root": str(ctx.root),
        "current_name": ctx.current_name,
        "remote": ctx.identity.remote_url_display,
        "names": [],
        "collection": None,
        "physical_collection": ctx.physical,
        "indexed": ctx.physical is not None,
        "points": 0,
        "files": 0,
        "notes": 0,
        "engine": ws.settings.engine_description(),
        "registry": str(ws.settings.registry_path),
        "data_dir": str(ws.settings.data_dir),
        "notices": list(ctx.notices) + _pending_rename(ctx),
        "index": None,
    }
    names = list(ctx.names)
    if ctx.current_name not in names:
        names.insert(0, ctx.current_name)
    result["names"] = [
        {"name": n, "current": n == ctx.current_name,
         "reachable": ctx.physical is not None and n in ctx.names}
        for n in names
    ]
    if ctx.physical is None:
        result["index"] = index_state(ws, ctx)
        return result
    client = ws.client

    def counts(name: str) -> tuple[int, int, int]:
        points = store.call(client, f"count the points of {name}",
                            lambda: client.count(name, exact=True)).count
        notes = len(store.call(
            client, f"count the notes of {name}",
            lambda: client.facet(name, key="path", facet_filter=_source_is(schema.SOURCE_NOTE),
                                 limit=MAX_FILES, exact=True),
        ).hits)
        files = len(store.call(
            client, f"count the files of {name}",
            lambda: client.facet(name, key="path", facet_filter=_source_is(schema.SOURCE_FILE),
                                 limit=MAX_FILES, exact=True),
        ).hits)
        return points, notes, files

    route = Route(ws, ctx.query_name, project_path, ctx)
    result["points"], result["notes"], result["files"] = route.run(counts)
    result["collection"] = route.name
    result["index"] = index_state(ws, ctx, route.name)
    return result
