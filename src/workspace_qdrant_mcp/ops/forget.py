"""Removing data on purpose: forget a project, delete a note.

``forget`` deletes a project's names, collections and registry rows after the
caller has seen what goes (``dry_run`` returns exactly that: points, notes,
names); it is logged in the audit history and cannot be undone.
``delete_note`` deletes one stored note (every chunk of it).
"""

from __future__ import annotations

from typing import Any

from qdrant_client import models as qm

from ..core import schema, store
from ..core.errors import InvalidArgument
from ..workspace import forget as forgetting
from ..workspace.routing import choose_collection
from ..workspace.workspace import Workspace
from .registry import operation
from .results import Forgotten, NoteDeleted


@operation(takes_project=True, destructive=True)
def forget(
    ws: Workspace,
    project_path: str | None = None,
    name: str | None = None,
    dry_run: bool = False,
    actor: str = "cli",
) -> Forgotten:
    """Delete a project's data: every name, every collection, every record (not undoable).

    The project is the one at ``project_path``, or the one whose data ``name``
    reaches. A running indexing job of the project is refused first.
    """
    ctx = None if name is not None else ws.project(project_path, auto_migrate=False)
    physical, root = forgetting.target(ws, ctx, name)
    found = forgetting.forgettable(ws, physical, root)
    if found.root is not None:
        job = ws.jobs.get(found.root)
        if job is not None and job.running:
            raise InvalidArgument(f"The project at {found.root} is being indexed right now; "
                                  "forget it once that has finished.")
    summary: dict[str, Any] = found.to_dict()
    if dry_run:
        return {**summary, "status": "dry_run", "change_id": None}  # type: ignore[typeddict-item]
    change_id = forgetting.forget(ws, found, actor)
    return {**summary, "status": "forgotten", "change_id": change_id}  # type: ignore[typeddict-item]


@operation(takes_project=True, destructive=True, mcp_tool="delete_note")
def delete_note(
    ws: Workspace,
    document_id: str,
    collection: str | None = None,
    project_path: str | None = None,
) -> NoteDeleted:
    """Delete a stored note (all its chunks) by the id ``store`` returned."""
    if not isinstance(document_id, str) or not document_id.strip():
        raise InvalidArgument("The note id is empty; give the id `store` returned.")
    key = document_id.strip()
    route = choose_collection(ws, collection, project_path)
    flt = qm.Filter(must=[
        qm.FieldCondition(key="document_id", match=qm.MatchValue(value=key)),
        qm.FieldCondition(key="source", match=qm.MatchValue(value=schema.SOURCE_NOTE)),
    ])
    client = ws.client

    def delete(name: str) -> int:
        found = store.call(client, f"count the note in {name}",
                           lambda: client.count(name, count_filter=flt, exact=True)).count
        if found:
            store.call(client, f"delete a note from {name}", lambda: client.delete(
                name, points_selector=qm.FilterSelector(filter=flt), wait=True))
        return found

    removed = route.run(delete)
    if not removed:
        raise InvalidArgument(f"No note with id {key!r} is in {route.name}; nothing was deleted.")
    return {"id": key, "collection": route.name, "chunks": removed}
