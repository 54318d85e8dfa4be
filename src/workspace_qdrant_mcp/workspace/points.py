"""From chunks to Qdrant points: ids, the text the models read, vectors and the file filter.

Point ids are ``uuid5(path, chunk index, content hash)``: independent of the
project's names and physical collection, so re-running an ingest (or running
it after a rename of the project) writes the same points.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from qdrant_client import models as qm

from ..core import schema
from ..core.recipe import IndexRecipe
from .workspace import Workspace

_ID_NAMESPACE = uuid.UUID("6f1d1f4e-4c1b-5b8e-9a51-7a6b0f0e3c21")


def chunk_point_id(path: str, chunk_index: int, content_hash: str) -> str:
    """The deterministic id of a file chunk (same file content, same id, in any collection)."""
    return str(uuid.uuid5(_ID_NAMESPACE, f"file\0{path}\0{chunk_index}\0{content_hash}"))


def embedding_text(path: str, content: str) -> str:
    """What the models read for a chunk: its path (names carry meaning) then its lines."""
    return f"{path}\n{content}"


def file_filter() -> qm.Filter:
    """A filter on file points (never notes)."""
    source = qm.FieldCondition(key="source", match=qm.MatchValue(value=schema.SOURCE_FILE))
    return qm.Filter(must=[source])


def make_points(
    ws: Workspace, ids: Sequence[str], texts: Sequence[str], payloads: Sequence[dict[str, Any]],
    recipe: IndexRecipe | None = None,
) -> list[qm.PointStruct]:
    """Embed ``texts`` with both models of ``recipe`` and pair them with ids and payloads."""
    chosen = ws.models.for_collection(recipe)
    dense = ws.models.embed_dense(chosen, list(texts))
    sparse = ws.models.sparse(chosen).embed_documents(list(texts))
    return [
        qm.PointStruct(
            id=pid,
            vector={
                schema.DENSE_VECTOR: dense[i],
                schema.SPARSE_VECTOR: qm.SparseVector(
                    indices=list(sparse[i].indices), values=list(sparse[i].values)
                ),
            },
            payload={**payloads[i], "recipe": chosen.id},
        )
        for i, pid in enumerate(ids)
    ]
