"""From a folder to its data: which physical collection holds a project, under which names.

A project is found by every identity it has had: its current name, its
path-based name, its remote-based name, and any name the registry remembers
for the same root (an earlier remote). The current name may not reach the data
yet (the identity just changed); callers then migrate (core/migration.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..core import schema, store
from ..core.alias_types import names_reaching
from ..core.collection_aliases import AliasManager
from ..core.errors import AliasConflict
from ..core.identity import ProjectIdentity, detect_identity
from ..core.state import SQLiteStateManager


@dataclass
class ProjectContext:
    """A project's identity and where its data is now."""

    identity: ProjectIdentity
    physical: str | None
    names: list[str] = field(default_factory=list)
    project_id: int | None = None
    notices: list[str] = field(default_factory=list)

    @property
    def current_name(self) -> str:
        """The name this project is known by now."""
        return self.identity.current_name

    @property
    def current_reachable(self) -> bool:
        """True when the current name reaches the project's data."""
        return self.physical is not None and self.current_name in self.names

    @property
    def query_name(self) -> str:
        """The logical name to send to Qdrant for this project's data.

        The current name when it reaches the data, else another name of it, else
        the physical name of an adopted collection that has no other name.
        """
        if self.current_reachable:
            return self.current_name
        if self.names:
            return self.names[0]
        if self.physical is None:
            raise ValueError("the project has no data")
        return self.physical

    @property
    def root(self) -> Path:
        """The project root folder."""
        return self.identity.root

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (no raw remote URL: only the sanitized one)."""
        ident = self.identity
        return {
            "root": str(ident.root),
            "current_name": ident.current_name,
            "path_name": ident.path_name,
            "remote_name": ident.remote_name,
            "remote": ident.remote_url_display,
            "canonical_remote": ident.canonical_remote,
            "physical_collection": self.physical,
            "names": list(self.names),
        }


def locate_project(
    aliases: AliasManager, identity: ProjectIdentity | None = None, path: str | Path | None = None
) -> ProjectContext:
    """Find the data of the project at ``path`` (or of ``identity``) by any name it has had."""
    ident = identity if identity is not None else detect_identity(path or ".")
    client = aliases.qdrant_client
    state = aliases.state_manager
    live = store.live_aliases(client)
    collections = store.collection_names(client)

    candidates = [ident.current_name]
    if ident.path_name != ident.current_name:
        candidates.append(ident.path_name)
    for known in state.projects_by_root(str(ident.root)):
        candidates.extend(state.names_of_project(known.id))
        candidates.append(known.physical_collection)

    for name in candidates:
        physical = live.get(name, name if name in collections else None)
        if physical is None:
            continue
        record = state.project_by_collection(physical)
        return ProjectContext(
            identity=ident,
            physical=physical,
            names=names_reaching(live, physical, physical in collections),
            project_id=record.id if record else None,
        )
    return ProjectContext(identity=ident, physical=None)


def register_project(state: SQLiteStateManager, ctx: ProjectContext) -> None:
    """Record the project and bind its current names in the registry."""
    if ctx.physical is None:
        return
    ident = ctx.identity
    record = state.upsert_project(
        ctx.physical,
        str(ident.root),
        ident.canonical_remote,
        ident.path_name,
        ident.remote_name,
    )
    ctx.project_id = record.id
    if ident.path_name in ctx.names:
        state.bind_name(ident.path_name, record.id, "path", None, str(ident.root))
    if ident.remote_name and ident.remote_name in ctx.names:
        check_remote_binding(state, ident.remote_name, ident.canonical_remote)
        state.bind_name(ident.remote_name, record.id, "remote", ident.canonical_remote, None)


def check_remote_binding(
    state: SQLiteStateManager, name: str, canonical_remote: str | None
) -> None:
    """Refuse to bind a remote-based name to a second, different canonical remote."""
    binding = state.name_binding(name)
    if (
        binding is not None
        and binding["kind"] == "remote"
        and canonical_remote is not None
        and binding["canonical_remote"] not in (None, canonical_remote)
    ):
        raise AliasConflict(
            f"The name {name} already belongs to the remote {binding['canonical_remote']}, "
            f"not {canonical_remote}; the two repositories must not share data."
        )


def ensure_project_collection(aliases: AliasManager, ctx: ProjectContext) -> ProjectContext:
    """Give a project without data its physical collection, reachable by its current name."""
    if ctx.physical is not None:
        register_project(aliases.state_manager, ctx)
        return ctx
    if ctx.identity.remote_name:
        check_remote_binding(
            aliases.state_manager, ctx.identity.remote_name, ctx.identity.canonical_remote
        )
    physical = aliases.create_project_collection_sync(
        ctx.current_name,
        vectors_config=schema.vectors_config(),
        sparse_vectors_config=schema.sparse_vectors_config(),
        payload_indexes=schema.payload_indexes(),
        actor="ingest",
        metadata={"project_path": str(ctx.root), "reason": "first_ingest"},
    )
    ctx.physical = physical
    ctx.names = [ctx.current_name]
    register_project(aliases.state_manager, ctx)
    return ctx
