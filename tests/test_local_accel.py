"""The vectorised sparse scorer gives qdrant-client's own answers, and is what local mode uses."""

from __future__ import annotations

import numpy as np
import pytest
from qdrant_client import QdrantClient
from qdrant_client import models as qm
from qdrant_client.local import sparse_distances

from workspace_qdrant_mcp.core import local_accel


def _vector(rng: np.random.Generator, size: int, space: int) -> qm.SparseVector:
    idx = np.sort(rng.choice(space, size=size, replace=False))
    return qm.SparseVector(indices=idx.tolist(), values=rng.random(size).tolist())


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("empty_is_zero", [False, True])
def test_matches_qdrant_client_reference(seed: int, empty_is_zero: bool) -> None:
    rng = np.random.default_rng(seed)
    vectors = [_vector(rng, int(rng.integers(0, 40)), 300) for _ in range(200)]
    query = _vector(rng, 12, 300)
    expected = sparse_distances.calculate_distance_sparse(query, vectors, empty_is_zero)
    got = local_accel.sparse_scores(query, vectors, empty_is_zero)
    np.testing.assert_allclose(got, expected, rtol=1e-5)


def test_query_sharing_no_index_with_any_vector() -> None:
    """The case that broke search in CI: nothing overlaps, so every score is -inf (or 0)."""
    vectors = [qm.SparseVector(indices=[1, 2], values=[1.0, 1.0])] * 3
    query = qm.SparseVector(indices=[9], values=[1.0])
    assert np.isneginf(local_accel.sparse_scores(query, vectors)).all()
    assert (local_accel.sparse_scores(query, vectors, empty_is_zero=True) == 0).all()


def test_empty_inputs() -> None:
    query = qm.SparseVector(indices=[1], values=[1.0])
    assert local_accel.sparse_scores(query, []).shape == (0,)
    empty = [qm.SparseVector(indices=[], values=[])]
    assert local_accel.sparse_scores(query, empty)[0] == -np.inf
    assert local_accel.sparse_scores(query, empty, empty_is_zero=True)[0] == 0.0


def test_local_mode_search_ranks_as_before(tmp_path) -> None:  # type: ignore[no-untyped-def]
    assert local_accel.install()
    client = QdrantClient(path=str(tmp_path / "q"))
    client.create_collection(
        "c", vectors_config={},
        sparse_vectors_config={"bm25": qm.SparseVectorParams(modifier=qm.Modifier.IDF)},
    )
    rng = np.random.default_rng(3)
    vectors = [_vector(rng, 10, 60) for _ in range(100)]
    client.upsert("c", [qm.PointStruct(id=i, vector={"bm25": v}) for i, v in enumerate(vectors)])
    query = qm.SparseVector(indices=[3, 7, 21], values=[1.0, 1.0, 1.0])
    hits = client.query_points("c", query=query, using="bm25", limit=10).points
    client.close()
    overlapping = {i for i, v in enumerate(vectors) if {3, 7, 21} & set(v.indices)}
    assert hits and {h.id for h in hits} <= overlapping
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
