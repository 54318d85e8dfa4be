"""Vectorised sparse scoring for qdrant-client's embedded (local) mode.

The embedded engine scores a sparse query against every stored vector with a
pure-Python merge loop: about 15 µs per point, so BM25 and hybrid search on a
10,000-chunk project spent ~130 ms there (bench/bench_search.py). This module
swaps in a numpy version of that one function: same inputs, same outputs (the
dot product over shared indices, ``-inf`` where nothing overlaps unless
``empty_is_zero``). It is installed only after a self-check against the
original on sample data, so a qdrant-client whose internals changed keeps its
own code. A Qdrant server is untouched: it scores sparse vectors natively.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable, Sequence
from itertools import chain
from typing import Any

import numpy as np
import numpy.typing as npt
from qdrant_client import QdrantClient

from . import store

log = logging.getLogger(__name__)

_installed = False


def sparse_scores(
    query: Any, vectors: Sequence[Any], empty_is_zero: bool = False
) -> npt.NDArray[np.float32]:
    """Dot product of a sparse query with each sparse vector, vectorised."""
    count = len(vectors)
    if count == 0:
        return np.zeros(0, dtype=np.float32)
    q_idx = np.asarray(query.indices, dtype=np.int64)
    q_val = np.asarray(query.values, dtype=np.float64)
    lengths = np.fromiter((len(v.indices) for v in vectors), dtype=np.int64, count=count)
    if q_idx.size == 0 or not lengths.any():
        fill = 0.0 if empty_is_zero else -np.inf
        return np.full(count, fill, dtype=np.float32)
    total = int(lengths.sum())
    # Stored vectors hold Python lists: one pass over all of them beats one array per vector.
    all_idx = np.fromiter(chain.from_iterable(v.indices for v in vectors), np.int64, total)
    all_val = np.fromiter(chain.from_iterable(v.values for v in vectors), np.float64, total)
    order = np.argsort(q_idx, kind="stable")
    sorted_idx, sorted_val = q_idx[order], q_val[order]
    pos = np.minimum(np.searchsorted(sorted_idx, all_idx), sorted_idx.size - 1)
    hit = sorted_idx[pos] == all_idx
    owner = np.repeat(np.arange(count), lengths)[hit]
    # float64 even when nothing overlaps: bincount of an empty input is int, which holds no -inf
    scores = np.bincount(
        owner, weights=all_val[hit] * sorted_val[pos[hit]], minlength=count
    ).astype(np.float64)
    if not empty_is_zero:
        overlap = np.bincount(owner, minlength=count) > 0
        scores[~overlap] = -np.inf
    return scores.astype(np.float32)


def _self_check(original: Callable[..., Any]) -> bool:
    from qdrant_client import models as qm

    rng = np.random.default_rng(7)
    vectors = []
    for size in (0, 1, 3, 8, 20):
        idx = np.sort(rng.choice(50, size=size, replace=False))
        vectors.append(qm.SparseVector(indices=idx.tolist(), values=rng.random(size).tolist()))
    query = qm.SparseVector(indices=[2, 5, 11, 30, 49], values=[0.5, 1.0, 2.0, 0.25, 1.5])
    for empty_is_zero in (False, True):
        expected = np.asarray(original(query, vectors, empty_is_zero), dtype=np.float32)
        got = sparse_scores(query, vectors, empty_is_zero)
        if expected.shape != got.shape or not np.allclose(expected, got, rtol=1e-5, equal_nan=True):
            return False
    return True


def install() -> bool:
    """Use the vectorised scorer in qdrant-client's local mode (idempotent); True if active."""
    global _installed
    if _installed:
        return True
    try:
        from qdrant_client.local import local_collection
    except ImportError:  # pragma: no cover - qdrant-client without local mode
        return False
    original = getattr(local_collection, "calculate_distance_sparse", None)
    if original is None or not _self_check(original):
        log.info("qdrant-client's local sparse scoring changed; keeping its own")
        return False
    local_collection.calculate_distance_sparse = sparse_scores  # type: ignore[attr-defined]
    _installed = True
    return True


def tune_embedded_storage(client: QdrantClient, name: str) -> None:
    """Let the embedded engine commit writes without an fsync each (WAL, synchronous=NORMAL).

    qdrant-client's local mode commits one SQLite transaction per point; with the
    default rollback journal each costs an fsync (~20 ms here), far more than
    embedding the point. In WAL mode with ``synchronous=NORMAL`` a commit survives
    a crash or kill of the process (only a power cut may lose the last commits,
    never consistency). Only one process opens an embedded store, so WAL's
    single-host rule holds. Best effort: an unknown client layout is left as is, and
    the Edge engine (its own WAL, no SQLite per point) is never touched.
    """
    if getattr(client, "engine", "local") != "local":
        return
    try:
        from qdrant_client.local.qdrant_local import QdrantLocal
    except ImportError:  # pragma: no cover - qdrant-client without local mode
        return
    inner = getattr(client, "_client", None)
    if not isinstance(inner, QdrantLocal):
        return
    with store.client_lock(client):
        try:
            collection = inner._get_collection(name)
        except (ValueError, RuntimeError):
            return
        connection = getattr(getattr(collection, "storage", None), "storage", None)
        if isinstance(connection, sqlite3.Connection):  # both pragmas are cheap no-ops when set
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=NORMAL")
