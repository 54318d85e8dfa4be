"""The Edge adapter (core/edge) on the real qdrant-edge engine in tmp folders.

API behaviour through qdrant-client's models, Qdrant's alias rules, crash
consistency (a child process SIGKILLed mid upsert batch and mid alias batch),
the one-sentence second-process error, a shard broken by hand, and the
out-of-process HNSW optimisation. Nothing is mocked.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from qdrant_client import models as qm

from workspace_qdrant_mcp.core.edge import EdgeClient, OptimizePolicy
from workspace_qdrant_mcp.core.errors import StoreError, StoreLocked

SRC = str(Path(__file__).resolve().parents[1] / "src")
DIM = 8


def uid(i: int) -> str:
    """A deterministic UUID string id."""
    return str(uuid.UUID(int=i + 1))


def make(client: EdgeClient, name: str) -> None:
    """A collection shaped like wqm's: named dense (cosine) + sparse with IDF."""
    client.create_collection(
        name,
        vectors_config={"dense": qm.VectorParams(size=DIM, distance=qm.Distance.COSINE)},
        sparse_vectors_config={"bm25": qm.SparseVectorParams(modifier=qm.Modifier.IDF)},
    )


def point(i: int, **payload: object) -> qm.PointStruct:
    """Point ``i``: a dense vector leaning on axis i % DIM, a sparse vector of terms i and 100."""
    dense = [0.1] * DIM
    dense[i % DIM] = 1.0 + i / 100
    return qm.PointStruct(
        id=uid(i),
        vector={
            "dense": dense,
            "bm25": qm.SparseVector(indices=[i % 7, 100], values=[1.0, 0.5]),
        },
        payload={"path": f"f{i % 3}.py", "n": i, "meta": {"tags": ["a", f"t{i % 2}"]}, **payload},
    )


@pytest.fixture
def edge(tmp_path: Path) -> Iterator[EdgeClient]:
    """An Edge store in tmp_path (optimiser off: tests call it explicitly)."""
    client = EdgeClient(tmp_path / "edge", optimize=OptimizePolicy(enabled=False))
    yield client
    client.close()


@pytest.fixture
def filled(edge: EdgeClient) -> EdgeClient:
    """Collection ``c`` with 20 points and a keyword index on path."""
    make(edge, "c")
    edge.upsert("c", points=[point(i) for i in range(20)], wait=True)
    edge.create_payload_index("c", field_name="path", field_schema=qm.PayloadSchemaType.KEYWORD)
    return edge


# -- API behaviour ----------------------------------------------------------------------------


def test_points_round_trip_with_uuid_ids_named_vectors_and_nested_payload(filled: EdgeClient) -> None:
    assert filled.count("c", exact=True).count == 20
    [record] = filled.retrieve("c", ids=[uid(3)], with_payload=True, with_vectors=True)
    assert record.id == uid(3)
    assert record.payload == {"path": "f0.py", "n": 3, "meta": {"tags": ["a", "t1"]}}
    assert isinstance(record.vector, dict)
    assert record.vector["bm25"] == qm.SparseVector(indices=[3, 100], values=[1.0, 0.5])
    info = filled.get_collection("c")
    assert info.points_count == 20
    assert isinstance(info.config.params.vectors, dict)
    assert info.config.params.vectors["dense"].size == DIM
    assert info.payload_schema["path"].data_type == qm.PayloadSchemaType.KEYWORD


def test_scroll_pages_cover_every_point_once_in_id_order(filled: EdgeClient) -> None:
    seen: list[str] = []
    offset = None
    while True:
        records, offset = filled.scroll("c", limit=6, offset=offset, with_payload=["n"])
        seen.extend(str(r.id) for r in records)
        assert all(set((r.payload or {}).keys()) == {"n"} for r in records)
        if offset is None:
            break
    assert seen == sorted(uid(i) for i in range(20))


@pytest.mark.parametrize(
    ("flt", "expected"),
    [
        (qm.Filter(must=[qm.FieldCondition(key="path", match=qm.MatchValue(value="f1.py"))]),
         {i for i in range(20) if i % 3 == 1}),
        (qm.Filter(must=[qm.FieldCondition(key="n", match=qm.MatchAny(any=[1, 2, 5]))]),
         {1, 2, 5}),
        (qm.Filter(must=[qm.FieldCondition(key="path", match=qm.MatchExcept(**{"except": ["f0.py"]}))]),
         {i for i in range(20) if i % 3 != 0}),
        (qm.Filter(must=[qm.FieldCondition(key="n", range=qm.Range(gte=5, lt=9))]), {5, 6, 7, 8}),
        (qm.Filter(must=[qm.HasIdCondition(has_id=[uid(4), uid(9)])]), {4, 9}),
        (qm.Filter(must_not=[qm.Filter(should=[
            qm.FieldCondition(key="n", range=qm.Range(lt=10)),
            qm.FieldCondition(key="meta.tags[]", match=qm.MatchValue(value="t1")),
        ])]), {10, 12, 14, 16, 18}),
    ],
)
def test_filters_select_the_same_points_for_count_scroll_and_query(
    filled: EdgeClient, flt: qm.Filter, expected: set[int]
) -> None:
    ids = {uid(i) for i in expected}
    assert filled.count("c", count_filter=flt).count == len(expected)
    records, _ = filled.scroll("c", scroll_filter=flt, limit=100)
    assert {r.id for r in records} == ids
    hits = filled.query_points("c", query=[1.0] * DIM, using="dense", query_filter=flt, limit=100)
    assert {p.id for p in hits.points} == ids


def test_dense_sparse_and_hybrid_queries(filled: EdgeClient) -> None:
    dense = [0.1] * DIM
    dense[2] = 1.0
    top = filled.query_points("c", query=dense, using="dense", limit=3).points
    assert top[0].id == uid(2) and top[0].score > top[1].score
    sparse = filled.query_points(
        "c", query=qm.SparseVector(indices=[5], values=[1.0]), using="bm25", limit=10
    ).points
    assert {p.id for p in sparse} == {uid(i) for i in range(20) if i % 7 == 5}
    for fusion in (qm.Fusion.RRF, qm.Fusion.DBSF):
        hybrid = filled.query_points(
            "c",
            prefetch=[
                qm.Prefetch(query=dense, using="dense", limit=5),
                qm.Prefetch(query=qm.SparseVector(indices=[2], values=[1.0]), using="bm25", limit=5),
            ],
            query=qm.FusionQuery(fusion=fusion),
            limit=3,
            with_payload=True,
        ).points
        assert hybrid[0].id == uid(2), fusion  # first in both lists
        assert hybrid[0].payload is not None and hybrid[0].payload["n"] == 2


def test_facet_counts_values_of_an_indexed_field_and_refuses_an_unindexed_one(
    filled: EdgeClient,
) -> None:
    hits = filled.facet("c", key="path", limit=10, exact=True).hits
    assert {(h.value, h.count) for h in hits} == {("f0.py", 7), ("f1.py", 7), ("f2.py", 6)}
    only = qm.Filter(must=[qm.FieldCondition(key="n", range=qm.Range(lt=3))])
    assert {h.value for h in filled.facet("c", key="path", facet_filter=only).hits} == {
        "f0.py", "f1.py", "f2.py"}
    with pytest.raises(StoreError, match="index"):  # as the server: facets need an index
        filled.facet("c", key="n", limit=10)


def test_delete_by_ids_and_by_filter(filled: EdgeClient) -> None:
    filled.delete("c", points_selector=qm.PointIdsList(points=[uid(0), uid(1)]), wait=True)
    flt = qm.Filter(must=[qm.FieldCondition(key="path", match=qm.MatchValue(value="f2.py"))])
    filled.delete("c", points_selector=qm.FilterSelector(filter=flt), wait=True)
    left = {r.id for r in filled.scroll("c", limit=100)[0]}
    assert left == {uid(i) for i in range(2, 20) if i % 3 != 2}


def test_bad_input_is_one_store_error(filled: EdgeClient) -> None:
    with pytest.raises(StoreError, match="dimension"):
        filled.upsert("c", points=[qm.PointStruct(id=1, vector={"dense": [1.0, 2.0]})])
    with pytest.raises(StoreError, match="neither an unsigned integer nor a UUID"):
        filled.upsert("c", points=[qm.PointStruct.model_construct(id="nope", vector={})])
    with pytest.raises(StoreError, match="repeats an index"):
        filled.query_points("c", query=qm.SparseVector(indices=[1, 1], values=[1, 1]), using="bm25")
    with pytest.raises(StoreError, match="not found"):
        filled.count("missing")
    with pytest.raises(StoreError, match="already exists"):
        make(filled, "c")
    with pytest.raises(StoreError, match="cannot contain"):
        make(filled, "a/b")


# -- aliases ------------------------------------------------------------------------------------


def aliases(client: EdgeClient) -> dict[str, str]:
    return {a.alias_name: a.collection_name for a in client.get_aliases().aliases}


def create(alias: str, target: str) -> qm.CreateAliasOperation:
    return qm.CreateAliasOperation(create_alias=qm.CreateAlias(collection_name=target, alias_name=alias))


def delete(alias: str) -> qm.DeleteAliasOperation:
    return qm.DeleteAliasOperation(delete_alias=qm.DeleteAlias(alias_name=alias))


def rename(old: str, new: str) -> qm.RenameAliasOperation:
    return qm.RenameAliasOperation(
        rename_alias=qm.RenameAlias(old_alias_name=old, new_alias_name=new)
    )


@pytest.fixture
def two(edge: EdgeClient) -> EdgeClient:
    """Collections ``c1`` (one point) and ``c2`` (two points), alias ``a`` -> c1."""
    make(edge, "c1")
    make(edge, "c2")
    edge.upsert("c1", points=[point(1)])
    edge.upsert("c2", points=[point(2), point(3)])
    edge.update_collection_aliases(change_aliases_operations=[create("a", "c1")])
    return edge


def test_every_data_call_resolves_an_alias(two: EdgeClient) -> None:
    assert two.count("a").count == 1
    assert two.collection_exists("a") and not two.collection_exists("b")
    two.upsert("a", points=[point(9)])
    assert two.count("c1").count == 2
    assert two.get_collection("a").points_count == 2
    assert two.delete_collection("a") is False  # a collection name only, as on the server
    assert two.collection_exists("c1")


def test_a_batch_applies_all_or_nothing(two: EdgeClient) -> None:
    with pytest.raises(StoreError, match="not found"):
        two.update_collection_aliases(
            change_aliases_operations=[delete("a"), create("b", "c2"), create("x", "nope")]
        )
    assert aliases(two) == {"a": "c1"}
    two.update_collection_aliases(
        change_aliases_operations=[delete("a"), create("a", "c2"), create("b", "c2")]
    )
    assert aliases(two) == {"a": "c2", "b": "c2"}


@pytest.mark.parametrize(
    "operation",
    [
        create("c2", "c1"),  # an alias cannot take a collection's name
        create("b", "a"),  # an alias points at a collection, never at an alias
        rename("missing", "b"),
        rename("a", "c2"),
    ],
)
def test_refused_alias_operations_change_nothing(two: EdgeClient, operation: object) -> None:
    with pytest.raises(StoreError):
        two.update_collection_aliases(change_aliases_operations=[operation])  # type: ignore[list-item]
    assert aliases(two) == {"a": "c1"}


def test_alias_rules_shared_with_local_mode(two: EdgeClient) -> None:
    two.update_collection_aliases(change_aliases_operations=[create("a", "c2")])  # re-points
    assert aliases(two) == {"a": "c2"}
    two.update_collection_aliases(change_aliases_operations=[delete("nothing")])  # no-op
    two.update_collection_aliases(change_aliases_operations=[rename("a", "b")])
    assert aliases(two) == {"b": "c2"}
    with pytest.raises(StoreError, match="Alias b already exists"):
        make(two, "b")
    assert two.delete_collection("c2") is True
    assert aliases(two) == {}
    assert not two.collection_exists("b")


def test_catalog_and_points_survive_reopen(tmp_path: Path) -> None:
    path = tmp_path / "edge"
    client = EdgeClient(path)
    make(client, "c1")
    client.upsert("c1", points=[point(i) for i in range(5)])
    client.update_collection_aliases(change_aliases_operations=[create("a", "c1")])
    client.close()
    client = EdgeClient(path)
    try:
        assert aliases(client) == {"a": "c1"}
        assert client.count("a").count == 5
        assert client.get_collection("a").config.params.sparse_vectors is not None
    finally:
        client.close()


def test_switching_under_concurrent_queries_never_shows_a_missing_name(two: EdgeClient) -> None:
    failures: list[str] = []
    counts: set[int] = set()
    stop = threading.Event()

    def reader() -> None:
        while not stop.is_set():
            try:
                n = two.query_points("a", query=[1.0] * DIM, using="dense", limit=10).points
                counts.add(len(n))
            except StoreError as exc:
                failures.append(str(exc))

    threads = [threading.Thread(target=reader) for _ in range(3)]
    for t in threads:
        t.start()
    for i in range(200):
        target = "c2" if i % 2 == 0 else "c1"
        two.update_collection_aliases(change_aliases_operations=[delete("a"), create("a", target)])
    stop.set()
    for t in threads:
        t.join()
    assert failures == []
    assert counts <= {1, 2} and counts


# -- faults -------------------------------------------------------------------------------------


def run_child(code: str, *args: str) -> subprocess.Popen[str]:
    """A child Python process with this checkout's package on its path."""
    env = {**os.environ, "PYTHONPATH": SRC}
    return subprocess.Popen(
        [sys.executable, "-c", code, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, env=env,
    )


def test_a_second_process_gets_one_sentence(edge: EdgeClient) -> None:
    child = run_child(
        "import sys\n"
        "from workspace_qdrant_mcp.core.edge import EdgeClient\n"
        "from workspace_qdrant_mcp.core.errors import StoreLocked\n"
        "try:\n    EdgeClient(sys.argv[1])\n"
        "except StoreLocked as exc:\n    print(exc)\n",
        str(edge.root),
    )
    out, err = child.communicate(timeout=60)
    assert err == ""
    assert out.strip() == (
        f"The embedded store {edge.root} is open in another process; use the wqm CLI or "
        "MCP server (they share it through the workspace service), or stop that process."
    )
    with pytest.raises(StoreLocked):  # a second client in this process too
        EdgeClient(edge.root)


@pytest.mark.parametrize("damage", ["delete", "garbage"])
def test_a_shard_broken_by_hand_fails_only_its_collection(tmp_path: Path, damage: str) -> None:
    path = tmp_path / "edge"
    client = EdgeClient(path)
    for name in ("good", "bad"):
        make(client, name)
        client.upsert(name, points=[point(i) for i in range(5)])
    client.update_collection_aliases(change_aliases_operations=[create("bad-alias", "bad")])
    client.close()
    shard = path / next(e.shard_dir for e in _entries(path) if e.name == "bad")
    if damage == "delete":
        import shutil

        shutil.rmtree(shard)
    else:
        for file in shard.rglob("*"):
            if file.is_file():
                file.write_bytes(b"\xff garbage \x00" * 7)
    client = EdgeClient(path)
    try:
        assert client.count("good").count == 5
        with pytest.raises(StoreError, match="collection bad is broken"):
            client.count("bad-alias")
        with pytest.raises(StoreError, match="collection bad is broken"):  # remembered
            client.query_points("bad", query=[1.0] * DIM, using="dense")
        [broken] = client.broken_shards()
        assert (broken.collection, broken.aliases) == ("bad", ("bad-alias",))
        client.upsert("good", points=[point(7)])
        assert client.delete_collection("bad") is True  # a broken one can still be dropped
        assert client.broken_shards() == []
    finally:
        client.close()


def _entries(path: Path) -> list[object]:
    from workspace_qdrant_mcp.core.edge.catalog import Catalog

    catalog = Catalog(path / "catalog.db")
    try:
        return list(catalog.load()[0].values())
    finally:
        catalog.close()


def test_orphan_shard_folders_are_removed_at_open(tmp_path: Path) -> None:
    path = tmp_path / "edge"
    EdgeClient(path).close()
    orphan = path / "shards" / "0123456789abcdef"
    (orphan / "segments").mkdir(parents=True)
    EdgeClient(path).close()
    assert not orphan.exists()


UPSERT_CHILD = """
import sys
from qdrant_client import models as qm
from workspace_qdrant_mcp.core.edge import EdgeClient
client = EdgeClient(sys.argv[1])
if not client.collection_exists("c"):
    client.create_collection("c", vectors_config={"d": qm.VectorParams(size=4, distance=qm.Distance.DOT)})
batch = 0
while True:
    client.upsert("c", points=[
        qm.PointStruct(id=batch * 1000 + i, vector={"d": [1.0, i, batch, 0.5]}, payload={"b": batch})
        for i in range(300)
    ], wait=True)
    print(batch, flush=True)
    batch += 1
"""

ALIAS_CHILD = """
import sys
from qdrant_client import models as qm
from workspace_qdrant_mcp.core.edge import EdgeClient
client = EdgeClient(sys.argv[1])
for name in ("c1", "c2"):
    if not client.collection_exists(name):
        client.create_collection(name, vectors_config={"d": qm.VectorParams(size=4, distance=qm.Distance.DOT)})
i = 0
while True:
    target = "c1" if i % 2 else "c2"
    ops = []
    for alias in ("a1", "a2", "a3", "a4"):
        ops.append(qm.DeleteAliasOperation(delete_alias=qm.DeleteAlias(alias_name=alias)))
        ops.append(qm.CreateAliasOperation(create_alias=qm.CreateAlias(collection_name=target, alias_name=alias)))
    client.update_collection_aliases(change_aliases_operations=ops)
    print(target, flush=True)
    i += 1
"""


@pytest.mark.parametrize("round_", range(3))
def test_sigkill_mid_upsert_batch_keeps_every_acknowledged_write(
    tmp_path: Path, round_: int
) -> None:
    path = tmp_path / "edge"
    child = run_child(UPSERT_CHILD, str(path))
    assert child.stdout is not None
    acked = [int(child.stdout.readline()) for _ in range(5 + 4 * round_)]
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    client = EdgeClient(path)
    try:
        for batch in acked:
            flt = qm.Filter(must=[qm.FieldCondition(key="b", match=qm.MatchValue(value=batch))])
            assert client.count("c", count_filter=flt).count == 300, batch
        total = client.count("c").count
        assert total % 300 == 0 and total >= 300 * len(acked)  # no half batch either
    finally:
        client.close()


@pytest.mark.parametrize("round_", range(3))
def test_sigkill_mid_alias_batch_leaves_a_whole_alias_table(tmp_path: Path, round_: int) -> None:
    path = tmp_path / "edge"
    child = run_child(ALIAS_CHILD, str(path))
    assert child.stdout is not None
    last = ""
    for _ in range(20 + 15 * round_):
        last = child.stdout.readline().strip()
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    client = EdgeClient(path)
    try:
        table = aliases(client)
        assert set(table) == {"a1", "a2", "a3", "a4"}
        assert len(set(table.values())) == 1  # one batch or the next, never a mix
        assert last in {"c1", "c2"}
    finally:
        client.close()


# -- HNSW optimisation ---------------------------------------------------------------------------


def test_optimising_swaps_in_an_indexed_copy_and_keeps_writes_made_meanwhile(
    edge: EdgeClient,
) -> None:
    make(edge, "c")
    edge.update_collection_aliases(change_aliases_operations=[create("a", "c")])
    edge.upsert("c", points=[point(i) for i in range(300)])
    query = [0.3] * DIM
    before = [p.id for p in edge.query_points("a", query=query, using="dense", limit=5).points]
    old_dir = edge._collections["c"].entry.shard_dir
    done = threading.Event()
    errors: list[BaseException] = []

    def optimise() -> None:
        try:
            assert edge.optimize_collection("a") is True
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)
        finally:
            done.set()

    thread = threading.Thread(target=optimise)
    thread.start()
    written = 0
    while not done.is_set():  # searches and writes go on while the child optimises
        assert len(edge.query_points("a", query=query, using="dense", limit=5).points) == 5
        edge.upsert("a", points=[point(1000 + written)])
        written += 1
    thread.join()
    assert errors == []
    assert written > 0
    assert edge._collections["c"].entry.shard_dir != old_dir
    assert not (edge.root / old_dir).exists()
    assert edge.count("a").count == 300 + written
    after = [p.id for p in edge.query_points("a", query=query, using="dense", limit=5).points]
    assert after[:1] == before[:1] or written  # new points may outrank; the store stays whole
    assert edge.broken_shards() == []
