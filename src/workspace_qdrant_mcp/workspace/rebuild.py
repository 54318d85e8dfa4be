"""Rebuild a project's index beside the old one, then move every name to it in one step.

The Elasticsearch reindex-and-swap, for wqm's names (DESIGN.md §2, "two
migrations, one mechanism"):

1. **build**: a new physical collection, recorded first as ``building`` (so a
   crash leaves a record, not an unknown collection) and reachable by no name,
   is filled from the project's files with the target recipe by the same
   ``Indexer`` a normal sync uses (keywords, then meaning): every checkout that
   indexed into the old collection (two clones of one remote share it), then
   every note, re-embedded from its stored text. Meanwhile every name keeps
   serving the old collection: searches, notes and syncs go on as usual.
2. **catch up**: writes made during the build reach the new collection by
   *replaying their sources*, not by dual writes: the checkouts are synced
   again into the new collection (incremental by content hash: only files
   changed since) and notes missing there are copied. Files and the old
   collection's notes are the record of every change, so nothing needs
   logging twice. The last round runs behind the old collection's write gate
   (``gates.py``): every sync batch and note written to it waits, so no write
   can land there after the final catch-up and before the switch (a write
   racing the switch waits, then goes to the new collection by name). A file
   saved after the last round read it is synced into the new collection right
   after the switch (a follow-up of the rebuild's job, ``sync.py``).
3. **verify**: every file each checkout indexed is there, complete; every note;
   a few probe queries answer. Otherwise the switch is refused, saying why.
4. **switch**: ONE alias call moves every name of the project to the new
   collection, each with a compare-and-swap precondition on its current target
   (kind ``reindex``: logged, and undone by ``wqm project undo`` in one call,
   which first carries over the notes stored since: ``undo_switch``).
5. **retire**: still behind the gate, one registry transaction records the
   new collection live, the old one ``retired`` and the project's record moved
   (``IndexRegistry.replace``). The old collection is kept for the undo window;
   ``wqm gc`` (or the retention period) removes it once no name reaches it.

A crash anywhere leaves one collection serving every name: before the switch
no name reaches the new one; the switch is an alias change settled by the
intent protocol; after it, recording it is idempotent and done by whoever sees
it first (the service at start, ``reindex``, ``doctor``, or the next write,
which finds the names on a collection its project is not recorded at yet). A
``building`` collection is resumed by the service at start or by ``reindex``
(the sync into it is incremental), discarded by the project's next rebuild if
it was of another recipe, and reported by ``doctor`` (``--fix`` removes it).
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import time
import warnings
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from qdrant_client import models as qm

from ..core import faults, schema, store
from ..core.alias_types import AliasChange
from ..core.errors import CollectionNotFound, InvalidArgument, StoreError, WqmError
from ..core.identity import detect_identity
from ..core.index_registry import BUILDING, LIVE, CollectionRecord, IndexRegistry
from ..core.naming import is_opaque_physical_name, new_physical_name
from ..core.recipe import IndexRecipe
from ..core.state import ChangeRecord
from .gates import write_gate
from .indexer import Indexed, Indexer, Progress, indexed_files
from .models import embedding_text
from .projects import ProjectContext, locate_project
from .routing import Route
from .workspace import Workspace

log = logging.getLogger(__name__)

#: Points read per page when copying notes.
NOTE_PAGE = 256
#: Free space asked beyond the old collection's size before a build starts.
SPACE_MARGIN = 1.25


class RebuildRefused(InvalidArgument):
    """A rebuild cannot start, or its result cannot be switched to."""


# -- checks before anything is built -------------------------------------------------------------


def collection_bytes(ws: Workspace, physical: str) -> int:
    """Bytes of disk the embedded store spends on ``physical`` (0 when unknown, e.g. a server).

    Blocks in use, not file lengths: an Edge shard maps files far larger than
    what it has written (226 MB long, 0.8 MB on disk for a small index), and a
    rebuild needs the space the data takes, not the length of its maps.
    """
    if ws.settings.uses_server:
        return 0
    where = getattr(ws.client, "collection_path", None)  # Edge: the shard's folder
    folder = where(physical) if where is not None else (
        ws.settings.qdrant_path / "collection" / physical)
    if folder is None or not folder.is_dir():
        return 0
    return sum(f.stat().st_blocks * 512 for f in folder.rglob("*") if f.is_file())


def check_space(ws: Workspace, physical: str) -> None:
    """Refuse a build that the disk cannot hold beside the old collection."""
    if ws.settings.uses_server:
        return
    needed = int(collection_bytes(ws, physical) * SPACE_MARGIN)
    free = shutil.disk_usage(ws.settings.data_dir).free
    if needed > free:
        raise RebuildRefused(
            f"Rebuilding needs about {megabytes(needed)} free beside the current index, and "
            f"{ws.settings.data_dir} has {megabytes(free)}; free some space and retry."
        )


def megabytes(size: int) -> str:
    """A size for a sentence: ``0.3 MB``, ``12.5 MB``, ``1,024 MB`` (never a bare ``0 MB``)."""
    return f"{size / 1e6:,.1f} MB" if size < 100e6 else f"{size / 1e6:,.0f} MB"


def check_recipe(ws: Workspace, recipe: IndexRecipe) -> None:
    """Refuse a recipe whose models cannot be loaded, or whose dimension is not theirs."""
    if not ws.models.producible(recipe):
        raise RebuildRefused(
            f"This wqm cannot build the recipe {recipe.id} ({recipe.dense}, {recipe.chunker}); "
            "rebuild with the current recipe."
        )
    try:
        vectors = ws.models.embed_dense(recipe, ["probe"])
    except WqmError as exc:
        # The model's error is already a sentence with its way out; say what it stopped.
        raise RebuildRefused(f"{exc} Nothing was rebuilt.") from None
    if len(vectors[0]) != recipe.dense_dim:
        raise RebuildRefused(
            f"The recipe says {recipe.dense_dim} dimensions but its model gives "
            f"{len(vectors[0])}; nothing was built."
        )


# -- the rebuild ---------------------------------------------------------------------------------


class Rebuild:
    """One rebuild of one project's index (resumable: its target is recorded first)."""

    def __init__(self, ws: Workspace, ctx: ProjectContext, recipe: IndexRecipe,
                 progress: Progress | None = None) -> None:
        if ctx.physical is None:
            raise CollectionNotFound(
                f"The project at {ctx.root} has no index, so there is nothing to rebuild; "
                "`wqm ingest` indexes it."
            )
        if not is_opaque_physical_name(ctx.physical):
            raise RebuildRefused(
                f"The project's data lives in {ctx.physical}, a collection named like a project "
                "(made by an older tool); its own name cannot be moved, so it cannot be rebuilt "
                "in place."
            )
        self.ws = ws
        self.ctx = ctx
        self.old = ctx.physical
        self.recipe = recipe
        self.emit: Progress = progress or (lambda _event: None)
        self.registry = IndexRegistry(ws.state)
        self.root = str(ctx.root)
        #: Every checkout that indexed into the old collection and still exists (two clones
        #: of one remote share its collection): the rebuilt one must hold the files of each.
        self.checkouts = [self.root] + sorted(
            c for c in self.registry.checkouts(self.old) if c != self.root and os.path.isdir(c))

    def run(self) -> dict[str, Any]:
        """Build, catch up, verify, switch, retire; the rebuild's summary."""
        started = time.perf_counter()
        new = self._target()
        self.emit({"phase": "building", "collection": new})
        report = self._sync(new)
        faults.reach("reindex_building")
        self._copy_notes(new)
        self.emit({"phase": "catching up"})
        self._sync(new)
        self._copy_notes(new)
        faults.reach("reindex_catching_up")
        with write_gate(self.old):
            self._sync(new)  # the last round: no write can land in the old collection now
            self._copy_notes(new)
            self.emit({"phase": "verifying"})
            self._verify(new)
            faults.reach("reindex_verifying")
            self.emit({"phase": "switching"})
            change = self._switch(new)
            faults.reach("reindex_switching")
            # Still behind the gate: a write waiting for it finds the project recorded at
            # its new collection (a writer that looks earlier records the switch itself).
            self.emit({"phase": "retiring"})
            retire(self.ws, self.old, new)
        faults.reach("reindex_retiring")
        return {"project_root": self.root, "old_collection": self.old, "new_collection": new,
                "names": change["names"], "change_id": change["change_id"],
                "recipe": self.recipe.to_dict(), "files": report.files_indexed
                + report.files_unchanged, "chunks": report.chunks_written,
                "seconds": round(time.perf_counter() - started, 3)}

    def _target(self) -> str:
        """The collection being built for this project with this recipe (resumed), or a new one.

        An unfinished build of the project under another recipe is discarded: this
        job is the project's only rebuild, so nothing else works on it, and a build
        no one will resume would hold its disk space forever.
        """
        reached = set(store.live_aliases(self.ws.client).values())
        target: str | None = None
        for record in self.registry.collections(BUILDING):
            if (record.project_id is None or record.project_id != self.ctx.project_id
                    or record.physical in reached):
                continue
            if target is None and record.recipe is not None and record.recipe.id == self.recipe.id:
                target = record.physical
            else:
                log.info("discarding the unfinished build %s", record.physical)
                discard_build(self.ws, record.physical)
        if target is not None:
            self._create(target)
            return target
        physical = new_physical_name()
        self.registry.record_collection(physical, self.recipe, BUILDING, self.ctx.project_id)
        self._create(physical)
        return physical

    def _create(self, physical: str) -> None:
        client = self.ws.client
        if physical in store.collection_names(client):
            return
        store.call(client, f"create collection {physical}", lambda: client.create_collection(
            physical, vectors_config=schema.vectors_config(self.recipe.dense_dim),
            sparse_vectors_config=schema.sparse_vectors_config()))
        for field_name, field_schema in schema.payload_indexes().items():
            # Local mode warns that payload indexes do nothing there: not the user's concern.
            with contextlib.suppress(StoreError), warnings.catch_warnings():
                warnings.filterwarnings("ignore", "Payload indexes", UserWarning)
                store.call(client, f"index {field_name}",
                           lambda f=field_name, s=field_schema: client.create_payload_index(  # type: ignore[misc]
                               physical, field_name=f, field_schema=s))

    def _sync(self, new: str) -> Any:
        """Sync every checkout into ``new`` (incremental); the report of the project's own."""
        reports = [
            Indexer(self.ws, Route(self.ws, new, checkout), new, checkout, self.recipe,
                    project_id=self.ctx.project_id, progress=self.emit).sync()
            for checkout in self.checkouts
        ]
        return reports[0]

    def _copy_notes(self, new: str) -> int:
        return copy_notes(self.ws, self.old, new, self.recipe)

    def _verify(self, new: str) -> None:
        """Refuse to switch unless the new collection holds everything, complete, and answers."""
        problems: list[str] = []
        held = indexed_files(self.ws, new)
        for checkout in self.checkouts:
            for path, state in self.registry.files(new, checkout).items():
                entry = held.get(path)
                if entry is None or not _holds(entry, state.content_hash, self.recipe.id):
                    problems.append(f"{path} is incomplete")
        old_notes = {str(r.id) for r in _scroll(self.ws, self.old, _notes())}
        new_notes = {str(r.id) for r in _scroll(self.ws, new, _notes())}
        if old_notes - new_notes:
            problems.append(f"{len(old_notes - new_notes)} note chunks are missing")
        missing_dense = _count(self.ws, new, qm.Filter(must_not=[
            qm.HasVectorCondition(has_vector=schema.DENSE_VECTOR)]))
        if missing_dense:
            problems.append(f"{missing_dense} chunks have no dense vector")
        problems += self._probe(new)
        if problems:
            shown = "; ".join(problems[:3]) + ("; ..." if len(problems) > 3 else "")
            raise RebuildRefused(
                f"The rebuilt index {new} failed its checks ({shown}); the names still reach "
                f"the old index {self.old}. Run `wqm reindex` again to retry."
            )

    def _probe(self, new: str) -> list[str]:
        """A few chunks of the new collection must find themselves by keyword and by meaning."""
        client = self.ws.client
        sample = store.call(client, f"read chunks of {new}", lambda: client.scroll(
            new, limit=3, with_payload=["content", "context", "path"], with_vectors=False))[0]
        problems = []
        for record in sample:
            payload = record.payload or {}
            text = embedding_text(str(payload.get("context") or payload.get("path") or ""),
                                  str(payload.get("content", "")))
            dense = self.ws.models.embed_dense(self.recipe, [text])[0]
            found = store.call(client, f"probe {new}", lambda q=dense: client.query_points(  # type: ignore[misc]
                new, query=q, using=schema.DENSE_VECTOR, limit=5, with_payload=False)).points
            if str(record.id) not in {str(p.id) for p in found}:
                problems.append(f"a probe query did not find its own chunk in {new}")
        return problems

    def _switch(self, new: str) -> dict[str, Any]:
        """Move every name of the project to ``new`` in one atomic, logged, undoable change."""
        live = store.live_aliases(self.ws.client)
        names = sorted(a for a, c in live.items() if c == self.old)
        if not names:
            raise RebuildRefused(f"No name reaches {self.old} any more; nothing was switched.")
        record = self.ws.aliases.switch_sync(
            [AliasChange(name, new, expected=self.old) for name in names],
            actor="reindex", reason="reindex", force=True, kind="reindex",
            metadata={"project_path": self.root, "old_collection": self.old,
                      "new_collection": new, "recipe": self.recipe.id},
        )
        return {"names": names, "change_id": record.id if record else None}


def copy_notes(ws: Workspace, source: str, target: str, recipe: IndexRecipe) -> int:
    """Copy the notes of ``source`` missing in ``target``, re-embedded under ``recipe``.

    Notes are the one thing files cannot give back, so every move of a project's
    names between two collections carries them (a rebuild, and an undo of one).
    """
    have = {str(r.id) for r in _scroll(ws, target, _notes())}
    copied = 0
    batch: list[qm.Record] = []
    for record in _scroll(ws, source, _notes(), with_payload=True):
        if str(record.id) not in have:
            batch.append(record)
        if len(batch) >= NOTE_PAGE:
            copied += _write_notes(ws, target, recipe, batch)
            batch = []
    if batch:
        copied += _write_notes(ws, target, recipe, batch)
    if copied:
        log.info("copied %d note chunks from %s into %s", copied, source, target)
    return copied


def _write_notes(ws: Workspace, target: str, recipe: IndexRecipe, records: list[qm.Record]
                 ) -> int:
    texts = []
    for record in records:
        payload = record.payload or {}
        header = str(payload.get("title") or payload.get("path") or "")
        texts.append(embedding_text(header, str(payload.get("content", ""))))
    dense = ws.models.embed_dense(recipe, texts)
    sparse = ws.models.sparse(recipe).embed_documents(texts)
    points = [
        qm.PointStruct(id=str(record.id), vector={
            schema.DENSE_VECTOR: dense[i],
            schema.SPARSE_VECTOR: qm.SparseVector(indices=list(sparse[i].indices),
                                                  values=list(sparse[i].values))},
            payload={**(record.payload or {}), "recipe": recipe.id})
        for i, record in enumerate(records)
    ]
    client = ws.client
    store.call(client, f"copy notes into {target}",
               lambda: client.upsert(target, points=points, wait=True))
    return len(points)


def undo_switch(ws: Workspace, change: ChangeRecord, actor: str) -> ChangeRecord:
    """Undo (or redo) a rebuild's switch without losing a note stored since.

    Notes stored after the switch exist only in the collection the names now
    leave. Behind that collection's write gate (no note can land there any
    more), they are copied into the collection the names go back to, then the
    names move in one step; a note waiting at the gate goes to its new target.
    The collection left behind stays recorded and kept (retired), so no force
    is needed to leave it nameless.
    """
    leaving = sorted({str(op["after"]) for op in change.operations if op.get("after")})
    arriving = sorted({str(op["before"]) for op in change.operations if op.get("before")})
    registry = IndexRegistry(ws.state)
    with contextlib.ExitStack() as gates:
        for physical in leaving:
            gates.enter_context(write_gate(physical))
        existing = store.collection_names(ws.client)
        for target in arriving:
            record = registry.collection(target)
            recipe = record.recipe if record and record.recipe else ws.models.current()
            for source in leaving:
                if source in existing and target in existing:
                    copy_notes(ws, source, target, recipe)
        undone = ws.aliases.undo_sync(actor=actor, force=True, change_id=change.id)
        settle_collections(ws)
    return undone


def retire(ws: Workspace, old: str, new: str) -> None:
    """After a switch: ``new`` is live and the project's record points at it; ``old`` is kept."""
    IndexRegistry(ws.state).replace(old, new)


def settle_collections(ws: Workspace) -> list[tuple[str, str]]:
    """Make the recorded states follow the names (after an undo, or a crash mid-rebuild).

    A collection a project name reaches is live, and when it was built to
    replace the project's recorded collection, which no name reaches any more,
    the switch is recorded (the old one retired, the project's record moved).
    A recorded live collection no name reaches, whose project has another
    live collection a name reaches, is retired. Returns (collection, what changed in
    words) for each change.
    """
    registry = IndexRegistry(ws.state)
    reached = set(store.live_aliases(ws.client).values())
    changed: list[tuple[str, str]] = []
    for record in registry.collections():
        if record.physical not in reached:
            continue
        replaced = registry.finish_switch(record.physical, reached)
        if replaced is not None:
            changed.append((record.physical, f"the rebuilt index replacing {replaced} is live"))
        elif record.state != LIVE:
            registry.set_state(record.physical, LIVE)
            changed.append((record.physical, "a name reaches it, so it is live"))
    for record in registry.collections(LIVE):
        if record.physical in reached or record.project_id is None:
            continue
        successor = next((c.physical for c in registry.collections(LIVE)
                          if c.project_id == record.project_id
                          and c.physical != record.physical and c.physical in reached), None)
        if successor is not None:
            registry.replace(record.physical, successor)
            what = f"no name reaches it, so it is retired (replaced by {successor})"
            changed.append((record.physical, what))
    return changed


def discard_build(ws: Workspace, physical: str) -> int:
    """Delete an unfinished build (no name reaches it) and its records; the bytes it held."""
    if physical in set(store.live_aliases(ws.client).values()):
        raise RebuildRefused(f"{physical} is reached by a name, so it is not an unfinished build.")
    size = collection_bytes(ws, physical)
    client = ws.client
    if physical in store.collection_names(client):
        store.call(client, f"delete {physical}", lambda: client.delete_collection(physical))
    IndexRegistry(ws.state).forget_collection(physical)
    return size


def unfinished_builds(ws: Workspace) -> list[CollectionRecord]:
    """Collections recorded as being built that no name reaches (running or interrupted)."""
    reached = set(store.live_aliases(ws.client).values())
    return [c for c in IndexRegistry(ws.state).collections(BUILDING) if c.physical not in reached]


def gc(ws: Workspace, dry_run: bool = False, older_than_days: float | None = None
       ) -> list[dict[str, Any]]:
    """Delete retired collections (and abandoned builds) that no name reaches.

    ``older_than_days`` keeps those retired more recently (the retention period).
    Never deletes a collection a name reaches, nor a build a job is working on.
    """
    registry = IndexRegistry(ws.state)
    live = store.live_aliases(ws.client)
    reached = set(live.values())
    existing = store.collection_names(ws.client)
    cutoff = (datetime.now(UTC) - timedelta(days=older_than_days)).isoformat() \
        if older_than_days is not None else None
    removed = []
    client = ws.client
    for record in registry.collections():
        if record.physical in reached or record.state == LIVE:
            continue
        if record.state == BUILDING:
            continue  # a build is resumed, not collected (`wqm project doctor --fix` drops one)
        if cutoff is not None and (record.retired_at or "") > cutoff:
            continue
        size = collection_bytes(ws, record.physical)
        removed.append({"collection": record.physical, "state": record.state,
                        "retired_at": record.retired_at, "bytes": size})
        if dry_run:
            continue
        if record.physical in existing:
            store.call(client, f"delete {record.physical}",
                       lambda p=record.physical: client.delete_collection(p))  # type: ignore[misc]
        registry.forget_collection(record.physical)
    return removed


# -- helpers ---------------------------------------------------------------------------------------


def _holds(entry: Indexed, content_hash: str, recipe_id: str) -> bool:
    """Every chunk of this version of a file is there, and every point of the file is of
    ``recipe_id`` (two checkouts may hold two versions of one path in one collection)."""
    return (all(recipe == recipe_id for _, recipe in entry.counts)
            and entry.counts[(content_hash, recipe_id)] == entry.expected.get(content_hash))


def _notes() -> qm.Filter:
    return qm.Filter(must=[qm.FieldCondition(key="source",
                                             match=qm.MatchValue(value=schema.SOURCE_NOTE))])


def _scroll(ws: Workspace, name: str, flt: qm.Filter, with_payload: bool = False
            ) -> Iterator[qm.Record]:
    client = ws.client
    offset: Any = None
    while True:
        with store.guarded(client, f"read {name}"):
            records, offset = client.scroll(name, scroll_filter=flt, limit=NOTE_PAGE,
                                            offset=offset, with_payload=with_payload,
                                            with_vectors=False)
        yield from records
        if offset is None:
            return


def _count(ws: Workspace, name: str, flt: qm.Filter) -> int:
    client = ws.client
    return store.call(client, f"count {name}",
                      lambda: client.count(name, count_filter=flt, exact=True)).count


def locate(ws: Workspace, root: str) -> ProjectContext:
    """The project at ``root`` as it is now (names are not migrated by a rebuild)."""
    return locate_project(ws.aliases, detect_identity(Path(root)))


__all__ = ["Rebuild", "RebuildRefused", "check_recipe", "check_space", "copy_notes",
           "discard_build", "gc", "megabytes", "retire", "settle_collections", "undo_switch",
           "unfinished_builds"]
