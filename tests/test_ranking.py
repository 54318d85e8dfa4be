"""Ranking: a small method found among many by what it does, the symbol signal, the symbol filter.

Real parts throughout: files written here, the real ingest (syntax chunks, the
real dense model, BM25), the embedded Qdrant in tmp_path and the library's
``search`` operation. One repository is indexed once per module.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from qdrant_client import models as qm

from _ranking_samples import INVENTORY
from conftest import git
from workspace_qdrant_mcp.config import Settings
from workspace_qdrant_mcp.core import schema
from workspace_qdrant_mcp.core.errors import InvalidArgument
from workspace_qdrant_mcp.core.recipe import IndexRecipe
from workspace_qdrant_mcp.ingest.symbols import symbol_names, symbol_text
from workspace_qdrant_mcp.ops import ranking
from workspace_qdrant_mcp.ops.ingest import ingest
from workspace_qdrant_mcp.ops.notes import store_note
from workspace_qdrant_mcp.ops.search import search
from workspace_qdrant_mcp.workspace.workspace import Workspace

CART = '''\
class Cart:
    def __init__(self):
        self.lines = {}

    def total_value(self):
        return sum(price * count for price, count in self.lines.values())

    def reset(self):
        self.lines = {}
'''

README = "# Warehouse\n\nTools to keep track of what is on the shelves.\n"
NOTE = "The nightly stock count runs at 02:00 and mails the differences to the manager."


@pytest.fixture(scope="module")
def indexed(tmp_path_factory: pytest.TempPathFactory,
            model_cache_dir: Path) -> Iterator[tuple[Workspace, Path]]:
    base = tmp_path_factory.mktemp("ranking")
    root = base / "repo"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    (root / "shop").mkdir()
    (root / "shop" / "inventory.py").write_text(INVENTORY)
    (root / "shop" / "cart.py").write_text(CART)
    (root / "README.md").write_text(README)
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "initial")
    settings = Settings.from_env({}, data_dir=base / "data", cache_dir=model_cache_dir,
                                 service="off")
    ws = Workspace(settings).open()
    try:
        ingest(ws, project_path=str(root))
        store_note(ws, NOTE, title="stock count", project_path=str(root))
        yield ws, root
    finally:
        ws.close()


def run(indexed: tuple[Workspace, Path], query: str, **params: Any) -> list[dict[str, Any]]:
    ws, root = indexed
    return list(search(ws, query, project_path=str(root), **params)["results"])


def lines_of(text: str, start: int, end: int) -> str:
    return "".join(text.splitlines(keepends=True)[start - 1:end])


# -- finding a small method by what it does ----------------------------------------------------


@pytest.mark.parametrize(("query", "symbol"), [
    ("check if stock has fallen to the reorder level", "Inventory.needs_reorder"),
    ("whether an item needs to be reordered because its stock is low", "Inventory.needs_reorder"),
    ("find the supplier of a product", "Inventory.supplier_of"),
    ("the shelf where an item is stored", "Inventory.shelf_of"),
])
def test_a_small_method_in_a_class_of_40_is_found_by_what_it_does(
    indexed: tuple[Workspace, Path], query: str, symbol: str
) -> None:
    hits = run(indexed, query)
    top = hits[0]
    assert top["symbol"] == symbol, [h.get("symbol") for h in hits]
    assert top["path"] == "shop/inventory.py"
    # the result is the method itself, not the class around it
    assert top["end_line"] - top["start_line"] + 1 <= 3
    assert top["payload"]["content"] == lines_of(INVENTORY, top["start_line"], top["end_line"])
    assert "def " + symbol.split(".")[-1] in top["payload"]["content"]


def test_the_3_line_method_is_exactly_its_lines(indexed: tuple[Workspace, Path]) -> None:
    top = run(indexed, "check if stock has fallen to the reorder level")[0]
    start = INVENTORY.splitlines().index("    def needs_reorder(self, sku):") + 1
    assert (top["start_line"], top["end_line"]) == (start, start + 2)


# -- the symbol signal in the index ------------------------------------------------------------


def test_chunks_with_a_symbol_have_a_symbol_vector_and_names(
        indexed: tuple[Workspace, Path]) -> None:
    ws, root = indexed
    name = ws.project(str(root)).query_name
    records, _ = ws.client.scroll(name, limit=1000, with_payload=True, with_vectors=True)
    with_symbol = [r for r in records if (r.payload or {}).get("symbol")]
    without = [r for r in records if not (r.payload or {}).get("symbol")]
    assert len(with_symbol) >= 40 and without  # the README's text and the note have none
    for record in with_symbol:
        payload, vectors = record.payload or {}, record.vector
        assert isinstance(vectors, dict) and schema.SYMBOL_VECTOR in vectors
        assert payload["symbol_names"] == symbol_names(payload["symbols"])
    for record in without:
        assert isinstance(record.vector, dict) and schema.SYMBOL_VECTOR not in record.vector
        assert schema.DENSE_VECTOR in record.vector


def test_chunks_without_a_symbol_still_rank(indexed: tuple[Workspace, Path]) -> None:
    # The symbol prefetch skips them; the dense and BM25 prefetches still find them.
    hits = run(indexed, "when does the nightly stock count run")
    assert hits[0]["payload"]["source"] == schema.SOURCE_NOTE
    assert "symbol" not in hits[0]
    hits = run(indexed, "keep track of what is on the shelves", path_glob="*.md")
    assert hits[0]["path"] == "README.md"


def test_the_fusion_is_by_score(indexed: tuple[Workspace, Path]) -> None:
    # DBSF sums per-list scores scaled to about [0, 1]: a hit found by all three lists
    # scores above 1, which rank fusion (RRF, at most 3 / (1 + k)) never gives.
    assert ranking.FUSION == qm.Fusion.DBSF
    top = run(indexed, "check if stock has fallen to the reorder level")[0]
    assert top["score"] > 1.0


def test_a_collection_without_a_symbol_vector_is_still_searched(
        indexed: tuple[Workspace, Path]) -> None:
    ws, _ = indexed
    legacy = "legacy_two_vectors"
    ws.client.create_collection(
        legacy, vectors_config={schema.DENSE_VECTOR: schema.vectors_config()[schema.DENSE_VECTOR]},
        sparse_vectors_config=schema.sparse_vectors_config())
    text = "def parse_header(line):\n    return line.split(':', 1)\n"
    sparse = ws.sparse.embed_documents([text])[0]
    ws.client.upsert(legacy, points=[qm.PointStruct(
        id=1, vector={schema.DENSE_VECTOR: ws.dense.embed_query(text),
                      schema.SPARSE_VECTOR: qm.SparseVector(indices=sparse.indices,
                                                            values=sparse.values)},
        payload={"path": "http.py", "start_line": 1, "end_line": 2, "content": text,
                 "source": schema.SOURCE_FILE, "symbol": "parse_header"})])
    for _ in range(2):  # the second search knows the collection has no symbol vector
        found = search(ws, "split a header line", collection=legacy)["results"]
        assert [h["path"] for h in found] == ["http.py"]
    assert ranking._known_lacking(ws.client, legacy)


# -- the symbol filter -------------------------------------------------------------------------


# The small class Cart is one chunk (named Cart) that holds its methods: it matches them.
@pytest.mark.parametrize(("symbol", "expected"), [
    ("needs_reorder", {"Inventory.needs_reorder"}),
    ("Inventory.needs_reorder", {"Inventory.needs_reorder"}),
    ("total_value", {"Inventory.total_value", "Cart"}),
    ("Cart.total_value", {"Cart"}),
    ("  Cart.reset ", {"Cart"}),
])
def test_symbol_filter_matches_the_name_or_its_last_parts(
        indexed: tuple[Workspace, Path], symbol: str, expected: set[str]) -> None:
    name = symbol.strip()
    for mode in ("hybrid", "dense", "sparse"):
        hits = run(indexed, "value of the goods", symbol=symbol, mode=mode)
        if mode == "sparse" and not hits:
            continue  # no keyword of the query is in those chunks: nothing to rank by
        assert {h["symbol"] for h in hits} == expected, mode
        for hit in hits:  # each holds a definition named NAME or ending with .NAME
            assert any(s == name or s.endswith("." + name) for s in hit["payload"]["symbols"])


@pytest.mark.parametrize("symbol", ["reorder", "eds_reorder", "ventory.needs_reorder",
                                    "needs_reorder.Inventory", "NEEDS_REORDER"])
def test_symbol_filter_is_exact_about_names(indexed: tuple[Workspace, Path], symbol: str) -> None:
    assert run(indexed, "check if stock has fallen to the reorder level", symbol=symbol) == []


def test_symbol_filter_combines_with_the_other_filters(indexed: tuple[Workspace, Path]) -> None:
    hits = run(indexed, "value", symbol="total_value", path_glob="shop/cart.py")
    assert [h["symbol"] for h in hits] == ["Cart"]
    assert run(indexed, "value", symbol="total_value", language="markdown") == []


@pytest.mark.parametrize("symbol", ["", "   ", "x" * 1001])
def test_a_bad_symbol_is_refused_in_one_sentence(indexed: tuple[Workspace, Path],
                                                 symbol: str) -> None:
    with pytest.raises(InvalidArgument, match="symbol"):
        run(indexed, "anything", symbol=symbol)


# -- pure parts --------------------------------------------------------------------------------


def test_symbol_text_has_the_name_its_words_and_the_signature() -> None:
    content = ("    @property\n    def get_user(self, user_id: int,\n"
               "                 retries=3) -> User:\n        return 1\n")
    assert symbol_text("Client.get_user", content) == (
        "Client.get_user client get user def get user(self, user id: int, retries=3) -> user:")
    # a comment naming the function is not its signature
    assert symbol_text("load", "# load is lazy\ndef load(path):\n    pass\n") == (
        "load load def load(path):")
    assert symbol_text("Guide > Install", "## Install\nRun pip.\n") == (
        "Guide > Install guide install ## install")
    # a piece continuing a definition: its signature is in an earlier chunk
    assert symbol_text("Client.get_user", "        x = 1\n") == "Client.get_user client get user"


def test_symbol_names_are_each_name_and_its_tails() -> None:
    assert symbol_names(["pkg.Client.get", "Guide > Install", "pkg.Client.get", " "]) == [
        "pkg.Client.get", "Client.get", "get", "Guide > Install", "Install"]


def test_a_recipe_without_a_symbol_vector_keeps_its_id() -> None:
    # Collections built before the symbol vector recorded recipes without the field;
    # their id (on every point) must not change, or every file would look stale.
    old = {"dense": "precise", "dense_signature": "sig", "dense_dim": 384,
           "sparse": "bm25-2", "chunker": "syntax-1", "payload": 3}
    expected = hashlib.sha256(json.dumps(old, sort_keys=True).encode()).hexdigest()[:12]
    assert IndexRecipe.from_dict(old).id == expected
    new = IndexRecipe.from_dict({**old, "payload": 4, "symbol": "sig-1"})
    assert new.id != expected and new.symbol == "sig-1"
    assert "symbol vector None -> sig-1" in new.differences(IndexRecipe.from_dict(old))
