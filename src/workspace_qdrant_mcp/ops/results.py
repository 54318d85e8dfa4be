"""The shapes of what operations return: what crosses the service socket and what front ends render.

They are ``TypedDict``s, so a result IS the JSON object (``--format json`` and
the wire format are exactly these keys) while mypy checks both the operation
that builds it and the front end that reads it.

Rows that the core already defines (an alias, an audit event, a doctor
finding) are re-exported here under the names front ends use.
"""

from __future__ import annotations

from typing import Any, NotRequired, TypedDict

from ..core.alias_types import AliasRow, ProblemRow
from ..core.state import AuditRow


class NameState(TypedDict):
    """One name of a project in ``status``."""

    name: str
    current: bool
    reachable: bool


class StatusResult(TypedDict):
    """``status``: where a project's data lives and how much there is."""

    project_root: str
    current_name: str
    remote: str | None
    names: list[NameState]
    collection: str | None
    physical_collection: str | None
    indexed: bool
    points: int
    files: int
    notes: int
    engine: str
    registry: str
    data_dir: str
    notices: list[str]


class SearchHit(TypedDict):
    """One search result: where it is, how well it matched, and the chunk's payload."""

    score: float
    path: str | None
    start_line: int | None
    end_line: int | None
    snippet: str
    payload: dict[str, Any]
    id: str


class SearchResult(TypedDict):
    """``search``: the hits, best first, and the name that was searched."""

    collection: str
    mode: str
    query: str
    results: list[SearchHit]
    notices: list[str]


class SkippedFile(TypedDict):
    """A file left out of an ingest, and why."""

    path: str
    reason: str
    detail: str


class IngestResult(TypedDict):
    """``ingest``: what was indexed, kept, removed and skipped."""

    project_root: str
    collection: str
    git: bool
    files_seen: int
    files_indexed: int
    files_unchanged: int
    files_deleted: int
    files_skipped: int
    skipped: dict[str, int]
    skipped_files: list[SkippedFile]
    chunks_written: int
    seconds: float
    chunks_per_second: float
    notices: list[str]


class NoteStored(TypedDict):
    """``store_note``: the new note's id and where it went."""

    id: str
    collection: str
    path: str
    chunks: int
    notices: list[str]


class RetrievedChunk(TypedDict):
    """One stored chunk of a retrieved note or file."""

    id: str
    chunk_index: Any
    start_line: Any
    end_line: Any
    content: Any
    payload: dict[str, Any]


class Retrieved(TypedDict):
    """``retrieve``: a note or a file's indexed text, whole and by chunk."""

    collection: str
    document_id: Any
    path: Any
    source: Any
    title: Any
    metadata: Any
    content: str
    chunks: list[RetrievedChunk]
    notices: list[str]


class AliasInfo(AliasRow):
    """``get_alias``: an alias and what removing it would leave."""

    registered: bool
    in_qdrant: bool
    other_names: list[str]
    last_name: bool
    project_path: str | None
    points: int | None


class RemoveResult(TypedDict):
    """``remove_alias``: the alias removed (or that would be) and the names left."""

    removed: AliasInfo
    collection_name: str
    remaining_names: list[str]
    change_id: int | None
    status: str


class SwitchedAlias(TypedDict):
    """One alias moved by a switch."""

    alias: str
    before: str | None
    after: str | None


class SwitchResult(TypedDict):
    """``alias_switch``: the change made, or nothing to do."""

    status: str
    change_id: int | None
    operations: list[SwitchedAlias]


HistoryEvent = AuditRow


class UndoResult(TypedDict):
    """``undo``: the change reverted (or that would be) and the change that reverted it."""

    change: dict[str, Any]
    steps: list[str]
    status: str
    project: str | None
    undo_change: NotRequired[dict[str, Any]]


class DoctorReport(TypedDict):
    """``doctor``: problems found, fixed and remaining."""

    ok: bool
    problems: list[ProblemRow]
    remaining: int


class StaleAlias(AliasRow):
    """An alias nobody searched through lately, and how to remove it."""

    unused_days: int
    last_name: bool
    remove_command: str


class RequestOutcome(TypedDict):
    """``request_outcome``: what became of a request whose reply was lost."""

    request_id: str
    status: str
    change_ids: list[int]


class Ping(TypedDict):
    """``ping``: the workspace answers."""

    ok: bool
    engine: str


__all__ = [
    "AliasInfo",
    "AliasRow",
    "DoctorReport",
    "HistoryEvent",
    "IngestResult",
    "NameState",
    "NoteStored",
    "Ping",
    "ProblemRow",
    "RemoveResult",
    "RequestOutcome",
    "Retrieved",
    "RetrievedChunk",
    "SearchHit",
    "SearchResult",
    "SkippedFile",
    "StaleAlias",
    "StatusResult",
    "SwitchResult",
    "SwitchedAlias",
    "UndoResult",
]


# -- engine (ops/engine.py) ----------------------------------------------------------------------


class OtherStoreInfo(TypedDict):
    """The store of the engine not in use: kept after a move, stale, or a partial copy."""

    engine: str
    state: str
    since: str
    store: str
    store_bytes: int


class EngineStatus(TypedDict):
    """``engine_status``: which engine holds the store, where, and the other store if any."""

    engine: str
    store: str | None
    store_bytes: int
    since: str | None
    other: OtherStoreInfo | None
    record: str | None
    move_running: bool


class EngineMoveResult(TypedDict):
    """``engine_move``: what was (or, with ``dry_run``, would be) copied and switched."""

    status: str
    from_engine: str
    to_engine: str
    collections: int
    points: int
    store_bytes: int
    free_bytes: int
    copy: bool
    replayed: int
    blocked_ms: float
    seconds: float
    kept: str | None


class EnginePruneResult(TypedDict):
    """``engine_prune``: the other engine's store that was (or would be) removed."""

    status: str
    engine: str | None
    state: str | None
    store: str | None
    freed_bytes: int
