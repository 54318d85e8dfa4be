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
from ..core.recipe import PAYLOAD_VERSION, IndexRecipe
from ..embed.recipes import RECIPES, Embedder, get_recipe, make_embedder
from ..embed.sparse import SPARSE_VERSION, SparseEmbedder
from ..ingest.chunker import chunk_text
from ..ingest.symbols import SYMBOL_TEXT_VERSION
from ..ingest.syntax import CHUNKER_VERSION, chunk_file

#: The line chunker's version (the syntax chunker falls back to it inside its own version).
LINE_CHUNKER_VERSION = "lines-2"


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
        # A test setting adds a tag to the chunker version, as a release changing it would.
        tag = settings.recipe_tag
        self._chunker_version = f"{CHUNKER_VERSION}+{tag}" if tag else CHUNKER_VERSION
        self._dense: dict[str, Embedder] = {}
        self._sparse: SparseEmbedder | None = None

    def current(self) -> IndexRecipe:
        """The recipe this code gives new collections (and rebuilds move old ones to)."""
        dense = get_recipe(self.settings.embed_recipe)
        return IndexRecipe(
            dense=dense.id,
            dense_signature=dense.signature,
            dense_dim=dense.dim,
            sparse=SPARSE_VERSION,
            chunker=self._chunker_version,
            symbol=SYMBOL_TEXT_VERSION,
        )

    def producible(self, recipe: IndexRecipe) -> bool:
        """True when this code makes points of ``recipe``: its chunker, tokenizer, schema and
        an embedding recipe of the same signature (any of the recipes wqm ships)."""
        dense = RECIPES.get(recipe.dense)
        return (recipe.chunker == self._chunker_version and recipe.sparse == SPARSE_VERSION
                and recipe.payload == PAYLOAD_VERSION and dense is not None
                and dense.signature == recipe.dense_signature)

    def chunker(self, recipe: IndexRecipe) -> Chunker:
        """The chunker of ``recipe`` (a recipe of the line chunker is rebuilt, not extended)."""
        return syntax_chunks if recipe.chunker == self._chunker_version else line_chunks

    def dense(self, recipe: IndexRecipe | None = None) -> Embedder:
        """The dense embedder of ``recipe`` (default: the current one), loaded once."""
        name = recipe.dense if recipe is not None else self.settings.embed_recipe
        with self._lock:
            embedder = self._dense.get(name)
            if embedder is None:
                embedder = make_embedder(
                    get_recipe(name),
                    self.settings.model_path,
                    cache_dir=self.settings.model_cache_dir,
                    device=self.settings.device,
                    backend=self.settings.embed_backend,
                )
                self._dense[name] = embedder
            return embedder

    def sparse(self, recipe: IndexRecipe | None = None) -> SparseEmbedder:
        """The BM25 sparse embedder."""
        with self._lock:
            if self._sparse is None:
                self._sparse = SparseEmbedder()
            return self._sparse

    def for_collection(self, recipe: IndexRecipe | None) -> IndexRecipe:
        """The recipe to embed with for a collection: its own when its model ships, else current.

        Queries and notes must meet a collection's points in its own vector space.
        """
        if recipe is not None and recipe.dense in RECIPES:
            return recipe
        return self.current()

    def embed_dense(self, recipe: IndexRecipe, texts: Sequence[str]) -> list[list[float]]:
        """Dense vectors of ``texts`` under ``recipe``."""
        return [[float(x) for x in vector] for vector in self.dense(recipe).embed(list(texts))]


__all__ = ["Chunker", "Models", "TextChunk", "embedding_text", "line_chunks"]
