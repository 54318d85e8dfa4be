"""Data a user can remove: a whole project, and data that no name reaches any more.

Forgetting a project removes every name reaching its data (one alias change,
kind ``forget``, logged in the audit history, never undoable: the data is
gone), then its collections (the live one, and any a rebuild retired or left
unfinished), then its registry rows. Orphaned data is a collection of wqm's
that no name reaches and that nothing keeps on purpose (a rebuild's retired
index is kept for undo and is not orphaned): ``doctor --fix`` removes it after
a confirmation.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from qdrant_client import models as qm

from ..core import schema, store
from ..core.alias_types import AliasChange
from ..core.errors import CollectionNotFound
from ..core.index_registry import BUILDING, RETIRED, IndexRegistry
from ..core.naming import is_opaque_physical_name
from .projects import ProjectContext
from .workspace import Workspace


@dataclass
class Forgettable:
    """What forgetting a project removes."""

    root: str | None
    collections: list[str] = field(default_factory=list)
    names: list[str] = field(default_factory=list)
    points: int = 0
    notes: int = 0

    def to_dict(self) -> dict[str, Any]:
        """JSON form (what a confirmation shows)."""
        return {"project": self.root, "collections": self.collections, "names": self.names,
                "points": self.points, "notes": self.notes}


def _count(ws: Workspace, physical: str, source: str | None = None) -> int:
    client = ws.client
    flt = None if source is None else qm.Filter(must=[qm.FieldCondition(
        key="source", match=qm.MatchValue(value=source))])
    return store.call(client, f"count the points of {physical}",
                      lambda: client.count(physical, count_filter=flt, exact=True).count)


def forgettable(ws: Workspace, physical: str, root: str | None) -> Forgettable:
    """Everything that belongs to the data in ``physical`` (its names, sibling collections)."""
    registry = IndexRegistry(ws.state)
    record = ws.state.project_by_collection(physical)
    project_id = record.id if record is not None else None
    existing = store.collection_names(ws.client)
    collections = [physical] + sorted(
        c.physical for c in registry.collections()
        if project_id is not None and c.project_id == project_id and c.physical != physical
        and c.physical in existing)
    live = store.live_aliases(ws.client)
    names = sorted(a for a, c in live.items() if c in collections)
    found = Forgettable(root or (record.root_path if record else None), collections, names)
    for collection in collections:
        found.points += _count(ws, collection)
        found.notes += _count(ws, collection, schema.SOURCE_NOTE)
    return found


def target(ws: Workspace, ctx: ProjectContext | None, name: str | None) -> tuple[str, str | None]:
    """The collection to forget: the one ``name`` reaches, else the project's."""
    if name is not None:
        live = store.live_aliases(ws.client)
        physical = live.get(name, name if name in store.collection_names(ws.client) else None)
        if physical is None:
            raise CollectionNotFound(f"No collection or alias is named {name!r}; "
                                     "`wqm project list-aliases --all` shows them.")
        return physical, None
    assert ctx is not None
    if ctx.physical is None:
        raise CollectionNotFound(f"The project at {ctx.root} has no data, so there is nothing "
                                 "to forget.")
    return ctx.physical, str(ctx.root)


def forget(ws: Workspace, found: Forgettable, actor: str) -> int | None:
    """Remove the names, the collections and the records; the alias change's id (if any)."""
    # A collection adopted from an older tool (named like a project) is the project's data
    # too: the user asked for it to go, and the confirmation named it.
    change_id = None
    if found.names:
        record = ws.aliases.switch_sync(
            [AliasChange(name, None) for name in found.names], actor=actor,
            reason=f"forget the project at {found.root or 'an unknown folder'}", force=True,
            kind="forget", metadata={"project_path": found.root, "points": found.points})
        change_id = record.id if record is not None else None
    client = ws.client
    registry = IndexRegistry(ws.state)
    for collection in found.collections:
        if collection in store.collection_names(client):
            store.call(client, f"delete {collection}",
                       lambda c=collection: client.delete_collection(c))  # type: ignore[misc]
        registry.forget_collection(collection)
        project = ws.state.project_by_collection(collection)
        if project is not None:
            ws.state.forget_project(project.id)
    return change_id


def orphans(ws: Workspace) -> list[dict[str, Any]]:
    """wqm's collections no name reaches and nothing keeps (not a retired or building index)."""
    live = store.live_aliases(ws.client)
    reached = set(live.values())
    kept = {c.physical for c in IndexRegistry(ws.state).collections()
            if c.state in (RETIRED, BUILDING)}
    found = []
    for collection in sorted(store.collection_names(ws.client)):
        if (is_opaque_physical_name(collection) and collection not in reached
                and collection not in kept):
            record = ws.state.project_by_collection(collection)
            found.append({"collection": collection, "points": _count(ws, collection),
                          "project": record.root_path if record else None})
    return found


__all__ = ["Forgettable", "forget", "forgettable", "orphans", "target"]
