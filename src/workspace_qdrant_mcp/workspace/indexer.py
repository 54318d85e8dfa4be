"""Keep a project's index in step with its files: keywords at once, meaning right after.

A sync runs in phases, each safe to interrupt (a crash, SIGKILL, a stopping
service) because the next sync redoes exactly what is missing:

``scan``
    Which files count (``ingest/walker``: what git would not ignore), and which
    of them changed. A file whose size and mtime match what this checkout
    recorded (``core/index_registry``) and whose points Qdrant holds complete,
    under the collection's recipe, is not even read; otherwise it is read and
    its content hash decides. Qdrant is the truth about which points exist.
``keywords``
    Every changed file is chunked and written with its BM25 vector only: cheap,
    so a fresh project is searchable by keyword within seconds. A file's new
    points are written before its old ones are deleted, so a search sees the old
    version, both, or the new one, never nothing.
``dense``
    The dense vectors are filled in (``update_vectors``) for every point that
    lacks one, in batches, embedding the next batch while the last is written;
    a chunk with a symbol gets its symbol vector in the same write (under a
    recipe that has one: ``ingest/symbols.py``).
    Until then hybrid search still finds those points by keyword (fusion of two
    prefetches), and the index reports itself as partial.
``clean``
    Files that are gone, ignored or no longer indexable leave the index, except
    versions another checkout of the same collection still has (two clones of
    one remote share its name and must not delete each other's files).

``only`` restricts a sync to some paths (the watcher's batches); the scan then
lists the tree once (git decides what is ignored) and reads only those paths.

``interleave`` lets a long sync hand over between two batches of its keyword
and dense passes: the project's job runs the sync of files saved meanwhile
right there (``JobManager.run_queued_now``), so an edit made while a big
project is indexed is searchable in seconds. Paths synced that way are left
alone by this sync's clean step (its view of them is older).
"""

from __future__ import annotations

import contextlib
import os
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qdrant_client import models as qm

from ..core import schema, store
from ..core.errors import StoreError
from ..core.index_registry import FileState, IndexRegistry
from ..core.local_accel import tune_embedded_storage
from ..core.recipe import IndexRecipe
from ..core.state import utc_now
from ..ingest import walker
from ..ingest.chunker import language_of
from ..ingest.symbols import symbol_names, symbol_text
from .gates import write_gate
from .models import TextChunk, embedding_text
from .points import chunk_point_id, file_filter
from .routing import Route
from .workspace import Workspace

Progress = Callable[[dict[str, Any]], None]
#: Runs the syncs queued for the project now; returns the paths they covered.
Interleave = Callable[[], set[str]]

#: Chunks written per keyword batch, and embedded per dense batch.
KEYWORD_BATCH = 128
DENSE_BATCH = 32
#: ...and at most this many characters per batch, so memory does not grow with the input.
BATCH_CHARS = 256 * 1024
#: Points read per scroll page when listing what is indexed.
SCROLL_PAGE = 2048
#: Point ids per delete call.
DELETE_BATCH = 1024
#: Skipped files reported one by one (the rest are only counted).
MAX_SKIP_DETAILS = 100
#: Reasons worth naming file by file (binaries and vendored files are only counted).
DETAILED_REASONS = {walker.SKIP_NOT_UTF8, walker.SKIP_TOO_LARGE, walker.SKIP_UNREADABLE,
                    walker.SKIP_NAME_NOT_UTF8}
_INDEXED_FIELDS = ["path", "content_hash", "chunk_count", "recipe"]


@dataclass
class Indexed:
    """What Qdrant holds for one path: point count per (hash, recipe) and the ids."""

    counts: Counter[tuple[str, str | None]] = field(default_factory=Counter)
    expected: dict[str, int] = field(default_factory=dict)
    ids: dict[str, set[str]] = field(default_factory=dict)

    def complete_at(self, content_hash: str, recipe_id: str | None) -> bool:
        """True when every chunk of this version, and nothing else, is there, of this recipe."""
        return (set(self.counts) == {(content_hash, recipe_id)}
                and self.expected.get(content_hash) == self.counts[(content_hash, recipe_id)])

    def all_ids(self) -> set[str]:
        return {i for ids in self.ids.values() for i in ids}


@dataclass
class SyncReport:
    """What a sync did (the counters of ``ingest``'s result)."""

    files_seen: int = 0
    files_indexed: int = 0
    files_unchanged: int = 0
    files_deleted: int = 0
    chunks_written: int = 0
    chunks_dense: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    skip_details: list[dict[str, str]] = field(default_factory=list)
    git: bool = False
    seconds: float = 0.0

    def skip(self, path: str, reason: str, detail: str | None) -> None:
        self.skipped[reason] += 1
        if reason in DETAILED_REASONS and len(self.skip_details) < MAX_SKIP_DETAILS:
            self.skip_details.append({"path": path, "reason": reason, "detail": detail or ""})


class Indexer:
    """Brings one checkout's files into one collection, under that collection's recipe.

    ``route`` is how the collection is reached: the project's logical name for a
    live index (re-routed if an alias switch removes it mid-sync), or a physical
    name for a collection being built by a reindex (no name reaches it yet).
    """

    def __init__(
        self,
        ws: Workspace,
        route: Route,
        physical: str,
        checkout: str,
        recipe: IndexRecipe,
        *,
        project_id: int | None = None,
        progress: Progress | None = None,
        interleave: Interleave | None = None,
    ) -> None:
        self.ws = ws
        self.route = route
        self.physical = physical
        self.checkout = checkout
        self.recipe = recipe
        self.project_id = project_id
        self.emit: Progress = progress or (lambda _event: None)
        self._interleave = interleave
        #: Paths synced in between by ``interleave`` (this sync's clean step skips them).
        self.touched: set[str] = set()
        self.registry = IndexRegistry(ws.state)
        self.chunker = ws.models.chunker(recipe)
        self.report = SyncReport()
        #: Writes through a project's names hold the gate of its collection, so a rebuild's
        #: last catch-up and switch see no write land in the old collection meanwhile.
        self.gate = write_gate(physical) if route.ctx is not None else contextlib.nullcontext()

    def _write(self, fn: Callable[[str], Any]) -> Any:
        """One write through the route, under the collection's write gate."""
        with self.gate:
            return self.route.run(fn)

    # -- the sync ---------------------------------------------------------------------------

    def sync(self, only: Iterable[str] | None = None) -> SyncReport:
        """Bring the index in step with the files (all, or ``only`` these relative paths)."""
        started = time.perf_counter()
        root = self.checkout
        # The embedded engine commits each point on its own: without WAL every one is an fsync.
        self.route.run(lambda name: tune_embedded_storage(self.ws.client, name))
        listing = walker.walk(Path(root))
        self.report.git = listing.git
        self.report.skipped.update(listing.skipped)
        for name in listing.bad_names[:MAX_SKIP_DETAILS]:
            self.report.skip_details.append({
                "path": name, "reason": walker.SKIP_NAME_NOT_UTF8,
                "detail": "the file name is not valid UTF-8; rename it"})
        wanted = self._folders_expanded(set(only), listing.files) if only is not None else None
        candidates = listing.files if wanted is None else [p for p in listing.files if p in wanted]
        self.report.files_seen = len(listing.files) + sum(listing.skipped.values())
        self.emit({"phase": "scan", "root": root, "files": len(candidates)})

        indexed = self.route.run(lambda name: self._indexed(name, wanted))
        recorded = (self.registry.files(self.physical, self.checkout) if wanted is None
                    else self.registry.file_states(self.physical, self.checkout, sorted(wanted)))
        present, changed = self._scan(candidates, indexed, recorded)
        self.emit({"phase": "plan", "files": len(candidates), "changed": len(changed),
                   "unchanged": self.report.files_unchanged,
                   "total": len(changed)})

        elsewhere = self._kept_elsewhere()
        written = self._keywords(changed, indexed, elsewhere)
        backlog = self._missing_dense() if wanted is None else written
        self._dense(backlog)

        scope = set(indexed) | set(recorded)
        gone = scope - present if wanted is None else (wanted & scope) - present
        gone -= self.touched
        self.emit({"phase": "clean", "deleted": len(gone)})
        self._remove(gone, indexed, set(recorded), elsewhere)
        self.report.seconds = round(time.perf_counter() - started, 3)
        self.emit({"phase": "done", "files_indexed": self.report.files_indexed,
                   "chunks_written": self.report.chunks_written})
        return self.report

    def _folders_expanded(self, wanted: set[str], listed: list[str]) -> set[str]:
        """``wanted`` plus every listed or indexed file under a wanted path that is a folder.

        A folder renamed, moved or deleted is one file-system event naming the folder,
        never its files (and a folder made and filled at once may report only itself),
        so a wanted path that is no listed file may stand for a whole subtree.
        """
        listed_set = set(listed)
        if wanted <= listed_set:
            return wanted  # plain file saves: the common case costs nothing more
        known = listed_set | set(self.registry.files(self.physical, self.checkout))
        expanded = set(wanted)
        for path in known - wanted:
            parts = path.split("/")
            if any("/".join(parts[:depth]) in wanted for depth in range(1, len(parts))):
                expanded.add(path)
        return expanded

    def _scan(
        self, candidates: Sequence[str], indexed: dict[str, Indexed],
        recorded: dict[str, FileState],
    ) -> tuple[set[str], list[str]]:
        """Which candidates are present, and which changed (the unchanged are recorded)."""
        present: set[str] = set()
        changed: list[str] = []
        refreshed: list[FileState] = []
        root = Path(self.checkout)
        for rel in candidates:
            self.ws.check_stopping("the index")
            try:
                info = os.stat(root / rel)
            except OSError:
                continue  # gone since the listing
            known, points = recorded.get(rel), indexed.get(rel)
            if (known is not None and points is not None and known.size == info.st_size
                    and known.mtime_ns == info.st_mtime_ns
                    and points.complete_at(known.content_hash, self.recipe.id)):
                present.add(rel)
                self.report.files_unchanged += 1
                continue
            read = walker.read_file(root / rel, self.ws.settings.max_file_bytes)
            if read.text is None or read.content_hash is None:
                self.report.skip(rel, read.reason or walker.SKIP_UNREADABLE, read.detail)
                continue
            present.add(rel)
            if points is not None and points.complete_at(read.content_hash, self.recipe.id):
                self.report.files_unchanged += 1
                refreshed.append(FileState(rel, read.content_hash, info.st_size,
                                           info.st_mtime_ns, points.expected.get(
                                               read.content_hash, 0), utc_now()))
                continue
            changed.append(rel)
        self.registry.put_files(self.physical, self.checkout, refreshed)
        return present, changed

    def _kept_elsewhere(self) -> set[tuple[str, str]]:
        """(path, content hash) versions other checkouts of the collection still index.

        A checkout whose folder is gone (a project that moved, a clone deleted)
        holds nothing: its records are dropped, or a file deleted here would keep
        its chunks forever because the dead checkout once indexed that version.
        """
        for checkout in self.registry.checkouts(self.physical):
            if checkout != self.checkout and not os.path.isdir(checkout):
                self.registry.drop_checkout(self.physical, checkout)
        return self.registry.wanted_elsewhere(self.physical, self.checkout)

    # -- keywords ---------------------------------------------------------------------------

    def _keywords(
        self, changed: list[str], indexed: dict[str, Indexed], elsewhere: set[tuple[str, str]]
    ) -> list[str]:
        """Write the changed files' chunks with BM25 vectors; returns the ids written."""
        written: list[str] = []
        batch: list[tuple[str, TextChunk, dict[str, Any]]] = []
        finished: list[tuple[str, FileState, set[str]]] = []
        chars = 0
        root = Path(self.checkout)
        done = 0
        for rel in changed:
            self.ws.check_stopping("the index")
            try:
                info = os.stat(root / rel)
            except OSError:
                continue
            read = walker.read_file(root / rel, self.ws.settings.max_file_bytes)
            if read.text is None or read.content_hash is None:  # changed under our feet
                self.report.skip(rel, read.reason or walker.SKIP_UNREADABLE, read.detail)
                continue
            chunks = self.chunker(rel, read.text)
            digest = read.content_hash
            for chunk in chunks:
                batch.append((rel, chunk, self._payload(rel, chunk, digest, len(chunks))))
                chars += len(chunk.content)
            old = indexed.get(rel)
            stale = set()
            if old is not None:
                stale = {i for h, ids in old.ids.items() if (rel, h) not in elsewhere
                         for i in ids}
            new_ids = {chunk_point_id(rel, c.index, digest) for c in chunks}
            finished.append((rel, FileState(rel, digest, info.st_size, info.st_mtime_ns,
                                            len(chunks), utc_now()), stale - new_ids))
            if len(batch) >= KEYWORD_BATCH or chars >= BATCH_CHARS:
                written += self._write_keywords(batch)
                done += len(finished)
                self._finish(finished)
                batch, finished, chars = [], [], 0
                self.emit({"phase": "keywords", "done": done, "total": len(changed)})
                self.hand_over()
        if batch or finished:
            written += self._write_keywords(batch)
            done += len(finished)
            self._finish(finished)
            self.emit({"phase": "keywords", "done": done, "total": len(changed)})
        return written

    def hand_over(self) -> None:
        """Between two batches: let syncs of files saved meanwhile run now (``interleave``)."""
        if self._interleave is not None:
            self.touched |= self._interleave()

    def _payload(self, rel: str, chunk: TextChunk, digest: str, count: int) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "path": rel,
            "language": language_of(rel),
            "start_line": chunk.start_line,
            "end_line": chunk.end_line,
            "content": chunk.content,
            "content_hash": digest,
            "chunk_index": chunk.index,
            "chunk_count": count,
            "project_id": self.project_id,
            "source": schema.SOURCE_FILE,
            "recipe": self.recipe.id,
            "context": chunk.header,
        }
        if chunk.symbol is not None:
            payload["symbol"] = chunk.symbol
            payload["symbols"] = list(chunk.symbols)
            payload["kind"] = chunk.kind
            if self.recipe.payload >= 4:  # the forms the symbol filter matches
                payload["symbol_names"] = symbol_names(chunk.symbols)
        if chunk.start_col is not None:  # a piece of an overlong line
            payload["start_col"], payload["end_col"] = chunk.start_col, chunk.end_col
        return payload

    def _write_keywords(self, batch: list[tuple[str, TextChunk, dict[str, Any]]]) -> list[str]:
        if not batch:
            return []
        texts = [embedding_text(chunk.header, chunk.content) for _, chunk, _ in batch]
        vectors = self.ws.models.sparse(self.recipe).embed_documents(texts)
        points = [
            qm.PointStruct(
                id=chunk_point_id(rel, chunk.index, payload["content_hash"]),
                vector={schema.SPARSE_VECTOR: qm.SparseVector(
                    indices=list(vec.indices), values=list(vec.values))},
                payload=payload,
            )
            for (rel, chunk, payload), vec in zip(batch, vectors, strict=True)
        ]
        client = self.ws.client
        self._write(lambda name: store.call(
            client, f"write chunks to {name}",
            lambda: client.upsert(name, points=points, wait=True)))
        self.report.chunks_written += len(points)
        return [str(p.id) for p in points]

    def _finish(self, finished: list[tuple[str, FileState, set[str]]]) -> None:
        """Files whose new points are all written: drop their old points, record them."""
        self._delete(set().union(*(stale for _, _, stale in finished)) if finished else set(),
                     "remove old chunks")
        self.registry.put_files(self.physical, self.checkout, [s for _, s, _ in finished])
        self.report.files_indexed += len(finished)

    # -- dense ------------------------------------------------------------------------------

    def _missing_dense(self) -> list[str]:
        """Ids of the collection's points that have no dense vector yet (any source)."""
        client = self.ws.client
        missing = qm.Filter(must_not=[qm.HasVectorCondition(has_vector=schema.DENSE_VECTOR)])
        ids: list[str] = []
        offset: Any = None
        while True:
            def page(name: str, start: Any = offset) -> tuple[list[qm.Record], Any]:
                with store.guarded(client, f"list the points of {name} still to embed"):
                    return client.scroll(name, scroll_filter=missing, limit=SCROLL_PAGE,
                                         offset=start, with_payload=False, with_vectors=False)
            records, offset = self.route.run(page)
            ids.extend(str(r.id) for r in records)
            if offset is None:
                return ids

    def _dense(self, ids: list[str]) -> None:
        """Fill in dense vectors, embedding the next batch while the last one is written."""
        total = len(ids)
        self.emit({"phase": "embed", "done": 0, "total": total})
        if not ids:
            return
        done = 0
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="wqm-embed") as pool:
            pending: Future[list[qm.PointVectors]] | None = None
            for batch in self._dense_batches(ids):
                self.ws.check_stopping("the index")
                future = pool.submit(self._embed_batch, batch)
                if pending is not None:
                    done += self._write_dense(pending.result())
                    self.emit({"phase": "embed", "done": done, "total": total})
                    self.hand_over()
                pending = future
            if pending is not None:
                done += self._write_dense(pending.result())
                self.emit({"phase": "embed", "done": done, "total": total})

    def _dense_batches(self, ids: list[str]) -> Iterator[list[qm.Record]]:
        client = self.ws.client
        for start in range(0, len(ids), DENSE_BATCH):
            part: list[qm.ExtendedPointId] = list(ids[start:start + DENSE_BATCH])

            def read(name: str, wanted: list[qm.ExtendedPointId] = part) -> list[qm.Record]:
                return store.call(client, f"read chunks of {name}", lambda: client.retrieve(
                    name, ids=wanted, with_payload=["content", "context", "path", "symbol"],
                    with_vectors=False))
            records = self.route.run(read)
            if records:
                yield records

    def _embed_batch(self, records: list[qm.Record]) -> list[qm.PointVectors]:
        """The dense vectors of a batch: each chunk's, and its symbol's where it has one.

        Both kinds of text go through one embedding call (the embedder sorts by
        length, so the short symbol texts batch together).
        """
        texts: list[str] = []
        symbols: list[tuple[int, str]] = []  # (record index, symbol text)
        for i, record in enumerate(records):
            payload = record.payload or {}
            header = payload.get("context")
            texts.append(embedding_text(str(header if header is not None else
                                            payload.get("path", "")),
                                        str(payload.get("content", ""))))
            symbol = payload.get("symbol")
            if self.recipe.symbol is not None and isinstance(symbol, str) and symbol:
                symbols.append((i, symbol_text(symbol, str(payload.get("content", "")))))
        vectors = self.ws.models.embed_dense(self.recipe, texts + [t for _, t in symbols])
        named: list[dict[str, Any]] = [{schema.DENSE_VECTOR: v} for v in vectors[:len(texts)]]
        for (i, _), vector in zip(symbols, vectors[len(texts):], strict=True):
            named[i][schema.SYMBOL_VECTOR] = vector
        return [qm.PointVectors(id=str(r.id), vector=v)
                for r, v in zip(records, named, strict=True)]

    def _write_dense(self, points: list[qm.PointVectors]) -> int:
        """Write a batch of dense (and symbol) vectors; returns how many points it covered."""
        covered = len(points)
        try:
            self._update_vectors(points)
        except StoreError:
            # A point deleted since it was read (its file changed again) fails the whole call:
            # write the ones that still exist. Any other failure fails again and is raised,
            # never swallowed (an engine that cannot write vectors must not look complete).
            alive = self._existing([str(p.id) for p in points])
            points = [p for p in points if str(p.id) in alive]
            if points:
                self._update_vectors(points)
        self.report.chunks_dense += len(points)
        return covered

    def _existing(self, ids: list[str]) -> set[str]:
        """Which of ``ids`` are points of the collection now."""
        client = self.ws.client
        wanted: list[qm.ExtendedPointId] = list(ids)
        records = self.route.run(lambda name: store.call(
            client, f"read chunks of {name}", lambda: client.retrieve(
                name, ids=wanted, with_payload=False, with_vectors=False)))
        return {str(r.id) for r in records}

    def _update_vectors(self, points: list[qm.PointVectors]) -> None:
        client = self.ws.client
        self._write(lambda name: store.call(
            client, f"write dense vectors to {name}",
            lambda: client.update_vectors(name, points=points, wait=True)))

    # -- clean ------------------------------------------------------------------------------

    def _remove(self, gone: set[str], indexed: dict[str, Indexed], mine: set[str],
                elsewhere: set[tuple[str, str]]) -> None:
        """Remove what left this checkout; counts only files this checkout had or lost points.

        A file only another checkout has (two clones of one remote) is neither
        deleted nor counted: reporting it as removed on every ingest would say
        this clone deleted the other's work.
        """
        ids: set[str] = set()
        removed = 0
        for path in gone:
            entry = indexed.get(path)
            doomed = set() if entry is None else {
                i for h, group in entry.ids.items() if (path, h) not in elsewhere for i in group}
            ids |= doomed
            removed += bool(doomed or path in mine)
        self._delete(ids, "remove deleted files")
        self.registry.drop_files(self.physical, self.checkout, gone)
        self.report.files_deleted += removed

    def _delete(self, ids: set[str], what: str) -> None:
        """Delete points by id (by id, not filter: a filter is O(points) in local mode)."""
        ordered = sorted(ids)
        client = self.ws.client
        for start in range(0, len(ordered), DELETE_BATCH):
            part: list[qm.ExtendedPointId] = list(ordered[start:start + DELETE_BATCH])
            selector = qm.PointIdsList(points=part)
            self._write(lambda name, sel=selector: store.call(  # type: ignore[misc]
                client, what, lambda: client.delete(name, points_selector=sel, wait=True)))

    # -- reading the index ------------------------------------------------------------------

    def _indexed(self, name: str, paths: set[str] | None) -> dict[str, Indexed]:
        return indexed_files(self.ws, name, paths)


def indexed_files(ws: Workspace, name: str, paths: set[str] | None = None) -> dict[str, Indexed]:
    """What Qdrant holds under ``name``: path -> versions (payload only; all files, or some)."""
    client = ws.client
    conditions: list[qm.Condition] = list(file_filter().must or [])  # type: ignore[arg-type]
    if paths is not None:
        if not paths:
            return {}
        conditions.append(qm.FieldCondition(key="path", match=qm.MatchAny(any=sorted(paths))))
    flt = qm.Filter(must=conditions)
    found: dict[str, Indexed] = {}
    offset: Any = None
    while True:
        with store.guarded(client, f"list the indexed files of {name}"):
            records, offset = client.scroll(name, scroll_filter=flt, limit=SCROLL_PAGE,
                                            offset=offset, with_payload=_INDEXED_FIELDS,
                                            with_vectors=False)
        for record in records:
            payload = record.payload or {}
            path, digest = payload.get("path"), payload.get("content_hash")
            if not isinstance(path, str) or not isinstance(digest, str):
                continue
            recipe = payload.get("recipe")
            entry = found.setdefault(path, Indexed())
            entry.counts[(digest, recipe if isinstance(recipe, str) else None)] += 1
            entry.ids.setdefault(digest, set()).add(str(record.id))
            if isinstance(payload.get("chunk_count"), int):
                entry.expected[digest] = payload["chunk_count"]
        if offset is None:
            return found


__all__ = ["Indexed", "Indexer", "Interleave", "SyncReport", "indexed_files"]
