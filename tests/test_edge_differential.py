"""Differential tests: the Edge adapter against qdrant-client's local mode, the oracle.

Hypothesis generates sequences of operations (create/delete collections,
upserts, deletes by id and by filter, alias batches including failing ones,
scroll/count/facet/retrieve, dense/sparse/hybrid queries with filters); each
runs on ``QdrantClient(path=tmp)`` and on ``EdgeClient(tmp)``, and both must
agree: same error/no-error outcome, same ids in the same order, scores within
``TOL``.

Where the two may legitimately differ, the comparison says so instead of hiding it:

- Ties: points with equal scores may come in any order, and a limit may cut a
  group of equal scores anywhere. Results are compared as runs of equal scores:
  every run must hold the same ids, except the last run, where only its length
  must match.
- Hybrid queries fuse the *ranks* of prefetch lists; when a prefetch list holds
  a tie (or is cut inside one) the engines may rank or fetch those points
  differently, so such a query compares only the number of results (checked by
  running the prefetches on the oracle).
- Facets: the server (and Edge) refuse to facet an unindexed field, local mode
  does not; every collection here indexes ``path`` first and only ``path`` is
  faceted (test_edge_engine checks the refusal). Facet hits are compared as sets
  (order among equal counts is free). Once every point with a value is deleted,
  local mode still lists the value with a count of 0 and Edge (Qdrant's engine)
  does not; zero counts are left out.
- IDF: Edge, like the server, keeps deleted and overwritten points in its
  sparse statistics until the segment is optimised; local mode counts live
  points only. Sparse and hybrid queries on a collection that has seen a
  delete or an overwrite compare only their length (``IdfTracker``).
- Retrieving a repeated id: local mode returns the point once per mention,
  Edge (Qdrant's engine) once; retrieve results are compared by id.
- Deleting a missing alias is a no-op on both (the server agrees).

Bounded by default (about a minute); ``WQM_LONG=1`` runs many more examples.
"""

from __future__ import annotations

import itertools
import os
import tempfile
import uuid
import warnings
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from qdrant_client import QdrantClient
from qdrant_client import models as qm

from workspace_qdrant_mcp.core.edge import EdgeClient, OptimizePolicy

LONG = os.environ.get("WQM_LONG") == "1"
TOL = 1e-4
DIM = 4
COLLECTIONS = ["c1", "c2", "c3"]
NAMES = [*COLLECTIONS, "a1", "a2", "missing"]
IDS: list[int | str] = [0, 1, 2, 3, 7, 42, str(uuid.UUID(int=5)), str(uuid.UUID(int=2**100))]
PATHS = ["a.py", "b.py", "c.md"]

# -- generators ---------------------------------------------------------------------------------

# weighted towards names that usually exist, so most operations do something
names = st.sampled_from(["c1", "c1", "c1", "c2", "c2", "c3", "a1", "a1", "a2", "missing"])
point_ids = st.sampled_from(IDS)
dense = st.lists(st.integers(1, 5).map(float), min_size=DIM, max_size=DIM)
sparse = st.dictionaries(st.integers(0, 12), st.integers(1, 4).map(float), min_size=1, max_size=4)

conditions = st.one_of(
    st.sampled_from(PATHS).map(
        lambda p: qm.FieldCondition(key="path", match=qm.MatchValue(value=p))),
    st.lists(st.integers(0, 9), min_size=1, max_size=3).map(
        lambda v: qm.FieldCondition(key="n", match=qm.MatchAny(any=v))),
    st.lists(st.sampled_from(PATHS), min_size=1, max_size=2).map(
        lambda v: qm.FieldCondition(key="path", match=qm.MatchExcept(**{"except": v}))),
    st.tuples(st.integers(0, 9), st.integers(0, 9)).map(
        lambda r: qm.FieldCondition(key="n", range=qm.Range(gte=min(r), lte=max(r)))),
    st.lists(point_ids, min_size=1, max_size=3).map(lambda ids: qm.HasIdCondition(has_id=ids)),
)


def _filter(must: list[Any], should: list[Any], must_not: list[Any]) -> qm.Filter:
    return qm.Filter(must=must or None, should=should or None, must_not=must_not or None)


flat_filters = st.builds(
    _filter,
    st.lists(conditions, max_size=2), st.lists(conditions, max_size=2),
    st.lists(conditions, max_size=1),
)
filters = st.one_of(
    st.none(),
    flat_filters,
    st.builds(lambda inner, c: qm.Filter(must=[inner], must_not=[c]), flat_filters, conditions),
)


@st.composite
def points(draw: st.DrawFn) -> qm.PointStruct:
    vector: dict[str, Any] = {"dense": draw(dense)}
    terms = draw(st.one_of(st.none(), sparse))
    if terms is not None:
        vector["bm25"] = qm.SparseVector(indices=list(terms), values=list(terms.values()))
    return qm.PointStruct(
        id=draw(point_ids),
        vector=vector,
        payload={
            "path": draw(st.sampled_from(PATHS)),
            "n": draw(st.integers(0, 9)),
            "meta": {"tags": draw(st.lists(st.sampled_from(["x", "y"]), max_size=2))},
        },
    )


alias_ops = st.one_of(
    st.builds(lambda a, c: qm.CreateAliasOperation(
        create_alias=qm.CreateAlias(alias_name=a, collection_name=c)), names, names),
    st.builds(lambda a: qm.DeleteAliasOperation(delete_alias=qm.DeleteAlias(alias_name=a)), names),
    st.builds(lambda a, b: qm.RenameAliasOperation(
        rename_alias=qm.RenameAlias(old_alias_name=a, new_alias_name=b)), names, names),
)

Op = tuple[str, Callable[[Any], Any]]


def tag(fn: Callable[[Any], Any], kind: str, name: str, pts: Any = None) -> Callable[[Any], Any]:
    """Label a write so the test can track which collections hold deleted points."""
    fn.write = (kind, name, pts)  # type: ignore[attr-defined]
    return fn


class IdfTracker:
    """Which physical collections hold deleted or overwritten points.

    Edge (like the server, which shares its segment code) keeps deleted and
    overwritten points in the sparse index, and in the IDF statistics, until the
    segment is optimised; local mode counts live points only. Sparse and hybrid
    scores on such a collection may differ, so those queries compare only their
    length there. A collection is clean while every upsert into it brought new,
    distinct ids and nothing was deleted.
    """

    def __init__(self) -> None:
        self.ids: dict[str, set[str]] = {}
        self.dirty: set[str] = set()

    def physical(self, oracle: QdrantClient, name: str) -> str:
        return {a.alias_name: a.collection_name for a in oracle.get_aliases().aliases}.get(name, name)

    def record(self, oracle: QdrantClient, kind: str, name: str, pts: Any) -> None:
        if kind == "create":  # a collection name only: a (re)created or deleted one starts clean
            self.ids[name] = set()
            self.dirty.discard(name)
            return
        target = self.physical(oracle, name)
        if kind == "delete":
            self.dirty.add(target)
        else:
            new = [str(p.id) for p in pts]
            known = self.ids.setdefault(target, set())
            if len(set(new)) != len(new) or known & set(new):
                self.dirty.add(target)
            known.update(new)

    def exact(self, oracle: QdrantClient, name: str) -> bool:
        return self.physical(oracle, name) not in self.dirty


def _create(name: str) -> Callable[[Any], Any]:
    def run(client: Any) -> Any:
        client.create_collection(
            name,
            vectors_config={"dense": qm.VectorParams(size=DIM, distance=qm.Distance.COSINE)},
            sparse_vectors_config={"bm25": qm.SparseVectorParams(modifier=qm.Modifier.IDF)},
        )
        client.create_payload_index(name, field_name="path", field_schema=qm.PayloadSchemaType.KEYWORD)
    return run


def _scroll_all(name: str, flt: qm.Filter | None, page: int) -> Callable[[Any], Any]:
    def run(client: Any) -> Any:
        out, offset = [], None
        while True:
            records, offset = client.scroll(name, scroll_filter=flt, limit=page, offset=offset,
                                            with_payload=True)
            out.extend((str(r.id), r.payload) for r in records)
            if offset is None:
                return ("records", sorted(out, key=lambda r: r[0]))
    return run


def _query(name: str, kind: str, vec: list[float], terms: dict[int, float], flt: qm.Filter | None,
           limit: int) -> Callable[[Any], Any]:
    sv = qm.SparseVector(indices=list(terms), values=list(terms.values()))
    prefetch = [qm.Prefetch(query=vec, using="dense", limit=4),
                qm.Prefetch(query=sv, using="bm25", limit=4)]

    def run(client: Any) -> Any:
        if kind == "dense":
            res = client.query_points(name, query=vec, using="dense", query_filter=flt, limit=limit)
        elif kind == "sparse":
            res = client.query_points(name, query=sv, using="bm25", query_filter=flt, limit=limit)
        else:
            res = client.query_points(name, prefetch=prefetch, query=qm.FusionQuery(
                fusion=qm.Fusion.RRF), query_filter=flt, limit=limit)
        return ("scored", kind, [(str(p.id), p.score) for p in res.points])
    run.hybrid = (name, prefetch) if kind == "hybrid" else None  # type: ignore[attr-defined]
    run.sparse = name if kind != "dense" else None  # type: ignore[attr-defined]
    return run


# Hypothesis favours the first alternatives of one_of: reads and queries come first.
operations: st.SearchStrategy[Op] = st.one_of(
    st.tuples(names, st.sampled_from(["dense", "sparse", "hybrid"]), dense, sparse, filters,
              st.integers(1, 6)).map(lambda t: (f"query {t}", _query(*t))),
    st.tuples(names, st.lists(points(), min_size=1, max_size=6)).map(
        lambda t: (f"upsert {t[0]} {[p.id for p in t[1]]}", tag(
            lambda c: c.upsert(t[0], points=t[1], wait=True), "upsert", t[0], t[1]))),
    st.tuples(names, filters).map(
        lambda t: (f"count {t}", lambda c: ("count", c.count(t[0], count_filter=t[1]).count))),
    st.lists(alias_ops, min_size=1, max_size=4).map(
        lambda ops: (f"aliases {ops}", lambda c: c.update_collection_aliases(
            change_aliases_operations=ops))),
    st.tuples(names, filters, st.integers(1, 4)).map(
        lambda t: (f"scroll {t}", _scroll_all(*t))),
    st.tuples(names, filters).map(
        lambda t: (f"facet {t}", lambda c: ("facet", {
            (h.value, h.count) for h in c.facet(t[0], key="path", facet_filter=t[1], limit=10,
                                                exact=True).hits if h.count > 0}))),
    st.tuples(names, st.lists(point_ids, min_size=1, max_size=3)).map(
        lambda t: (f"delete ids {t}", tag(lambda c: c.delete(
            t[0], points_selector=qm.PointIdsList(points=t[1])), "delete", t[0]))),
    st.tuples(names, flat_filters).map(
        lambda t: (f"delete filter {t}", tag(lambda c: c.delete(
            t[0], points_selector=qm.FilterSelector(filter=t[1])), "delete", t[0]))),
    st.tuples(names, st.lists(point_ids, max_size=3)).map(
        lambda t: (f"retrieve {t}", lambda c: ("retrieved", {
            str(r.id): r.payload for r in c.retrieve(t[0], ids=t[1])}))),
    st.just(("listing", lambda c: ("listing", sorted(x.name for x in c.get_collections().collections),
                                   {a.alias_name: a.collection_name
                                    for a in c.get_aliases().aliases}))),
    st.sampled_from(COLLECTIONS + ["a1"]).map(
        lambda n: (f"create {n}", tag(_create(n), "create", n))),
    names.map(lambda n: (f"delete_collection {n}", tag(
        lambda c: c.delete_collection(n), "create", n))),
)

# -- comparison ---------------------------------------------------------------------------------


def outcome(client: Any, fn: Callable[[Any], Any]) -> tuple[bool, Any]:
    try:
        return True, fn(client)
    except Exception as exc:  # noqa: BLE001 - both engines' errors only count as "refused"
        return False, type(exc).__name__


def runs(scored: list[tuple[str, float]]) -> list[tuple[float, set[str]]]:
    """Consecutive groups of equal scores (within TOL)."""
    groups: list[tuple[float, set[str]]] = []
    for pid, score in scored:
        if groups and abs(groups[-1][0] - score) <= TOL:
            groups[-1][1].add(pid)
        else:
            groups.append((score, {pid}))
    return groups


def prefetch_has_tie(oracle: QdrantClient, label: str, fn: Callable[[Any], Any]) -> bool:
    """Whether a hybrid query's prefetch lists hold ties (then fused ranks may differ)."""
    hybrid = getattr(fn, "hybrid", None)
    if hybrid is None:
        return False
    name, prefetch = hybrid
    for stage in prefetch:
        hits = oracle.query_points(name, query=stage.query, using=stage.using,
                                   limit=stage.limit + 1).points
        # RRF fuses ranks: a tie anywhere in a list (or across its cut) may rank differently
        if any(abs(x.score - y.score) <= TOL for x, y in itertools.pairwise(hits)):
            return True
    return False


def assert_same(label: str, oracle_value: Any, edge_value: Any, tie_at_prefetch: bool) -> None:
    if not (isinstance(oracle_value, tuple) and oracle_value and oracle_value[0] == "scored"):
        assert edge_value == oracle_value, label
        return
    kind, ours, theirs = oracle_value[1], oracle_value[2], edge_value[2]
    assert len(theirs) == len(ours), f"{label}: {ours} != {theirs}"
    if kind == "hybrid" and tie_at_prefetch:
        return
    a, b = runs(ours), runs(theirs)
    assert len(a) == len(b), f"{label}: {ours} != {theirs}"
    for i, ((sa, ia), (sb, ib)) in enumerate(zip(a, b, strict=True)):
        assert abs(sa - sb) <= TOL, f"{label}: scores {ours} != {theirs}"
        if i < len(a) - 1:
            assert ia == ib, f"{label}: {ours} != {theirs}"
        else:
            assert len(ia) == len(ib), f"{label}: {ours} != {theirs}"


@settings(
    max_examples=600 if LONG else 40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    st.lists(points(), min_size=3, max_size=12),
    st.lists(points(), min_size=0, max_size=8),
    st.lists(operations, min_size=5, max_size=40 if LONG else 25),
)
def test_edge_matches_local_mode(
    first: list[qm.PointStruct], second: list[qm.PointStruct], ops: list[Op]
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            oracle = QdrantClient(path=os.path.join(tmp, "local"))
        edge = EdgeClient(os.path.join(tmp, "edge"), optimize=OptimizePolicy(enabled=False))
        try:
            idf = IdfTracker()
            for client in (oracle, edge):  # a populated start: c1, c2, alias a1 -> c1
                _create("c1")(client)
                _create("c2")(client)
                client.upsert("c1", points=first)
                if second:
                    client.upsert("c2", points=second)
                client.update_collection_aliases(change_aliases_operations=[
                    qm.CreateAliasOperation(
                        create_alias=qm.CreateAlias(alias_name="a1", collection_name="c1"))])
            for name, batch in (("c1", first), ("c2", second)):
                idf.record(oracle, "create", name, None)
                idf.record(oracle, "upsert", name, batch)
            for label, fn in ops:
                write = getattr(fn, "write", None)
                sparse_on = getattr(fn, "sparse", None)
                exact_idf = sparse_on is None or idf.exact(oracle, sparse_on)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    ok_oracle, value_oracle = outcome(oracle, fn)
                ok_edge, value_edge = outcome(edge, fn)
                assert ok_oracle == ok_edge, (
                    f"{label}: local mode {'ok' if ok_oracle else 'refused'} ({value_oracle}), "
                    f"edge {'ok' if ok_edge else 'refused'} ({value_edge})"
                )
                if ok_oracle and write is not None:
                    idf.record(oracle, *write)
                if ok_oracle and isinstance(value_oracle, tuple):
                    if not exact_idf:
                        assert len(value_edge[2]) == len(value_oracle[2]), label
                        continue
                    tie = prefetch_has_tie(oracle, label, fn)
                    assert_same(label, value_oracle, value_edge, tie)
        finally:
            oracle.close()
            edge.close()


@pytest.mark.parametrize("fusion", [qm.Fusion.RRF, qm.Fusion.DBSF])
def test_fusion_scores_match_local_mode(tmp_path: Any, fusion: qm.Fusion) -> None:
    """A fixed hybrid case without ties: fused scores themselves agree (RRF k=2, DBSF)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        oracle = QdrantClient(path=str(tmp_path / "local"))
    edge = EdgeClient(tmp_path / "edge", optimize=OptimizePolicy(enabled=False))
    try:
        pts = [
            qm.PointStruct(id=i, vector={
                "dense": [1.0 + i, 2.0, 0.5 * i, 1.0],
                "bm25": qm.SparseVector(indices=[i, 20 + i % 3], values=[1.0 + i / 10, 0.7 + i / 50]),
            }, payload={"n": i})
            for i in range(12)
        ]
        prefetch = [
            qm.Prefetch(query=[1.0, 0.2, 0.3, 0.9], using="dense", limit=6),
            qm.Prefetch(query=qm.SparseVector(indices=[3, 21, 22], values=[1.0, 0.5, 0.25]),
                        using="bm25", limit=6),
        ]
        results = []
        for client in (oracle, edge):
            _create("c")(client)
            client.upsert("c", points=pts)
            res = client.query_points("c", prefetch=prefetch, query=qm.FusionQuery(fusion=fusion),
                                      limit=8)
            results.append([(str(p.id), p.score) for p in res.points])
        assert_same(f"fusion {fusion}", ("scored", "fixed", results[0]),
                    ("scored", "fixed", results[1]), False)
    finally:
        oracle.close()
        edge.close()
