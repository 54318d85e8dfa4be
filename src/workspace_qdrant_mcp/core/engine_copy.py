"""Copy a store into another engine's store through the qdrant-client API (an engine move).

Both sides speak the qdrant-client API (local mode, ``EdgeClient``). What a
copy holds: every collection with its vector configuration; every point with
its id, vectors and payload, read with its vectors and written as it is
(nothing is re-embedded); the payload indexes (those the source reports, plus
wqm's schema indexes, because local mode keeps none and Edge needs them for
facets); and the alias table. The pieces here are pure store work; the order
that keeps a copy exact while the source takes writes is the mover's
(``workspace/engine_move.py``).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from qdrant_client import models as qm

from . import local_accel, schema, store
from .switchable import JournalEntry

#: Points per page read from the source and written to the copy.
PAGE = 256


@dataclass(frozen=True)
class Shape:
    """What a collection is made of, apart from its points."""

    name: str
    vectors: Any
    sparse: Any
    indexes: dict[str, Any]


def _index_types(info: Any) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for key, value in (info.payload_schema or {}).items():
        found[key] = getattr(value, "data_type", value)
    return found


def shape_of(client: Any, name: str) -> Shape:
    """The vector configuration and payload indexes of collection ``name``."""
    info = store.call(client, f"describe {name}", lambda: client.get_collection(name))
    indexes = {**schema.payload_indexes(), **_index_types(info)}
    params = info.config.params
    return Shape(name, params.vectors, params.sparse_vectors, indexes)


def create_like(target: Any, shape: Shape) -> None:
    """Create ``shape`` (collection and payload indexes) in ``target``."""
    store.call(target, f"create {shape.name}", lambda: target.create_collection(
        shape.name, vectors_config=shape.vectors, sparse_vectors_config=shape.sparse))
    # Local mode commits each point on its own: without WAL that is an fsync per point
    # (~40 points/s); ingest tunes a collection the same way before it writes.
    local_accel.tune_embedded_storage(target, shape.name)
    with warnings.catch_warnings():  # local mode: "payload indexes have no effect"
        warnings.simplefilter("ignore")
        for field, kind in shape.indexes.items():
            store.call(target, f"index {field} of {shape.name}",
                       lambda f=field, k=kind: target.create_payload_index(  # type: ignore[misc]
                           shape.name, field_name=f, field_schema=k))


def collections(client: Any) -> list[str]:
    """The physical collections, sorted."""
    return sorted(store.collection_names(client))


def point_counts(client: Any) -> dict[str, int]:
    """Exact point count of every collection."""
    return {name: store.call(client, f"count {name}",
                             lambda n=name: client.count(n, exact=True)).count  # type: ignore[misc]
            for name in collections(client)}


def read_page(client: Any, name: str, offset: Any) -> tuple[list[qm.PointStruct], Any]:
    """One page of points of ``name`` with vectors and payloads, and the next offset."""
    records, next_offset = client.scroll(
        name, limit=PAGE, offset=offset, with_payload=True, with_vectors=True
    )
    points = [qm.PointStruct(id=r.id, vector=r.vector or {}, payload=r.payload or {})
              for r in records]
    return points, next_offset


def write_page(target: Any, name: str, points: list[qm.PointStruct]) -> None:
    """Write a page of points to ``target``."""
    if points:
        store.call(target, f"copy points into {name}",
                   lambda: target.upsert(name, points=points, wait=True))


#: Writes that change points which must exist (by id), with the name of their selector.
_PARTIAL_BY_ID = {"set_payload": "points", "overwrite_payload": "points",
                  "delete_payload": "points", "clear_payload": "points_selector",
                  "delete_vectors": "points"}


def _existing_only(target: Any, method: str, args: tuple[Any, ...],
                   kwargs: dict[str, Any]) -> dict[str, Any] | None:
    """A partial write by ids narrowed to the ids the copy holds (None: none of them).

    During the copy a point may not have reached the copy yet; its page, read
    after the write, brings the written state, so the write is skipped for it.
    Edge (as the server) refuses a partial write to a missing id; local mode
    ignores it.
    """
    key = _PARTIAL_BY_ID[method]
    call = dict(kwargs)
    if key not in call and len(args) > 1:  # (collection, ...) passed positionally: leave as is
        return call
    selector = call.get(key)
    ids = selector.points if isinstance(selector, qm.PointIdsList) else selector
    if not isinstance(ids, list):
        return call  # a filter: matches only what the copy holds
    name = args[0] if args else call["collection_name"]
    present = {str(r.id) for r in target.retrieve(name, ids=ids, with_payload=False)}
    kept = [i for i in ids if str(i) in present]
    if not kept:
        return None
    call[key] = qm.PointIdsList(points=kept) if isinstance(selector, qm.PointIdsList) else kept
    return call


def replay(target: Any, journal: Iterable[JournalEntry]) -> int:
    """Apply journaled writes to ``target`` in order; returns how many."""
    done = 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for method, args, kwargs in journal:
            call: dict[str, Any] | None = kwargs
            if method in _PARTIAL_BY_ID:
                call = store.call(target, f"replay a write ({method})",
                                  lambda m=method, a=args, k=kwargs: _existing_only(  # type: ignore[misc]
                                      target, m, a, k))
            if call is not None:
                store.call(target, f"replay a write ({method})",
                           lambda m=method, a=args, k=call: getattr(target, m)(*a, **k))  # type: ignore[misc]
            done += 1
    return done


def _vector_key(vectors: Any) -> Any:
    if isinstance(vectors, dict):
        return {k: _vector_key(v) for k, v in vectors.items()}
    if isinstance(vectors, qm.VectorParams):
        return (vectors.size, str(vectors.distance))
    if isinstance(vectors, qm.SparseVectorParams):
        return str(vectors.modifier)
    return vectors


def differences(source: Any, target: Any, *, check_indexes: bool) -> list[str]:
    """What differs between two stores (empty: the copy is whole).

    Compares the collections, their vector configurations, exact point counts,
    the alias tables and, when ``check_indexes`` (an Edge copy), that the copy
    has every payload index the source needs.
    """
    found: list[str] = []
    mine, theirs = set(collections(source)), set(collections(target))
    if mine != theirs:
        found.append(f"collections differ: missing {sorted(mine - theirs)}, "
                     f"extra {sorted(theirs - mine)}")
    for name in sorted(mine & theirs):
        want, have = shape_of(source, name), shape_of(target, name)
        if (_vector_key(want.vectors), _vector_key(want.sparse or {})) != (
            _vector_key(have.vectors), _vector_key(have.sparse or {})
        ):
            found.append(f"{name}: vector configuration differs")
        if check_indexes:
            present = set(_index_types(store.call(
                target, f"describe {name}", lambda n=name: target.get_collection(n))))  # type: ignore[misc]
            if set(want.indexes) - present:
                found.append(f"{name}: payload indexes missing {sorted(set(want.indexes) - present)}")
        count_src = store.call(source, "count", lambda n=name: source.count(n, exact=True)).count  # type: ignore[misc]
        count_dst = store.call(target, "count", lambda n=name: target.count(n, exact=True)).count  # type: ignore[misc]
        if count_src != count_dst:
            found.append(f"{name}: {count_src} points, the copy {count_dst}")
    src_aliases, dst_aliases = store.live_aliases(source), store.live_aliases(target)
    if src_aliases != dst_aliases:
        found.append("the alias tables differ")
    return found
