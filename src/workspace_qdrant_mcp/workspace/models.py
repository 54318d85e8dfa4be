"""What turns a file into points under one recipe: its chunker and its two embedders.

A ``Models`` object belongs to a workspace and loads each model once per
process, on first use, and only the models a recipe names. ``current()`` is the
recipe new collections get (from the settings); an existing collection keeps
the recipe it was built with (``core/index_registry.py``), and ``producible``
says whether this code can still make points of that recipe (an incremental
write may only add points of the collection's own recipe).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ..config import Settings
from ..core.recipe import IndexRecipe
from ..embed.dense import DENSE_DIM, MODEL_NAME, DenseEmbedder, get_dense_embedder
from ..embed.sparse import SPARSE_VERSION, SparseEmbedder
from ..ingest.chunker import chunk_text
from ..ingest.symbols import SYMBOL_TEXT_VERSION
from ..ingest.syntax import CHUNKER_VERSION, chunk_file

#: Versions of what this code produces (bump with the code that changes its output).
LINE_CHUNKER_VERSION = "lines-2"
DENSE_RECIPE = "precise"
DENSE_SIGNATURE = f"{DENSE_RECIPE}:{MODEL_NAME}:{DENSE_DIM}d:256t"


@dataclass(frozen=True)
class TextChunk:
    """A chunk as the indexer writes it: exact lines shown, a header only embedded."""

    index: int
    start_line: int
    end_line: int
    content: str
    start_col: int | None = None
    end_col: int | None = None
    symbol: str | None = None
    symbols: tuple[str, ...] = ()
    kind: str = "lines"
    #: Context the models read before the lines (path, enclosing names); never shown.
    header: str = ""


Chunker = Callable[[str, str], list[TextChunk]]


def line_chunks(path: str, text: str) -> list[TextChunk]:
    """The line chunker, headed by the file's path (its names carry meaning)."""
    return [
        TextChunk(c.index, c.start_line, c.end_line, c.content, c.start_col, c.end_col,
                  header=path)
        for c in chunk_text(text)
    ]


def syntax_chunks(path: str, text: str) -> list[TextChunk]:
    """The syntax chunker (tree-sitter; the line chunker where no parser fits)."""
    return [
        TextChunk(c.index, c.start_line, c.end_line, c.content, c.start_col, c.end_col,
                  c.symbol, c.symbols, c.kind, c.header)
        for c in chunk_file(path, text)
    ]


def embedding_text(header: str, content: str) -> str:
    """What the dense and BM25 models read for a chunk: its header, then its lines."""
    return f"{header}\n{content}" if header else content


class Models:
    """The chunker and embedders of the recipes a workspace uses, loaded once each."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._dense: DenseEmbedder | None = None
        self._sparse: SparseEmbedder | None = None

    def current(self) -> IndexRecipe:
        """The recipe this code gives new collections (and rebuilds move old ones to)."""
        return IndexRecipe(
            dense=DENSE_RECIPE,
            dense_signature=DENSE_SIGNATURE,
            dense_dim=DENSE_DIM,
            sparse=SPARSE_VERSION,
            chunker=CHUNKER_VERSION,
            symbol=SYMBOL_TEXT_VERSION,
        )

    def producible(self, recipe: IndexRecipe) -> bool:
        """True when this code can make points of ``recipe`` (same chunker, models, schema)."""
        return recipe.id == self.current().id

    def chunker(self, recipe: IndexRecipe) -> Chunker:
        """The chunker of ``recipe`` (a recipe of the line chunker is rebuilt, not extended)."""
        return syntax_chunks if recipe.chunker == CHUNKER_VERSION else line_chunks

    def dense(self, recipe: IndexRecipe | None = None) -> DenseEmbedder:
        """The dense embedder (the model loads once per process, on first use)."""
        with self._lock:
            if self._dense is None:
                self._dense = get_dense_embedder(
                    self.settings.model_path,
                    device=self.settings.device,
                    backend=self.settings.embed_backend,
                    cache_dir=self.settings.model_cache_dir,
                )
            return self._dense

    def sparse(self, recipe: IndexRecipe | None = None) -> SparseEmbedder:
        """The BM25 sparse embedder."""
        with self._lock:
            if self._sparse is None:
                self._sparse = SparseEmbedder()
            return self._sparse

    def embed_dense(self, recipe: IndexRecipe, texts: Sequence[str]) -> list[list[float]]:
        """Dense vectors of ``texts`` under ``recipe``."""
        return [vector.tolist() for vector in self.dense(recipe).embed(list(texts))]


__all__ = ["Chunker", "Models", "TextChunk", "embedding_text", "line_chunks"]
