"""Embeddings: dense (all-MiniLM-L6-v2, offline) and sparse (BM25 tokenized for code and prose).

Importing this package is cheap: torch, transformers and ONNX Runtime load only
when a dense embedder first embeds.
"""

from __future__ import annotations

from .dense import DENSE_DIM, MODEL_NAME, DenseEmbedder, default_model_path, get_dense_embedder
from .sparse import SparseEmbedder, SparseVec, token_index, tokenize

__all__ = [
    "DENSE_DIM",
    "MODEL_NAME",
    "DenseEmbedder",
    "SparseEmbedder",
    "SparseVec",
    "default_model_path",
    "get_dense_embedder",
    "token_index",
    "tokenize",
]
