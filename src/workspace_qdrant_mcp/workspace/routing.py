"""Which name a call for "this project" (or for a name the caller gave) sends to Qdrant.

Queries, upserts and counts go to Qdrant under a LOGICAL name, which Qdrant
resolves atomically with any alias switch (DESIGN.md §2); a physical name is
never looked up first. These helpers pick that name and, when Qdrant says a
name reaches nothing, turn that into one sentence listing the names that work.
"""

from __future__ import annotations

from ..core import store
from ..core.errors import CollectionNotFound, InvalidArgument, WqmError
from .projects import ProjectContext
from .workspace import Workspace


def collection_not_found(ws: Workspace, name: str, project_path: str | None) -> CollectionNotFound:
    """The one-line error for a name that reaches no collection, listing the project's names."""
    try:
        ctx: ProjectContext | None = ws.project(project_path, auto_migrate=False)
    except WqmError:
        ctx = None
    names = list(ctx.names) if ctx is not None and ctx.physical is not None else []
    if names:
        listed = ", ".join(
            n + (" (current)" if ctx is not None and n == ctx.current_name else "") for n in names
        )
        return CollectionNotFound(f"No collection or alias is named {name!r}; this project's "
                                  f"names are: {listed}.")
    return CollectionNotFound(f"No collection or alias is named {name!r}, and this project has no "
                              "data yet; run `wqm ingest` first.")


def name_exists(ws: Workspace, name: str) -> bool:
    """True when ``name`` is a collection or an alias in Qdrant now."""
    return name in store.live_aliases(ws.client) or name in store.collection_names(ws.client)


def choose_collection(
    ws: Workspace, collection: str | None, project_path: str | None
) -> tuple[str, list[str]]:
    """The name to query (as given, else the project's) and the project's notices."""
    if collection is not None:
        if not collection.strip():
            raise InvalidArgument("The collection name is empty; omit it or give a name.")
        return collection, []
    ctx = ws.project(project_path)
    if ctx.physical is None:
        raise CollectionNotFound(
            f"The project at {ctx.root} has no data yet; run `wqm ingest` there first."
        )
    return ctx.query_name, list(ctx.notices)
