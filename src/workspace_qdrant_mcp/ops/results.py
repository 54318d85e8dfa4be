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
    index: dict[str, Any] | None


class SearchHit(TypedDict):
    """One search result: where it is, how well it matched, and the chunk's payload."""

    score: float
    path: str | None
    start_line: int | None
    end_line: int | None
    snippet: str
    payload: dict[str, Any]
    id: str
    #: The qualified name of the definition the chunk starts in or with (code chunks).
    symbol: NotRequired[str]
    stale: NotRequired[bool]


class SearchResult(TypedDict):
    """``search``: the hits, best first, and the name that was searched."""

    collection: str
    mode: str
    query: str
    results: list[SearchHit]
    notices: list[str]
    index: dict[str, Any] | None


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
    chunks_dense: int
    seconds: float
    chunks_per_second: float
    recipe: str
    notices: list[str]


class IndexStarted(TypedDict):
    """``index``: the background job indexing the project (started now, or joined)."""

    project_root: str
    started: bool
    job: dict[str, Any]
    notices: list[str]


class WatchResult(TypedDict):
    """``watch``: whether the service now watches the project's folder."""

    project_root: str
    watch: bool


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


class ListedAlias(AliasRow):
    """An alias as ``list_aliases`` shows it: with the root of its data's project."""

    project: str | None


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


class RetiredIndex(TypedDict):
    """An index a rebuild replaced, kept for undo until ``gc`` (or its retention) removes it."""

    collection: str
    project_root: str | None
    retired_at: str | None
    replaced_by: str | None
    bytes: int


class DoctorReport(TypedDict):
    """``doctor``: problems found, fixed and remaining (and the retired indexes, if any)."""

    ok: bool
    problems: list[ProblemRow]
    remaining: int
    retired: NotRequired[list[RetiredIndex]]


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


class ReindexResult(TypedDict):
    """``reindex``: the rebuild and where the names went."""

    project_root: str
    old_collection: str
    new_collection: str | None
    names: list[str]
    change_id: int | None
    status: str
    from_recipe: dict[str, Any]
    recipe: dict[str, Any]
    job: dict[str, Any]
    notices: list[str]


class GcResult(TypedDict):
    """``gc``: the retired collections removed (or that would be)."""

    removed: list[dict[str, Any]]
    dry_run: bool
    bytes: int


class Forgotten(TypedDict):
    """``forget``: what was deleted (or would be, for a dry run)."""

    project: str | None
    collections: list[str]
    names: list[str]
    points: int
    notes: int
    status: str
    change_id: int | None


class NoteDeleted(TypedDict):
    """``delete_note``: the note deleted and how many chunks it had."""

    id: str
    collection: str
    chunks: int


class Ping(TypedDict):
    """``ping``: the workspace answers."""

    ok: bool
    engine: str


# -- overview: what the dashboard shows (ops/overview.py) ---------------------------------------


class ProjectName(TypedDict):
    """One name of a project: which rule made it and whether it reaches the data."""

    name: str
    kind: str  # "path", "remote", "collection" (an adopted collection's own name) or "other"
    current: bool
    reachable: bool


class IndexState(TypedDict):
    """How complete a project's index is; ``None`` where wqm does not track it (yet)."""

    state: str  # "indexed", "empty" or "data_gone"
    building: bool | None
    stale: bool | None
    watcher: bool | None


class ProjectOverview(TypedDict):
    """``projects_overview``: one project the registry knows, its names and its data."""

    project_root: str
    root_exists: bool
    physical_collection: str
    current_name: str | None
    canonical_remote: str | None
    names: list[ProjectName]
    recipe: str | None
    points: int
    files: int
    notes: int
    index: IndexState
    created_at: str
    updated_at: str


class GraphName(TypedDict):
    """A name in the alias graph and the collection it reaches (or was registered to)."""

    name: str
    collection: str | None
    kind: str
    registered: bool
    in_qdrant: bool
    created_by: str | None
    hit_count: int
    last_used_at: str | None
    stale: bool


class GraphCollection(TypedDict):
    """A physical collection in the alias graph; ``reachable`` False: no name reaches it."""

    name: str
    exists: bool
    points: int | None
    project_root: str | None
    names: list[str]
    reachable: bool


class AliasGraph(TypedDict):
    """``alias_graph``: every name and every collection, including those no name reaches."""

    names: list[GraphName]
    collections: list[GraphCollection]


class NameUsage(TypedDict):
    """One alias's searches per UTC day (aligned with ``AliasUsage.days``) and last use."""

    name: str
    collection_name: str
    hit_count: int
    last_used_at: str | None
    created_at: str | None
    unused_days: int
    stale: bool
    per_day: list[int]


class AliasUsage(TypedDict):
    """``alias_usage``: hits per name and day; ``stale`` by the rule of ``stale_aliases``."""

    days: list[str]
    stale_days: int
    names: list[NameUsage]


class TimelineStep(TypedDict):
    """One alias moved by a change."""

    alias: str
    action: str
    before: str | None
    after: str | None


class TimelineEntry(TypedDict):
    """One recorded alias change (or a group of doctor repairs) with its fate."""

    change_id: int | None
    at: str
    finished_at: str | None
    status: str
    kind: str
    actor: str
    reason: str | None
    steps: list[TimelineStep]
    undo_of: int | None
    undone_by: int | None
    undo_target: bool


class AliasTimeline(TypedDict):
    """``alias_timeline``: changes newest first, and the one ``undo`` would revert now."""

    undo_change_id: int | None
    entries: list[TimelineEntry]


class RegistryVersion(TypedDict):
    """``registry_version``: counters that move whenever names, history or usage change."""

    alias_generation: int
    last_change_id: int
    last_event_id: int
    usage_hits: int


class CollectionPoints(TypedDict):
    """Points held by one physical collection."""

    collection: str
    project_root: str | None
    points: int


class NameHits(TypedDict):
    """Searches through one name since it was made."""

    name: str
    hits: int


class RegistryMetrics(TypedDict):
    """``registry_metrics``: the workspace's counts for monitoring (``/metrics``)."""

    aliases: int
    aliases_in_qdrant: int
    projects: int
    collections: int
    points: list[CollectionPoints]
    hits: list[NameHits]
    events_by_action: dict[str, int]
    changes_by_status: dict[str, int]
    repairs_by_action: dict[str, int]
    recovered_completed: int
    alias_generation: int


__all__ = [
    "AliasGraph",
    "AliasInfo",
    "AliasRow",
    "AliasTimeline",
    "AliasUsage",
    "CollectionPoints",
    "DoctorReport",
    "Forgotten",
    "GcResult",
    "GraphCollection",
    "GraphName",
    "HistoryEvent",
    "IndexStarted",
    "IndexState",
    "IngestResult",
    "ListedAlias",
    "NameHits",
    "NameState",
    "NameUsage",
    "NoteDeleted",
    "NoteStored",
    "Ping",
    "ProblemRow",
    "ProjectName",
    "ProjectOverview",
    "RegistryMetrics",
    "RegistryVersion",
    "ReindexResult",
    "RemoveResult",
    "RequestOutcome",
    "RetiredIndex",
    "Retrieved",
    "RetrievedChunk",
    "SearchHit",
    "SearchResult",
    "SkippedFile",
    "StaleAlias",
    "StatusResult",
    "SwitchResult",
    "SwitchedAlias",
    "TimelineEntry",
    "TimelineStep",
    "UndoResult",
    "WatchResult",
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
