"""EdgeClient: the part of qdrant-client's ``QdrantClient`` that wqm uses, on qdrant-edge shards.

Layout of a store folder::

    <root>/store.lock      flock held while a process has the store open
    <root>/catalog.db      SQLite (WAL): collections -> shard folder + config, aliases
    <root>/shards/<hex>/   one qdrant-edge shard per physical collection

Aliases follow Qdrant's rules, enforced here because Edge has none: a batch of
alias operations applies all or nothing (validated on a copy, written in one
SQLite transaction, then swapped in); an alias never shares a name with a
collection and points at a collection, never at an alias; creating an existing
alias re-points it; deleting a missing alias is a no-op (server and local mode
agree); deleting a collection drops its aliases. Every data call resolves its
name once, at its start, under the same lock an alias switch takes, so a
concurrent switch shows it the old target or the new one, never a missing one.

Only ``delete_collection`` takes a collection name and never an alias (as the
server does); every other name argument may be either.
"""

from __future__ import annotations

import fcntl
import os
import secrets
import shutil
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import qdrant_edge as qe
from qdrant_client import models as qm
from qdrant_client.http import models as rest

from ..errors import StoreError, StoreLocked
from . import convert
from .catalog import Catalog, CatalogEntry
from .optimizer import OptimizePolicy, Optimizer
from .shards import Collection, OpenShard, create_shard, edge_call

#: Characters the server refuses in a new collection name (local mode checks the same).
_INVALID_NAME_CHARS = ("<", ">", ":", '"', "/", "\\", "|", "?", "*", "\0", "\x1f")

AliasOperation = qm.CreateAliasOperation | qm.DeleteAliasOperation | qm.RenameAliasOperation


@dataclass(frozen=True)
class BrokenShard:
    """A collection whose shard cannot be opened, for ``doctor``."""

    collection: str
    shard_dir: str
    aliases: tuple[str, ...]
    reason: str


class EdgeClient:
    """A QdrantClient look-alike over qdrant-edge shards, with aliases kept in SQLite."""

    def __init__(self, path: str | Path, optimize: OptimizePolicy | None = None) -> None:
        self.root = Path(path)
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / "shards").mkdir(exist_ok=True)
        self._lock_fd = _lock_store(self.root)
        self._lock = threading.RLock()
        self._closed = False
        try:
            self._catalog = Catalog(self.root / "catalog.db")
            entries, self._aliases = self._catalog.load()
        except BaseException:
            os.close(self._lock_fd)
            raise
        self._collections = {name: Collection(self.root, e) for name, e in entries.items()}
        self._remove_orphans()
        self._optimizer = Optimizer(self, optimize or OptimizePolicy())

    # -- lifecycle -------------------------------------------------------------------------

    def close(self, **kwargs: Any) -> None:
        """Stop the optimiser, flush and close every shard, release the store."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._optimizer.stop()
        for collection in list(self._collections.values()):
            collection.close()
        self._catalog.close()
        os.close(self._lock_fd)

    def __del__(self) -> None:  # pragma: no cover - best effort when a caller forgets close()
        try:
            if not self._closed:
                self.close()
        except Exception:  # noqa: BLE001,S110
            pass

    def _remove_orphans(self) -> None:
        """Delete shard folders no catalog row names (left by a crash mid create or delete)."""
        known = {c.entry.shard_dir for c in self._collections.values()}
        for child in (self.root / "shards").iterdir():
            if f"shards/{child.name}" not in known:
                shutil.rmtree(child, ignore_errors=True)

    # -- name resolution ---------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise StoreError(f"The Edge store {self.root} is closed.")

    def _resolve(self, name: str) -> Collection:
        """The collection ``name`` reaches (caller holds ``_lock``)."""
        self._check_open()
        target = self._aliases.get(name, name)
        collection = self._collections.get(target)
        if collection is None:
            raise StoreError(f"Collection {name} not found.")
        return collection

    @contextmanager
    def _use(self, name: str) -> Iterator[tuple[Collection, OpenShard]]:
        """Resolve ``name`` once, under the alias lock, and lease its shard for the call."""
        with self._lock:
            collection = self._resolve(name)
            opened = collection.opened
            if opened is not None:
                lease = opened.lease()
                lease.__enter__()
        if opened is None:  # first use: open outside the alias lock (it may take a while)
            opened = collection.open()
            lease = opened.lease()
            lease.__enter__()
        try:
            yield collection, opened
        finally:
            lease.__exit__(None, None, None)

    # -- collections -------------------------------------------------------------------------

    def get_collections(self) -> rest.CollectionsResponse:
        """Every physical collection."""
        with self._lock:
            self._check_open()
            names = list(self._collections)
        return rest.CollectionsResponse(
            collections=[rest.CollectionDescription(name=n) for n in names]
        )

    def collection_exists(self, collection_name: str, **kwargs: Any) -> bool:
        """True when the name is a collection or an alias of one."""
        with self._lock:
            self._check_open()
            return collection_name in self._collections or collection_name in self._aliases

    def create_collection(
        self,
        collection_name: str,
        vectors_config: qm.VectorParams | dict[str, qm.VectorParams] | None = None,
        sparse_vectors_config: dict[str, qm.SparseVectorParams] | None = None,
        **kwargs: Any,
    ) -> bool:
        """Create a collection: a new shard folder, then one catalog commit."""
        _validate_name(collection_name)
        config = convert.collection_config(vectors_config, sparse_vectors_config)
        with self._lock:
            self._check_open()
            if collection_name in self._collections:
                raise StoreError(f"Collection {collection_name} already exists.")
            if collection_name in self._aliases:
                raise StoreError(f"Alias {collection_name} already exists.")
            shard_dir = f"shards/{secrets.token_hex(8)}"
            path = self.root / shard_dir
            shard = create_shard(path, config)
            entry = CatalogEntry(collection_name, shard_dir, config)
            try:
                self._catalog.add_collection(entry)
            except BaseException:
                shard.close()
                shutil.rmtree(path, ignore_errors=True)
                raise
            collection = Collection(self.root, entry)
            collection.opened = OpenShard(shard, path)
            self._collections[collection_name] = collection
        return True

    def delete_collection(self, collection_name: str, **kwargs: Any) -> bool:
        """Delete a collection and its aliases (one commit); False when it does not exist."""
        with self._lock:
            self._check_open()
            collection = self._collections.get(collection_name)
            if collection is None:
                return False
            self._catalog.drop_collection(collection_name)
            del self._collections[collection_name]
            self._aliases = {a: c for a, c in self._aliases.items() if c != collection_name}
            collection.dropped = True
        # Calls that resolved the name before the drop finish first (close waits for them).
        collection.close()
        shutil.rmtree(collection.path, ignore_errors=True)
        return True

    def get_collection(self, collection_name: str, **kwargs: Any) -> rest.CollectionInfo:
        """Points, segments, payload indexes and the vector configs of a collection."""
        with self._use(collection_name) as (collection, opened):
            info = edge_call(f"describe {collection.name}", opened.shard.info)
            config = collection.entry.config
        return rest.CollectionInfo(
            status=rest.CollectionStatus.GREEN,
            optimizer_status=rest.OptimizersStatusOneOf.OK,
            indexed_vectors_count=info.indexed_vectors_count,
            points_count=info.points_count,
            segments_count=info.segments_count,
            payload_schema={k: convert.payload_schema_back(v) for k, v in info.payload_schema.items()},
            config=rest.CollectionConfig(
                params=rest.CollectionParams(
                    vectors=convert.vectors_params(config),
                    sparse_vectors=convert.sparse_params(config),
                ),
                hnsw_config=rest.HnswConfig(m=16, ef_construct=100, full_scan_threshold=10000),
                optimizer_config=rest.OptimizersConfig(
                    deleted_threshold=0.2, vacuum_min_vector_number=1000,
                    default_segment_number=0, flush_interval_sec=5,
                ),
                wal_config=rest.WalConfig(wal_capacity_mb=32, wal_segments_ahead=0),
            ),
        )

    def create_payload_index(
        self, collection_name: str, field_name: str, field_schema: Any = None, **kwargs: Any
    ) -> rest.UpdateResult:
        """Index a payload field (facets need one, as on the server)."""
        schema = convert.payload_schema_type(field_schema)
        with self._use(collection_name) as (collection, _):
            collection.write(
                f"index {field_name}", qe.UpdateOperation.create_field_index(field_name, schema), 0
            )
        return _done()

    def delete_payload_index(
        self, collection_name: str, field_name: str, **kwargs: Any
    ) -> rest.UpdateResult:
        """Drop a payload index."""
        with self._use(collection_name) as (collection, _):
            collection.write(
                f"drop index {field_name}", qe.UpdateOperation.delete_field_index(field_name), 0
            )
        return _done()

    # -- aliases -----------------------------------------------------------------------------

    def get_aliases(self, **kwargs: Any) -> rest.CollectionsAliasesResponse:
        """Every alias and the collection it points at."""
        with self._lock:
            self._check_open()
            table = dict(self._aliases)
        return rest.CollectionsAliasesResponse(
            aliases=[rest.AliasDescription(alias_name=a, collection_name=c) for a, c in table.items()]
        )

    def get_collection_aliases(
        self, collection_name: str, **kwargs: Any
    ) -> rest.CollectionsAliasesResponse:
        """The aliases pointing at one collection."""
        with self._lock:
            self._check_open()
            table = {a: c for a, c in self._aliases.items() if c == collection_name}
        return rest.CollectionsAliasesResponse(
            aliases=[rest.AliasDescription(alias_name=a, collection_name=c) for a, c in table.items()]
        )

    def update_collection_aliases(
        self, change_aliases_operations: Sequence[AliasOperation], **kwargs: Any
    ) -> bool:
        """Apply alias operations all or nothing, in one catalog transaction."""
        with self._lock:
            self._check_open()
            table = dict(self._aliases)
            for operation in change_aliases_operations:
                self._apply_alias_operation(table, operation)
            self._catalog.write_aliases(self._aliases, table)
            self._aliases = table
        return True

    def _apply_alias_operation(self, table: dict[str, str], operation: AliasOperation) -> None:
        if isinstance(operation, qm.CreateAliasOperation):
            alias = operation.create_alias.alias_name
            target = operation.create_alias.collection_name
            if target not in self._collections:
                raise StoreError(f"Collection {target} not found.")
            if alias in self._collections:
                raise StoreError(f"Collection {alias} already exists.")
            table[alias] = target
        elif isinstance(operation, qm.DeleteAliasOperation):
            table.pop(operation.delete_alias.alias_name, None)
        elif isinstance(operation, qm.RenameAliasOperation):
            old = operation.rename_alias.old_alias_name
            new = operation.rename_alias.new_alias_name
            if new in self._collections:
                raise StoreError(f"Collection {new} already exists.")
            if old not in table:
                raise StoreError(f"Alias {old} does not exist.")
            table[new] = table.pop(old)
        else:
            raise StoreError(f"Unknown alias operation {type(operation).__name__}.")

    # -- points ------------------------------------------------------------------------------

    def upsert(
        self, collection_name: str, points: Sequence[qm.PointStruct], wait: bool = True,
        **kwargs: Any,
    ) -> rest.UpdateResult:
        """Insert or replace points; when it returns, the write is in the shard's WAL."""
        if not isinstance(points, list | tuple):
            raise convert.Unsupported("Only a list of PointStruct is supported by upsert.")
        converted = [
            qe.Point(convert.point_id(p.id), convert.point_vector(p.vector), p.payload)
            for p in points
        ]
        with self._use(collection_name) as (collection, _):
            collection.write(
                "upsert points", qe.UpdateOperation.upsert_points(converted), len(converted)
            )
        self._optimizer.poke()
        return _done()

    def update_vectors(
        self, collection_name: str, points: Sequence[qm.PointVectors], wait: bool = True,
        **kwargs: Any,
    ) -> rest.UpdateResult:
        """Set some named vectors of existing points, keeping their others and their payload.

        As on a server, a point that does not exist fails the call (naming its id).
        """
        if not isinstance(points, list | tuple):
            raise convert.Unsupported("Only a list of PointVectors is supported by update_vectors.")
        converted = [
            qe.PointVectors(convert.point_id(p.id), convert.point_vector(p.vector)) for p in points
        ]
        with self._use(collection_name) as (collection, _):
            collection.write(
                "update vectors", qe.UpdateOperation.update_vectors(converted), len(converted)
            )
        self._optimizer.poke()
        return _done()

    def delete(
        self, collection_name: str, points_selector: Any, wait: bool = True, **kwargs: Any
    ) -> rest.UpdateResult:
        """Delete points by ids (PointIdsList or a list) or by filter (FilterSelector or Filter)."""
        ids, flt = _selection(points_selector)
        if ids is not None:
            operation, count = qe.UpdateOperation.delete_points(ids), len(ids)
        else:
            assert flt is not None
            operation, count = qe.UpdateOperation.delete_points_by_filter(flt), 1
        with self._use(collection_name) as (collection, _):
            collection.write("delete points", operation, count)
        return _done()

    def set_payload(
        self, collection_name: str, payload: dict[str, Any], points: Any, key: str | None = None,
        wait: bool = True, **kwargs: Any,
    ) -> rest.UpdateResult:
        """Merge ``payload`` into the payload of the selected points (ids or a filter)."""
        return self._payload_write(
            collection_name, "set payload", points,
            lambda ids: qe.UpdateOperation.set_payload(ids, payload, key),
            lambda flt: qe.UpdateOperation.set_payload_by_filter(flt, payload, key),
        )

    def overwrite_payload(
        self, collection_name: str, payload: dict[str, Any], points: Any, wait: bool = True,
        **kwargs: Any,
    ) -> rest.UpdateResult:
        """Replace the whole payload of the selected points."""
        return self._payload_write(
            collection_name, "overwrite payload", points,
            lambda ids: qe.UpdateOperation.overwrite_payload(ids, payload),
            lambda flt: qe.UpdateOperation.overwrite_payload_by_filter(flt, payload),
        )

    def delete_payload(
        self, collection_name: str, keys: Sequence[str], points: Any, wait: bool = True,
        **kwargs: Any,
    ) -> rest.UpdateResult:
        """Remove ``keys`` from the payload of the selected points."""
        return self._payload_write(
            collection_name, "delete payload keys", points,
            lambda ids: qe.UpdateOperation.delete_payload(ids, list(keys)),
            lambda flt: qe.UpdateOperation.delete_payload_by_filter(flt, list(keys)),
        )

    def clear_payload(
        self, collection_name: str, points_selector: Any, wait: bool = True, **kwargs: Any
    ) -> rest.UpdateResult:
        """Remove the whole payload of the selected points."""
        return self._payload_write(
            collection_name, "clear payload", points_selector,
            qe.UpdateOperation.clear_payload, qe.UpdateOperation.clear_payload_by_filter,
        )

    def _payload_write(
        self, collection_name: str, what: str, selector: Any,
        by_ids: Any, by_filter: Any,
    ) -> rest.UpdateResult:
        ids, flt = _selection(selector)
        operation = by_ids(ids) if ids is not None else by_filter(flt)
        with self._use(collection_name) as (collection, _):
            collection.write(what, operation, len(ids) if ids is not None else 1)
        return _done()

    def scroll(
        self,
        collection_name: str,
        scroll_filter: qm.Filter | None = None,
        limit: int = 10,
        offset: Any = None,
        with_payload: Any = True,
        with_vectors: Any = False,
        order_by: Any = None,
        **kwargs: Any,
    ) -> tuple[list[rest.Record], Any]:
        """One page of points in id order and the id the next page starts at."""
        if order_by is not None:
            raise convert.Unsupported("scroll order_by is not supported by the Edge adapter.")
        request = qe.ScrollRequest(
            offset=None if offset is None else convert.point_id(offset),
            limit=limit,
            filter=convert.filter_(scroll_filter),
            with_payload=convert.with_payload(with_payload),
            with_vector=convert.with_vectors(with_vectors),
        )
        with self._use(collection_name) as (collection, opened):
            records, next_id = edge_call(
                f"scroll {collection.name}", lambda: opened.shard.scroll(request)
            )
        next_offset = None if next_id is None else convert.id_back(next_id)
        return [convert.record_back(r) for r in records], next_offset

    def count(
        self, collection_name: str, count_filter: qm.Filter | None = None, exact: bool = True,
        **kwargs: Any,
    ) -> rest.CountResult:
        """Number of points (matching the filter)."""
        request = qe.CountRequest(exact=exact, filter=convert.filter_(count_filter))
        with self._use(collection_name) as (collection, opened):
            number = edge_call(f"count {collection.name}", lambda: opened.shard.count(request))
        return rest.CountResult(count=number)

    def facet(
        self,
        collection_name: str,
        key: str,
        facet_filter: qm.Filter | None = None,
        limit: int = 10,
        exact: bool = False,
        **kwargs: Any,
    ) -> rest.FacetResponse:
        """Distinct values of an indexed payload field with their counts."""
        request = qe.FacetRequest(key, limit=limit, exact=exact, filter=convert.filter_(facet_filter))
        with self._use(collection_name) as (collection, opened):
            response = edge_call(
                f"facet {key} of {collection.name}", lambda: opened.shard.facet(request)
            )
        return rest.FacetResponse(
            hits=[rest.FacetValueHit(value=h.value, count=h.count) for h in response.hits]
        )

    def retrieve(
        self,
        collection_name: str,
        ids: Sequence[Any],
        with_payload: Any = True,
        with_vectors: Any = False,
        **kwargs: Any,
    ) -> list[rest.Record]:
        """The points with these ids (missing ids are skipped)."""
        point_ids: list[convert.EdgeId] = [convert.point_id(i) for i in ids]
        payload = convert.with_payload(with_payload)
        vectors = convert.with_vectors(with_vectors)
        with self._use(collection_name) as (collection, opened):
            records = edge_call(
                f"retrieve points of {collection.name}",
                lambda: opened.shard.retrieve(point_ids, payload, vectors),
            )
        return [convert.record_back(r) for r in records]

    def query_points(
        self,
        collection_name: str,
        query: Any = None,
        using: str | None = None,
        prefetch: Any = None,
        query_filter: qm.Filter | None = None,
        search_params: qm.SearchParams | None = None,
        limit: int = 10,
        offset: int | None = None,
        with_payload: Any = True,
        with_vectors: Any = False,
        score_threshold: float | None = None,
        lookup_from: Any = None,
        **kwargs: Any,
    ) -> rest.QueryResponse:
        """The Query API: a dense or sparse vector, or a fusion (RRF, DBSF) of prefetches."""
        if lookup_from is not None:
            raise convert.Unsupported("lookup_from is not supported by the Edge adapter.")
        request = qe.QueryRequest(
            limit=limit,
            offset=offset,
            query=None if query is None else convert.scoring_query(query, using),
            prefetches=convert.prefetches(prefetch),
            with_vector=convert.with_vectors(with_vectors),
            with_payload=convert.with_payload(with_payload),
            filter=convert.filter_(query_filter),
            score_threshold=score_threshold,
            params=convert.search_params(search_params),
        )
        with self._use(collection_name) as (collection, opened):
            points = edge_call(f"query {collection.name}", lambda: opened.shard.query(request))
        return rest.QueryResponse(points=[convert.scored_back(p) for p in points])

    # -- maintenance -------------------------------------------------------------------------

    def broken_shards(self) -> list[BrokenShard]:
        """Collections whose shard cannot be opened (missing or corrupted folder), for doctor."""
        with self._lock:
            self._check_open()
            collections = list(self._collections.values())
            aliases = dict(self._aliases)
        broken = []
        for collection in collections:
            try:
                collection.open()
            except StoreError as exc:
                names = tuple(sorted(a for a, c in aliases.items() if c == collection.name))
                broken.append(
                    BrokenShard(collection.name, collection.entry.shard_dir, names, str(exc))
                )
        return broken

    def collection_path(self, collection_name: str) -> Path | None:
        """The shard folder of the collection ``collection_name`` reaches (None if unknown)."""
        with self._lock:
            try:
                return self._resolve(collection_name).path
            except StoreError:
                return None

    def flush(self) -> None:
        """Flush every open shard to disk (an engine move does this before it commits)."""
        with self._lock:
            self._check_open()
            collections = list(self._collections.values())
        for collection in collections:
            opened = collection.opened
            if opened is not None:
                with opened.lease() as shard:
                    edge_call(f"flush {collection.name}", shard.flush)

    def set_aside_broken(self, collection_name: str) -> Path | None:
        """Move a broken collection's shard folder to ``damaged/`` and drop the collection.

        For ``doctor --fix``: the data cannot be read anyway, the folder is kept
        for inspection (None: it was missing), and the project's next ingest
        rebuilds the collection.
        The folder moves first, so a crash in between leaves a collection whose
        folder is missing (still reported as broken), never a folder that the
        orphan sweep at the next open would delete.
        """
        with self._lock:
            collection = self._resolve(collection_name)
        try:
            collection.open()
        except StoreError:
            pass
        else:
            raise StoreError(f"The collection {collection_name} is not broken.")
        aside: Path | None = None
        if collection.path.exists():
            aside = self.root / "damaged" / collection.entry.shard_dir.rsplit("/", 1)[-1]
            aside.parent.mkdir(exist_ok=True)
            collection.path.rename(aside)
        self.delete_collection(collection.name)
        return aside

    def optimize_collection(self, collection_name: str) -> bool:
        """Build the HNSW index of one collection now (in a child process; searches go on)."""
        with self._lock:
            collection = self._resolve(collection_name)
        return self._optimizer.optimize(collection)

    # used by the optimiser ------------------------------------------------------------------

    def _collections_snapshot(self) -> list[Collection]:
        with self._lock:
            return [] if self._closed else list(self._collections.values())

    def _commit_move(self, collection: Collection, new_dir: str, opened: OpenShard) -> bool:
        """Point ``collection`` at its optimised copy (one commit); False if it was deleted."""
        with self._lock:
            if self._closed or self._collections.get(collection.name) is not collection:
                return False
            self._catalog.move_collection(collection.name, new_dir)
            collection.entry = CatalogEntry(collection.name, new_dir, collection.entry.config)
            collection.opened = opened
            return True


def _selection(selector: Any) -> tuple[list[convert.EdgeId] | None, qe.Filter | None]:
    """Point ids or an Edge filter from a qdrant-client points selector."""
    if isinstance(selector, qm.PointIdsList):
        return [convert.point_id(i) for i in selector.points], None
    if isinstance(selector, list):
        return [convert.point_id(i) for i in selector], None
    if isinstance(selector, qm.FilterSelector):
        return None, convert.required_filter(selector.filter)
    if isinstance(selector, qm.Filter):
        return None, convert.required_filter(selector)
    raise convert.Unsupported(f"Points selector {selector!r} is not supported.")


def _done() -> rest.UpdateResult:
    return rest.UpdateResult(operation_id=0, status=rest.UpdateStatus.COMPLETED)


def _validate_name(name: str) -> None:
    for char in _INVALID_NAME_CHARS:
        if char in name:
            raise StoreError(f"Collection name cannot contain {char!r}.")
    if name in ("", ".", ".."):
        raise StoreError(f"Collection name cannot be {name!r}.")
    if len(name) > 255:
        raise StoreError("Collection name must be at most 255 characters long.")


def _lock_store(root: Path) -> int:
    """Hold ``store.lock`` (flock) for the life of the client: one process per store."""
    fd = os.open(root / "store.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise StoreLocked(
            f"The embedded Edge store {root} is open in another process; use the wqm CLI or "
            "MCP server (they share it through the workspace service), or stop that process."
        ) from None
    return fd
