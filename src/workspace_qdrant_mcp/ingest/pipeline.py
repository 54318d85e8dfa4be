"""Incremental ingestion: make a project's index mirror its files, embedding only what changed.

Qdrant is the truth about what is indexed: before embedding anything we scroll
the ``path``/``content_hash``/``chunk_count`` payload of the project's file
points (no vectors), so there is no second bookkeeping store to drift. A file
is unchanged when all of its ``chunk_count`` points carry its current hash and
nothing else does; a run interrupted half-way through a file leaves a mix that
fails this test, so the next run redoes that file.

Per-file atomicity without transactions: a changed file's new chunks are
upserted first, then the points that path had before (ids from the scroll)
and that are not among the new ones are deleted. A search during the update sees the old version, both, or
the new one, never nothing. Deleted (or newly skipped) files are removed last.
Only ``source == "file"`` points are touched, so notes survive any ingest.

Point ids are ``uuid5(path, chunk index, content hash)``: independent of the
project's names and physical collection, so re-running (or re-running after a
rename of the project) writes the same points. Writes go through the project's
LOGICAL name, resolved by Qdrant atomically with alias switches (DESIGN.md §2).
"""

from __future__ import annotations

import sqlite3
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from qdrant_client import models as qm

from ..core import schema, store
from ..core.errors import InvalidArgument
from ..core.projects import ProjectContext, ensure_project_collection
from . import walker
from .chunker import Chunk, chunk_text, language_of

if TYPE_CHECKING:
    from ..api import Workspace

Progress = Callable[[dict[str, Any]], None]

#: Chunks embedded (and upserted) per call: large enough to keep the model busy.
BATCH_SIZE = 64
#: Points read per scroll page when listing what is indexed.
SCROLL_PAGE = 2048
#: Point ids per delete call.
DELETE_BATCH = 1024
#: Skipped files reported one by one (the rest are only counted).
MAX_SKIP_DETAILS = 100
#: Reasons worth naming file by file (binaries and vendored files are only counted).
DETAILED_REASONS = {walker.SKIP_NOT_UTF8, walker.SKIP_TOO_LARGE, walker.SKIP_UNREADABLE}

_ID_NAMESPACE = uuid.UUID("6f1d1f4e-4c1b-5b8e-9a51-7a6b0f0e3c21")


def chunk_point_id(path: str, chunk_index: int, content_hash: str) -> str:
    """The deterministic id of a file chunk (same file content, same id, in any collection)."""
    return str(uuid.uuid5(_ID_NAMESPACE, f"file\0{path}\0{chunk_index}\0{content_hash}"))


def embedding_text(path: str, content: str) -> str:
    """What the models read for a chunk: its path (names carry meaning) then its lines."""
    return f"{path}\n{content}"


def target_name(ctx: ProjectContext) -> str:
    """The logical name to send to Qdrant for a project that has data."""
    if ctx.current_reachable:
        return ctx.current_name
    if ctx.names:
        return ctx.names[0]
    assert ctx.physical is not None
    return ctx.physical  # an adopted collection with no other name


def file_filter() -> qm.Filter:
    """A filter on file points (never notes)."""
    source = qm.FieldCondition(key="source", match=qm.MatchValue(value=schema.SOURCE_FILE))
    return qm.Filter(must=[source])


def make_points(
    ws: Workspace, ids: Sequence[str], texts: Sequence[str], payloads: Sequence[dict[str, Any]]
) -> list[qm.PointStruct]:
    """Embed ``texts`` with both models and pair them with ids and payloads."""
    dense = ws.dense.embed(list(texts))
    sparse = ws.sparse.embed_documents(list(texts))
    return [
        qm.PointStruct(
            id=pid,
            vector={
                schema.DENSE_VECTOR: dense[i].tolist(),
                schema.SPARSE_VECTOR: qm.SparseVector(
                    indices=list(sparse[i].indices), values=list(sparse[i].values)
                ),
            },
            payload=payloads[i],
        )
        for i, pid in enumerate(ids)
    ]


@dataclass
class _Indexed:
    """What Qdrant holds for one path: point count per content hash, and the expected count."""

    counts: Counter[str] = field(default_factory=Counter)
    expected: dict[str, int] = field(default_factory=dict)
    ids: set[str] = field(default_factory=set)

    def complete_at(self, content_hash: str) -> bool:
        return (
            set(self.counts) == {content_hash}
            and self.expected.get(content_hash) == self.counts[content_hash]
        )


def indexed_files(ws: Workspace, name: str) -> dict[str, _Indexed]:
    """Scroll the file points of ``name`` (payload only) into path -> what is indexed."""
    client = ws.client
    found: dict[str, _Indexed] = {}
    offset: Any = None
    while True:
        with store.guarded(client, f"list the indexed files of {name}"):
            records, offset = client.scroll(
                name,
                scroll_filter=file_filter(),
                limit=SCROLL_PAGE,
                offset=offset,
                with_payload=["path", "content_hash", "chunk_count"],
                with_vectors=False,
            )
        for record in records:
            payload = record.payload or {}
            path, digest = payload.get("path"), payload.get("content_hash")
            if not isinstance(path, str) or not isinstance(digest, str):
                continue
            entry = found.setdefault(path, _Indexed())
            entry.counts[digest] += 1
            entry.ids.add(str(record.id))
            if isinstance(payload.get("chunk_count"), int):
                entry.expected[digest] = payload["chunk_count"]
        if offset is None:
            return found


@dataclass
class _FileJob:
    """A file whose chunks are being written; its stale points go once all are upserted."""

    path: str
    ids: list[str]
    remaining: int
    old_ids: set[str]


class _Run:
    """State of one ingest run (counters, pending batch, progress)."""

    def __init__(self, ws: Workspace, ctx: ProjectContext, progress: Progress | None) -> None:
        self.ws = ws
        self.ctx = ctx
        self.name = target_name(ctx)
        self.indexed: dict[str, _Indexed] = {}
        self.emit: Progress = progress or (lambda _event: None)
        self.skipped: Counter[str] = Counter()
        self.skip_details: list[dict[str, str]] = []
        self.batch: list[tuple[_FileJob, Chunk, dict[str, Any]]] = []
        self.chunks_written = 0
        self.chunks_total = 0
        self.files_done = 0
        self.files_total = 0

    def skip(self, path: str, reason: str, detail: str | None) -> None:
        self.skipped[reason] += 1
        if reason in DETAILED_REASONS and len(self.skip_details) < MAX_SKIP_DETAILS:
            self.skip_details.append({"path": path, "reason": reason, "detail": detail or ""})

    def add_file(self, path: str, digest: str, chunks: list[Chunk]) -> None:
        before = self.indexed.get(path)
        job = _FileJob(path, [chunk_point_id(path, c.index, digest) for c in chunks], len(chunks),
                       before.ids if before else set())
        language = language_of(path)
        for chunk in chunks:
            payload = {
                "path": path,
                "language": language,
                "start_line": chunk.start_line,
                "end_line": chunk.end_line,
                "content": chunk.content,
                "content_hash": digest,
                "chunk_index": chunk.index,
                "chunk_count": len(chunks),
                "project_id": self.ctx.project_id,
                "source": schema.SOURCE_FILE,
            }
            self.batch.append((job, chunk, payload))
            if len(self.batch) >= BATCH_SIZE:
                self.flush()

    def flush(self) -> None:
        if not self.batch:
            return
        batch, self.batch = self.batch, []
        points = make_points(
            self.ws,
            [job.ids[chunk.index] for job, chunk, _ in batch],
            [embedding_text(job.path, chunk.content) for job, chunk, _ in batch],
            [payload for _, _, payload in batch],
        )
        client, name = self.ws.client, self.name
        store.call(client, f"write chunks to {name}",
                   lambda: client.upsert(name, points=points, wait=True))
        self.chunks_written += len(points)
        for job, _, _ in batch:
            job.remaining -= 1
            if job.remaining == 0:
                self.drop_stale(job)
                self.files_done += 1
        self.emit({"phase": "embed", "done": self.chunks_written, "total": self.chunks_total,
                   "files_done": self.files_done, "files_total": self.files_total})

    def drop_stale(self, job: _FileJob) -> None:
        """Delete the points ``job.path`` had before this run that are not its new chunks."""
        self.delete_ids(job.old_ids - set(job.ids), f"remove old chunks of {job.path}")

    def delete_ids(self, ids: Iterable[str], what: str) -> None:
        """Delete points by id (ids come from the scroll at the start of the run).

        By id rather than by a path filter: the embedded engine evaluates a filter
        over every point in Python, which made per-file deletes quadratic.
        """
        ordered = sorted(ids)
        client, name = self.ws.client, self.name
        for start in range(0, len(ordered), DELETE_BATCH):
            part: list[qm.ExtendedPointId] = list(ordered[start:start + DELETE_BATCH])
            with store.guarded(client, what):
                client.delete(name, points_selector=qm.PointIdsList(points=part), wait=True)


def tune_embedded_storage(ws: Workspace, name: str) -> None:
    """Let the embedded engine commit writes without an fsync each (WAL, synchronous=NORMAL).

    qdrant-client's local mode commits one SQLite transaction per point; with the
    default rollback journal each costs an fsync (~20 ms here), far more than
    embedding the point. In WAL mode with ``synchronous=NORMAL`` a commit survives
    a crash or kill of the process (only a power cut may lose the last commits,
    never consistency). Only one process opens an embedded store, so WAL's
    single-host rule holds. Best effort: an unknown client layout is left as is.
    """
    try:
        from qdrant_client.local.qdrant_local import QdrantLocal
    except ImportError:  # pragma: no cover - qdrant-client without local mode
        return
    inner = getattr(ws.client, "_client", None)
    if not isinstance(inner, QdrantLocal):
        return
    with store.client_lock(ws.client):
        try:
            collection = inner._get_collection(name)
        except (ValueError, RuntimeError):
            return
        connection = getattr(getattr(collection, "storage", None), "storage", None)
        if isinstance(connection, sqlite3.Connection):  # both pragmas are cheap no-ops when set
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=NORMAL")


def ingest(
    ws: Workspace, project_path: str | None = None, progress: Progress | None = None
) -> dict[str, Any]:
    """Index the project at ``project_path`` (default: the current project), incrementally.

    Returns counts of files seen/indexed/unchanged/deleted/skipped (with reasons),
    chunks written, seconds, the collection name and any notices.
    """
    started = time.perf_counter()
    located = ws.project(project_path)
    if located.root == Path(located.root.anchor):
        raise InvalidArgument(
            f"Refusing to index the whole file system at {located.root}; "
            "pass a project folder."
        )
    ctx = ensure_project_collection(ws.aliases, located)
    run = _Run(ws, ctx, progress)
    run.emit({"phase": "scan", "root": str(ctx.root)})
    tune_embedded_storage(ws, run.name)
    listing = walker.walk(ctx.root)
    indexed = run.indexed = indexed_files(ws, run.name)
    run.skipped.update(listing.skipped)

    # Pass 1: hash every file, find what changed, count chunks for the progress total.
    present: set[str] = set()
    changed: list[str] = []
    unchanged = 0
    for rel in listing.files:
        read = walker.read_file(ctx.root / rel, ws.settings.max_file_bytes)
        if read.text is None or read.content_hash is None:
            run.skip(rel, read.reason or walker.SKIP_UNREADABLE, read.detail)
            continue
        present.add(rel)
        entry = indexed.get(rel)
        if entry is not None and entry.complete_at(read.content_hash):
            unchanged += 1
            continue
        changed.append(rel)
        run.chunks_total += len(chunk_text(read.text))
    run.files_total = len(changed)
    run.emit({"phase": "plan", "files": len(listing.files), "changed": len(changed),
              "unchanged": unchanged, "total": run.chunks_total})

    # Pass 2: read again (texts are not kept in memory), embed in batches, write.
    indexed_now = 0
    for rel in changed:
        read = walker.read_file(ctx.root / rel, ws.settings.max_file_bytes)
        if read.text is None or read.content_hash is None:  # changed under our feet
            present.discard(rel)
            run.skip(rel, read.reason or walker.SKIP_UNREADABLE, read.detail)
            continue
        run.add_file(rel, read.content_hash, chunk_text(read.text))
        indexed_now += 1
    run.flush()

    gone = set(indexed) - present
    run.emit({"phase": "clean", "deleted": len(gone)})
    run.delete_ids((i for path in gone for i in indexed[path].ids), "remove deleted files")
    deleted = len(gone)
    seconds = time.perf_counter() - started
    skipped_total = sum(run.skipped.values())
    result = {
        "project_root": str(ctx.root),
        "collection": run.name,
        "git": listing.git,
        "files_seen": len(listing.files) + sum(listing.skipped.values()),
        "files_indexed": indexed_now,
        "files_unchanged": unchanged,
        "files_deleted": deleted,
        "files_skipped": skipped_total,
        "skipped": dict(sorted(run.skipped.items())),
        "skipped_files": run.skip_details,
        "chunks_written": run.chunks_written,
        "seconds": round(seconds, 3),
        "chunks_per_second": round(run.chunks_written / seconds, 1) if seconds > 0 else 0.0,
        "notices": list(ctx.notices),
    }
    run.emit({"phase": "done", **{k: result[k] for k in ("files_indexed", "chunks_written")}})
    return result
