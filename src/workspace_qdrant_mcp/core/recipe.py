"""The index recipe: everything that decides the points of a collection.

Two collections built with equal recipes hold interchangeable points; points of
two recipes never meet in one collection (DESIGN.md §2). A recipe names the
dense model (the embedding recipe's signature, which pins the derived model,
its token budget and dimension), the sparse tokenizer, the chunker, and the
payload schema. Each physical collection records the recipe that built it
(the registry's ``collections`` table, and a ``recipe`` id on every point), and
an incremental ingest writes with the collection's recipe, never another: a
new recipe reaches a collection only through a rebuild beside it and one atomic
switch of its names (``ops/reindex.py``).

Pure values: no I/O.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from typing import Any

from .errors import InvalidArgument

#: What a point's payload holds; bump when fields change meaning or are added that search
#: relies on (3: symbol, start_col/end_col, recipe; 4: symbol_names, for the symbol filter).
PAYLOAD_VERSION = 4


@dataclass(frozen=True)
class IndexRecipe:
    """The recipe of one collection's points."""

    #: The embedding recipe's name and signature (model, dimension, token budget, build).
    dense: str
    dense_signature: str
    dense_dim: int
    #: The sparse (BM25) tokenizer version.
    sparse: str
    #: The chunker version (line chunker or syntax chunker).
    chunker: str
    payload: int = PAYLOAD_VERSION
    #: The text of the symbol vector (``ingest.symbols.SYMBOL_TEXT_VERSION``); None: the
    #: collection has no symbol vector (recipes made before it).
    symbol: str | None = None

    @property
    def id(self) -> str:
        """A short stable id (12 hex) of the whole recipe: equal ids, equal points.

        A field that is None is left out, so adding an optional field keeps the ids of
        the recipes made before it.
        """
        fields = {k: v for k, v in asdict(self).items() if v is not None}
        text = json.dumps(fields, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:12]

    def to_dict(self) -> dict[str, Any]:
        """JSON form, with the id."""
        return {**asdict(self), "id": self.id}

    @classmethod
    def from_dict(cls, data: Any) -> IndexRecipe:
        """Parse a stored recipe (the ``id`` key, if any, is recomputed, not trusted)."""
        if not isinstance(data, dict):
            raise InvalidArgument("A stored index recipe is not a JSON object.")
        try:
            return cls(
                dense=str(data["dense"]),
                dense_signature=str(data["dense_signature"]),
                dense_dim=int(data["dense_dim"]),
                sparse=str(data["sparse"]),
                chunker=str(data["chunker"]),
                payload=int(data.get("payload", PAYLOAD_VERSION)),
                symbol=None if data.get("symbol") is None else str(data["symbol"]),
            )
        except (KeyError, TypeError, ValueError):
            raise InvalidArgument("A stored index recipe lacks a field or has a bad one.") from None

    def differences(self, other: IndexRecipe) -> list[str]:
        """What differs from ``other``, in words (for status and reindex messages)."""
        mine, theirs = asdict(self), asdict(other)
        labels = {"dense": "dense model", "dense_signature": "dense model build",
                  "dense_dim": "dense dimension", "sparse": "sparse tokenizer",
                  "chunker": "chunker", "payload": "payload schema", "symbol": "symbol vector"}
        return [f"{labels[key]} {theirs[key]} -> {mine[key]}" for key in labels
                if mine[key] != theirs[key]]


__all__ = ["PAYLOAD_VERSION", "IndexRecipe"]
