"""From a folder to its data: which physical collection holds a project, under which names.

A project is found by every identity it has had: its current name, its
path-based name, its remote-based name, and any name the registry remembers
for the same root (an earlier remote). The current name may not reach the data
yet (the identity just changed); callers then migrate (``migration.py``).

A name is not proof of ownership. The registry records, for each project's
data, the root it was last seen at and its repository's root commit(s), and
data found through a *path* name is used only if it belongs to the project now
at that path (``owns``): a repository moved away keeps its data, and a
different repository created at the old path gets its own (the path name then
moves to that new data, see ``ensure_project_collection``). A remote name is
shared by every clone of the remote, by design. When no name reaches a git
project's data, a project whose recorded root is gone and whose root commits
match is the same repository, moved (outside git: whose indexed files are here,
byte for byte): ``ProjectContext.moved_from`` says where from, and ``Workspace.project`` gives it its new name (``migration.py``).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..core import schema, store
from ..core.alias_types import names_reaching
from ..core.collection_aliases import AliasManager
from ..core.errors import AliasConflict
from ..core.identity import ProjectIdentity, detect_identity
from ..core.index_registry import IndexRegistry
from ..core.state import ProjectRecord, SQLiteStateManager


@dataclass
class ProjectContext:
    """A project's identity and where its data is now."""

    identity: ProjectIdentity
    physical: str | None
    names: list[str] = field(default_factory=list)
    project_id: int | None = None
    notices: list[str] = field(default_factory=list)
    #: The project's data was found at this earlier root, which no longer exists (a move).
    moved_from: str | None = None
    #: Earlier roots that may have been this project, when that cannot be decided.
    move_candidates: list[str] = field(default_factory=list)
    #: The current name reaches another project's data (``taken_from``): a new collection
    #: for this project takes the name over.
    taken_from: str | None = None

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


def owns(record: ProjectRecord | None, ident: ProjectIdentity, via_remote_name: bool) -> bool:
    """True when data recorded as ``record``'s belongs to the project ``ident`` describes.

    A remote name belongs to every clone of its remote. Otherwise data whose
    recorded root still exists elsewhere belongs to the project there (it moved
    away, or is another checkout); and where both sides know their repository's
    root commits, they must share one (a different repository may sit at a reused
    path). A folder outside git is its path.
    """
    if record is None or via_remote_name:
        return True
    if record.root_path != str(ident.root) and os.path.isdir(record.root_path):
        return False
    if record.commits and ident.root_commits:
        return bool(record.commits & ident.root_commits)
    return True


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

    taken_from: str | None = None
    for name in dict.fromkeys(candidates):
        physical = live.get(name, name if name in collections else None)
        if physical is None:
            continue
        record = state.project_by_collection(physical)
        if not owns(record, ident, via_remote_name=name == ident.remote_name):
            if name == ident.current_name:
                taken_from = physical
            continue
        return ProjectContext(
            identity=ident,
            physical=physical,
            names=names_reaching(live, physical, physical in collections),
            project_id=record.id if record else None,
        )
    moved, candidates_gone = _moved_here(state, ident, collections)
    if moved is not None:
        return ProjectContext(
            identity=ident,
            physical=moved.physical_collection,
            names=names_reaching(live, moved.physical_collection),
            project_id=moved.id,
            moved_from=moved.root_path,
        )
    return ProjectContext(identity=ident, physical=None, taken_from=taken_from,
                          move_candidates=candidates_gone)


def _moved_here(
    state: SQLiteStateManager, ident: ProjectIdentity, collections: set[str]
) -> tuple[ProjectRecord | None, list[str]]:
    """The one recorded project this repository was before a move, and the undecided ones.

    A record qualifies when its root no longer exists and its data does. With
    git, it must share a root commit with this repository; outside git, the files
    it indexed must mostly be here with the same content (``_same_files``). Exactly
    one may qualify (two would be two moved copies: not decidable, so their roots
    are returned as candidates for `update-path`).
    """
    gone = [
        record for record in state.projects()
        if record.root_path != str(ident.root)
        and record.physical_collection in collections
        and not os.path.isdir(record.root_path)
    ]
    if ident.root_commits:
        matching = [r for r in gone if r.commits & ident.root_commits]
        if len(matching) == 1:
            return matching[0], []
        return None, sorted(r.root_path for r in matching)[:3]
    unknown = [r for r in gone if not r.commits]
    registry = IndexRegistry(state)
    matching = [r for r in unknown if _same_files(registry, r, ident.root)]
    if len(matching) == 1:
        return matching[0], []
    return None, sorted(r.root_path for r in (matching or unknown))[:3]


#: Files of a recorded folder compared with a candidate new home (an even sample beyond that).
MOVE_SAMPLE = 200
#: Share of the sampled files that must be found, with the same bytes, to call it a move.
MOVE_OVERLAP = 0.8


def _same_files(registry: IndexRegistry, record: ProjectRecord, root: Path) -> bool:
    """True when the files ``record``'s folder indexed are mostly at ``root``, byte for byte.

    What survives a move of a folder outside git is its content: the same
    relative paths with the same SHA-256 (as the indexer recorded them). A
    sample bounds the cost (only folders with no data of their own get here).
    """
    files = registry.files(record.physical_collection, record.root_path)
    if not files:
        return False
    paths = sorted(files)
    sample = paths[:: max(1, len(paths) // MOVE_SAMPLE)][:MOVE_SAMPLE]
    same = 0
    for rel in sample:
        known = files[rel]
        path = root / rel
        try:
            if (path.stat().st_size == known.size
                    and hashlib.sha256(path.read_bytes()).hexdigest() == known.content_hash):
                same += 1
        except OSError:
            continue
    return same >= MOVE_OVERLAP * len(sample)


def register_project(state: SQLiteStateManager, ctx: ProjectContext) -> None:
    """Record the project (root, remote, root commits) and bind its current names."""
    if ctx.physical is None:
        return
    ident = ctx.identity
    names: list[tuple[str, str, str | None, str | None]] = []
    if ident.path_name in ctx.names:
        names.append((ident.path_name, "path", None, str(ident.root)))
    if ident.remote_name and ident.remote_name in ctx.names:
        check_remote_binding(state, ident.remote_name, ident.canonical_remote)
        names.append((ident.remote_name, "remote", ident.canonical_remote, None))
    record = state.upsert_project(
        ctx.physical,
        str(ident.root),
        ident.canonical_remote,
        ident.path_name,
        ident.remote_name,
        ident.root_commits,
        names,
    )
    ctx.project_id = record.id


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
    """Give a project without data its physical collection, reachable by its current name.

    Concurrent callers share one collection (the second finds the first's). When
    the current name reaches another project's data (``ctx.taken_from``: a path
    reused by a different repository), the new collection takes the name over in
    the same atomic step; the other project keeps its other names, and its data
    and record stay (``wqm project doctor`` lists data left with no name).
    """
    if ctx.physical is not None:
        state = aliases.state_manager
        if state.project_by_collection(ctx.physical) is None:
            # The names reach a rebuilt collection whose switch was not recorded yet (a
            # crash, or this write came right after the switch): record it first, so the
            # project keeps its one record instead of gaining a second.
            reached = set(store.live_aliases(aliases.qdrant_client).values())
            IndexRegistry(state).finish_switch(ctx.physical, reached)
        register_project(state, ctx)
        return ctx
    if ctx.identity.remote_name:
        check_remote_binding(
            aliases.state_manager, ctx.identity.remote_name, ctx.identity.canonical_remote
        )
    reason = "path_reused" if ctx.taken_from else "first_ingest"
    physical = aliases.create_project_collection_sync(
        ctx.current_name,
        vectors_config=schema.vectors_config(),
        sparse_vectors_config=schema.sparse_vectors_config(),
        payload_indexes=schema.payload_indexes(),
        actor="ingest",
        metadata={"project_path": str(ctx.root), "reason": reason},
        exist_ok=ctx.taken_from is None,
        take_over=ctx.taken_from,
    )
    _forget_stale_records(aliases, ctx)
    if ctx.taken_from:
        ctx.notices.append(
            f"{ctx.current_name} named the data of another project (now at "
            f"{_root_of(aliases.state_manager, ctx.taken_from)}); a different repository is at "
            f"{ctx.root} now, so the name now reaches this project's own new data."
        )
    ctx.physical = physical
    ctx.names = [ctx.current_name]
    ctx.taken_from = None
    register_project(aliases.state_manager, ctx)
    return ctx


def _root_of(state: SQLiteStateManager, physical: str) -> str:
    record = state.project_by_collection(physical)
    return record.root_path if record else "an unknown folder"


def _forget_stale_records(aliases: AliasManager, ctx: ProjectContext) -> None:
    """Drop records of this root whose collection is gone (so `doctor` stays green)."""
    state = aliases.state_manager
    collections = store.collection_names(aliases.qdrant_client)
    for record in state.projects_by_root(str(ctx.root)):
        if record.physical_collection not in collections:
            state.forget_project(record.id)
