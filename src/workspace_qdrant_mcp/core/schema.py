"""The shape of a project's physical collection (DESIGN.md §4)."""

from __future__ import annotations

from qdrant_client import models as qm

DENSE_VECTOR = "dense"
SPARSE_VECTOR = "bm25"
#: A chunk's symbol (name and signature) embedded by the dense model: search's third signal.
#: Only chunks with a symbol have one; collections of recipes before it lack the vector.
SYMBOL_VECTOR = "symbol"
DENSE_DIM = 384

SOURCE_FILE = "file"
SOURCE_NOTE = "note"


def vectors_config(dim: int = DENSE_DIM) -> dict[str, qm.VectorParams]:
    """Named dense vectors of the recipe's model, cosine: the chunk's, and its symbol's."""
    return {DENSE_VECTOR: qm.VectorParams(size=dim, distance=qm.Distance.COSINE),
            SYMBOL_VECTOR: qm.VectorParams(size=dim, distance=qm.Distance.COSINE)}


def sparse_vectors_config() -> dict[str, qm.SparseVectorParams]:
    """Named sparse vector: BM25 term weights, IDF applied by Qdrant."""
    return {SPARSE_VECTOR: qm.SparseVectorParams(modifier=qm.Modifier.IDF)}


def payload_indexes() -> dict[str, qm.PayloadSchemaType]:
    """Keyword indexes for the filters search offers."""
    return {
        "path": qm.PayloadSchemaType.KEYWORD,
        "language": qm.PayloadSchemaType.KEYWORD,
        "source": qm.PayloadSchemaType.KEYWORD,
        # every qualified name a chunk holds and its tails (ingest/symbols.py:symbol_names)
        "symbol_names": qm.PayloadSchemaType.KEYWORD,
    }
