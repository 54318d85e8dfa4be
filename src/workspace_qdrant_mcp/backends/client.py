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
    AliasInfo,
    AliasRow,
    DoctorReport,
    EngineMoveResult,
    EnginePruneResult,
    EngineStatus,
    HistoryEvent,
    IngestResult,
    NoteStored,
    Ping,
    RemoveResult,
    Retrieved,
    SearchResult,
    StaleAlias,
    StatusResult,
    SwitchResult,
    UndoResult,
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

    def status(self, project_path: PathArg = None) -> StatusResult:
        """Where the project's data lives and how much there is."""
        return cast(StatusResult, self.call("status", project_path=_path(project_path)))

    def ingest(self, project_path: PathArg = None, progress: Progress | None = None
               ) -> IngestResult:
        """Index the project's files incrementally."""
        result = self.call("ingest", progress=progress, project_path=_path(project_path))
        return cast(IngestResult, result)

    def search(self, query: str, *, project_path: PathArg = None, collection: str | None = None,
               mode: str = "hybrid", limit: int = 10, path_glob: str | None = None,
               language: str | None = None) -> SearchResult:
        """Search the project's files and notes."""
        result = self.call("search", query=query, project_path=_path(project_path),
                           collection=collection, mode=mode, limit=limit, path_glob=path_glob,
                           language=language)
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

    def list_aliases(self, collection: str | None = None) -> list[AliasRow]:
        """Registered aliases, newest first."""
        return cast(list[AliasRow], self.call("list_aliases", collection=collection))

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

    def history(self, name: str | None = None, limit: int = 200) -> list[HistoryEvent]:
        """The audit log, newest first."""
        return cast(list[HistoryEvent], self.call("history", name=name, limit=limit))

    def undo(self, *, project_path: PathArg = None, all: bool = False,
             change_id: int | None = None, force: bool = False, dry_run: bool = False
             ) -> UndoResult:
        """Revert an alias change: ``change_id``, else the project's latest (``all``: any's)."""
        result = self.call("undo", project_path=_path(project_path), all=all,
                           change_id=change_id, force=force, dry_run=dry_run)
        return cast(UndoResult, result)

    def doctor(self, fix: bool = False) -> DoctorReport:
        """Compare registry and Qdrant; with ``fix``, repair."""
        return cast(DoctorReport, self.call("doctor", fix=fix))

    def stale_aliases(self, days: int = 30) -> list[StaleAlias]:
        """Aliases unused for ``days`` days."""
        return cast(list[StaleAlias], self.call("stale_aliases", days=days))

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
