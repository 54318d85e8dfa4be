"""``WorkspaceClient``: the typed face of the workspace for front ends and scripts.

A front end reads ``client.search(...)`` and gets a ``SearchResult``, whichever
backend runs it: the shared workspace service (default) or this process
(``WQM_SERVICE=off``). Each method is one operation of ``ops/``; parameters and
results are exactly the operation's, so the JSON on the wire and in
``--format json`` is the same as the library's. ``call`` runs any operation by
name (for operations without a method here).

The in-process backend is imported only when chosen: a CLI command that talks
to the service never loads qdrant-client or the models (start-up time).
"""

from __future__ import annotations

from pathlib import Path
from types import TracebackType
from typing import Any, Self, cast

from ..config import Settings
from ..core import engines
from ..ops.results import (
    AliasGraph,
    AliasInfo,
    AliasTimeline,
    AliasUsage,
    DoctorReport,
    EngineMoveResult,
    EnginePruneResult,
    EngineStatus,
    Forgotten,
    GcResult,
    HistoryEvent,
    IndexStarted,
    IngestResult,
    ListedAlias,
    NoteDeleted,
    NoteStored,
    Ping,
    ProjectOverview,
    RegistryMetrics,
    RegistryVersion,
    ReindexResult,
    RemoveResult,
    Retrieved,
    SearchResult,
    StaleAlias,
    StatusResult,
    SwitchResult,
    UndoResult,
    WatchResult,
)
from .base import Backend, Progress

PathArg = str | Path | None


def open_backend(settings: Settings | None = None) -> Backend:
    """The backend front ends should use for these settings."""
    resolved = settings or Settings.from_env()
    if not resolved.uses_server:  # a WQM_ENGINE the data directory disagrees with: one sentence
        engines.check_preference(resolved.data_dir, resolved.engine)
    if resolved.service == "auto":
        from .service import ServiceBackend

        return ServiceBackend(resolved)
    from .local import LocalBackend

    return LocalBackend(resolved)


def _path(value: PathArg) -> str | None:
    return None if value is None else str(value)


class WorkspaceClient:
    """Typed methods over a backend; a context manager that closes it."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """Release the backend (the service keeps running for others)."""
        self.backend.close()

    def call(self, op: str, progress: Progress | None = None, **params: Any) -> Any:
        """Run any operation by name."""
        return self.backend.call(op, progress=progress, **params)

    # -- data -----------------------------------------------------------------------------

    def status(self, project_path: PathArg = None, migrate: bool = False) -> StatusResult:
        """Where the project's data lives and how much there is (``migrate``: apply a
        pending identity change first)."""
        result = self.call("status", project_path=_path(project_path), migrate=migrate)
        return cast(StatusResult, result)

    def ingest(self, project_path: PathArg = None, progress: Progress | None = None
               ) -> IngestResult:
        """Index the project's files incrementally."""
        result = self.call("ingest", progress=progress, project_path=_path(project_path))
        return cast(IngestResult, result)

    def index(self, project_path: PathArg = None) -> IndexStarted:
        """Start indexing the project in the background (a running job is joined)."""
        return cast(IndexStarted, self.call("index", project_path=_path(project_path)))

    def reindex(self, project_path: PathArg = None, *, detach: bool = False,
                progress: Progress | None = None) -> ReindexResult:
        """Rebuild the project's index beside the old one, then switch every name at once."""
        result = self.call("reindex", progress=progress, project_path=_path(project_path),
                           detach=detach)
        return cast(ReindexResult, result)

    def gc(self, dry_run: bool = False) -> GcResult:
        """Remove retired collections no name reaches (kept after rebuilds for undo)."""
        return cast(GcResult, self.call("gc", dry_run=dry_run))

    def watch(self, on: bool, project_path: PathArg = None) -> WatchResult:
        """Turn watching of the project's folder on or off."""
        return cast(WatchResult, self.call("watch", on=on, project_path=_path(project_path)))

    def search(self, query: str, *, project_path: PathArg = None, collection: str | None = None,
               mode: str = "hybrid", limit: int = 10, path_glob: str | None = None,
               language: str | None = None, symbol: str | None = None) -> SearchResult:
        """Search the project's files and notes."""
        result = self.call("search", query=query, project_path=_path(project_path),
                           collection=collection, mode=mode, limit=limit, path_glob=path_glob,
                           language=language, symbol=symbol)
        return cast(SearchResult, result)

    def store_note(self, content: str, *, title: str | None = None,
                   metadata: dict[str, Any] | None = None, collection: str | None = None,
                   project_path: PathArg = None) -> NoteStored:
        """Store a note in the project's collection."""
        result = self.call("store_note", content=content, title=title, metadata=metadata,
                           collection=collection, project_path=_path(project_path))
        return cast(NoteStored, result)

    def retrieve(self, *, document_id: str | None = None, path: str | None = None,
                 collection: str | None = None, project_path: PathArg = None) -> Retrieved:
        """A note by id, or a file's indexed chunks by path."""
        result = self.call("retrieve", document_id=document_id, path=path,
                           collection=collection, project_path=_path(project_path))
        return cast(Retrieved, result)

    def rebuild_models(self) -> dict[str, Any]:
        """Verify the model weights and rebuild the derived model files."""
        return cast(dict[str, Any], self.call("rebuild_models"))

    def forget(self, project_path: PathArg = None, *, name: str | None = None,
               dry_run: bool = False) -> Forgotten:
        """Delete a project's data, names and records (``dry_run``: say what would go)."""
        result = self.call("forget", project_path=_path(project_path), name=name,
                           dry_run=dry_run)
        return cast(Forgotten, result)

    def delete_note(self, document_id: str, *, collection: str | None = None,
                    project_path: PathArg = None) -> NoteDeleted:
        """Delete a stored note."""
        result = self.call("delete_note", document_id=document_id, collection=collection,
                           project_path=_path(project_path))
        return cast(NoteDeleted, result)

    def ping(self) -> Ping:
        """A cheap round trip."""
        return cast(Ping, self.call("ping"))

    # -- identity -------------------------------------------------------------------------

    def plan_update_remote(self, project_path: PathArg = None, force: bool = False
                           ) -> dict[str, Any]:
        """The plan giving the project its remote-based name (changes nothing)."""
        result = self.call("plan_update_remote", project_path=_path(project_path), force=force)
        return cast(dict[str, Any], result)

    def plan_update_path(self, old_path: PathArg, project_path: PathArg = None,
                         force: bool = False) -> dict[str, Any]:
        """The plan giving a moved project's new path name to its old data (changes nothing)."""
        result = self.call("plan_update_path", old_path=_path(old_path),
                           project_path=_path(project_path), force=force)
        return cast(dict[str, Any], result)

    def apply_plan(self, plan: dict[str, Any], force: bool = False) -> dict[str, Any]:
        """Carry out a plan (its expected targets are compare-and-swap preconditions)."""
        return cast(dict[str, Any], self.call("apply_plan", plan=plan, force=force))

    # -- aliases --------------------------------------------------------------------------

    def list_aliases(self, collection: str | None = None, *, project_path: PathArg = None,
                     all: bool = False) -> list[ListedAlias]:
        """The project's aliases (``all``: every project's), newest first."""
        result = self.call("list_aliases", collection=collection,
                           project_path=_path(project_path), all=all)
        return cast(list[ListedAlias], result)

    def get_alias(self, name: str) -> AliasInfo:
        """One alias and what removing it would leave."""
        return cast(AliasInfo, self.call("get_alias", name=name))

    def remove_alias(self, name: str, *, force: bool = False, dry_run: bool = False
                     ) -> RemoveResult:
        """Remove one alias (``dry_run``: only check and describe)."""
        result = self.call("remove_alias", name=name, force=force, dry_run=dry_run)
        return cast(RemoveResult, result)

    def alias_switch(self, changes: list[dict[str, Any]], *, force: bool = False,
                     reason: str | None = None) -> SwitchResult:
        """Any alias changes in one atomic step."""
        result = self.call("alias_switch", changes=changes, force=force, reason=reason)
        return cast(SwitchResult, result)

    def history(self, name: str | None = None, limit: int = 200, *,
                project_path: PathArg = None, all: bool = False) -> list[HistoryEvent]:
        """The audit log, newest first: the project's (``all``: every project's) or a name's."""
        result = self.call("history", name=name, limit=limit, project_path=_path(project_path),
                           all=all)
        return cast(list[HistoryEvent], result)

    def undo(self, *, project_path: PathArg = None, all: bool = False,
             change_id: int | None = None, force: bool = False, dry_run: bool = False
             ) -> UndoResult:
        """Revert an alias change: ``change_id``, else the project's latest (``all``: any's)."""
        result = self.call("undo", project_path=_path(project_path), all=all,
                           change_id=change_id, force=force, dry_run=dry_run)
        return cast(UndoResult, result)

    def doctor(self, fix: bool = False, *, remove_orphans: bool = False) -> DoctorReport:
        """Compare registry and Qdrant; with ``fix``, repair (``remove_orphans``: delete data
        no name reaches)."""
        return cast(DoctorReport, self.call("doctor", fix=fix, remove_orphans=remove_orphans))

    def stale_aliases(self, days: int = 30) -> list[StaleAlias]:
        """Aliases unused for ``days`` days."""
        return cast(list[StaleAlias], self.call("stale_aliases", days=days))

    # -- overview (what the dashboard shows) -----------------------------------------------

    def projects_overview(self) -> list[ProjectOverview]:
        """Every known project: root, names, collection, counts, index state."""
        return cast(list[ProjectOverview], self.call("projects_overview"))

    def alias_graph(self, stale_days: int = 30) -> AliasGraph:
        """Every name and the collection it reaches, and collections no name reaches."""
        return cast(AliasGraph, self.call("alias_graph", stale_days=stale_days))

    def alias_usage(self, days: int = 30, stale_days: int = 30) -> AliasUsage:
        """Searches per alias and day, last use, stale names."""
        return cast(AliasUsage, self.call("alias_usage", days=days, stale_days=stale_days))

    def alias_timeline(self, limit: int = 100) -> AliasTimeline:
        """Alias changes and repairs, newest first, and the one undo would revert."""
        return cast(AliasTimeline, self.call("alias_timeline", limit=limit))

    def registry_version(self) -> RegistryVersion:
        """Counters that move whenever names, history or usage change."""
        return cast(RegistryVersion, self.call("registry_version"))

    def registry_metrics(self) -> RegistryMetrics:
        """Counts for monitoring."""
        return cast(RegistryMetrics, self.call("registry_metrics"))

    # -- engine ---------------------------------------------------------------------------

    def engine_status(self) -> EngineStatus:
        """Which embedded engine holds the store, and the other store if any."""
        return cast(EngineStatus, self.call("engine_status"))

    def engine_move(self, to: str, *, dry_run: bool = False, progress: Progress | None = None
                    ) -> EngineMoveResult:
        """Move the store to engine ``to`` with zero downtime (``dry_run``: only size it)."""
        result = self.call("engine_move", progress=progress, to=to, dry_run=dry_run)
        return cast(EngineMoveResult, result)

    def engine_prune(self, *, dry_run: bool = False) -> EnginePruneResult:
        """Remove the other engine's store (ends the undo window of a move)."""
        return cast(EnginePruneResult, self.call("engine_prune", dry_run=dry_run))


def open_client(settings: Settings | None = None) -> WorkspaceClient:
    """A client for these settings (default: from the environment)."""
    return WorkspaceClient(open_backend(settings))
