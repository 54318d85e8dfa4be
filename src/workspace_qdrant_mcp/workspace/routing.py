"""Which name a call for "this project" (or for a name the caller gave) sends to Qdrant.

Queries, upserts and counts go to Qdrant under a LOGICAL name, which Qdrant
resolves atomically with any alias switch (DESIGN.md §2); a physical name is
never looked up first. These helpers pick that name and, when Qdrant says a
name reaches nothing, turn that into one sentence listing the names that work.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from ..core import store
from ..core.errors import CollectionNotFound, InvalidArgument, StoreError, WqmError
from ..core.index_registry import IndexRegistry
from ..core.recipe import IndexRecipe
from .projects import ProjectContext, locate_project
from .workspace import Workspace

T = TypeVar("T")


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


@dataclass
class Route:
    """The name one operation sends to Qdrant: the one the caller gave, or its project's.

    ``run`` sends every Qdrant call of the operation through it. When a call
    fails because its name reaches nothing any more, a name the caller gave is
    reported as unknown (with the names that work); a name chosen for the
    project is chosen again (an undo or remove-alias in another process may have
    removed it mid-operation) and the call retried once with a name that still
    reaches the project's data, so "the current project" never fails because one
    of its names went away.
    """

    ws: Workspace
    name: str
    project_path: str | None
    ctx: ProjectContext | None = None

    def run(self, fn: Callable[[str], T]) -> T:
        """``fn(name)``, re-routed once if the name disappeared under it."""
        for attempt in (1, 2):
            try:
                return fn(self.name)
            except StoreError:
                if name_exists(self.ws, self.name):
                    raise  # the name is fine: a real failure
                if attempt == 1 and self._repick():
                    continue
                raise collection_not_found(self.ws, self.name, self.project_path) from None
        raise AssertionError("unreachable")

    def check(self) -> None:
        """Report an unknown name even when nothing reached Qdrant (an empty answer)."""
        if not name_exists(self.ws, self.name) and not self._repick():
            raise collection_not_found(self.ws, self.name, self.project_path)

    def _repick(self) -> bool:
        if self.ctx is None or self.ctx.physical is None:
            return False
        fresh = locate_project(self.ws.aliases, self.ctx.identity)
        if fresh.physical != self.ctx.physical or fresh.query_name == self.name:
            return False
        self.ctx.names = fresh.names
        self.name = fresh.query_name
        return True


def recipe_of(ws: Workspace, name: str) -> IndexRecipe:
    """The recipe to embed a query or note with for the collection ``name`` reaches now.

    Resolving the name here only picks the model: the query itself still goes to
    Qdrant by name (an alias switch in between moves between collections of the
    same project, whose models share a dimension).
    """
    physical = ws.aliases.resolve_sync(name)
    record = IndexRegistry(ws.state).collection(physical)
    return ws.models.for_collection(record.recipe if record is not None else None)


def choose_collection(ws: Workspace, collection: str | None, project_path: str | None) -> Route:
    """The route of one operation: ``collection`` as given, else the project's query name."""
    if collection is not None:
        if not collection.strip():
            raise InvalidArgument("The collection name is empty; omit it or give a name.")
        return Route(ws, collection, project_path)
    ctx = ws.project(project_path)
    if ctx.physical is None:
        raise CollectionNotFound(no_data_message(ctx))
    return Route(ws, ctx.query_name, project_path, ctx)


def no_data_message(ctx: ProjectContext) -> str:
    """What to do about a project that has no data: ingest it, or say where it moved from."""
    if ctx.move_candidates:
        commands = " or ".join(
            f"`wqm project update-path --old-path {old} --project {ctx.root}`"
            for old in ctx.move_candidates
        )
        return (f"The project at {ctx.root} has no data under its names; if it was moved, "
                f"{commands} reaches its data again without re-indexing; otherwise `wqm ingest` "
                "indexes it.")
    return f"The project at {ctx.root} has no data yet; run `wqm ingest` there first."
