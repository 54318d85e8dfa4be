"""A static embedding model distilled from the shipped MiniLM, model2vec style, without torch.

Why: a transformer pass costs tens of milliseconds per code chunk on a CPU core;
a static model is a table lookup and a mean, thousands of chunks per second, at
some cost in quality (measured on held-out code by ``bench/bench_quality.py``,
never assumed).

Distillation (the recipe of model2vec's ``distill``, reimplemented on the ONNX
graph built by :mod:`.onnx_graph`, so it needs neither torch nor transformers):

1. every vocabulary token ``t`` is run through MiniLM as ``[CLS] t [SEP]`` and
   mean-pooled (not normalised): one 384-d vector per token;
2. PCA: vectors are centred and projected on their principal axes (``pca_dims``
   of them; fewer dimensions are padded with zeros, which leaves cosines as they
   are, so every recipe stores 384-d vectors);
3. SIF weighting with Zipf's law over the vocabulary order as the frequency
   estimate: row ``r`` is scaled by ``a / (a + p(r))``, ``p(r)`` proportional to
   ``1 / (r + 2)``, ``a = 1e-4``, so frequent pieces (punctuation, ``the``) weigh less.

Inference tokenizes without special tokens, drops ``[UNK]``, averages the rows
and normalises. The table (47 MB float32) is memory-mapped, so start-up is instant
and processes share its pages.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from ..core.errors import InvalidArgument, ModelError
from .texts import check_texts

if TYPE_CHECKING:
    from tokenizers import Tokenizer

    from .recipes import Recipe

__all__ = ["StaticEmbedder", "distill_table", "static_format"]

FloatArray = npt.NDArray[np.float32]

#: Tokens never produced by the tokenizer (model2vec drops them too): kept out of the PCA fit.
_UNUSED = re.compile(r"\[unused\d+\]")
#: Texts embedded per lookup: bounds the gathered rows (128 x 512 x 384 floats = 100 MB at most).
_WINDOW = 128
_DISTILL_BATCH = 512


def static_format(pca_dims: int, sif: float) -> str:
    """The builder format of a static table (part of its cache stamp)."""
    return f"static-mean-pca{pca_dims}-sif{sif:g}-zipf-v1"


def _token_vectors(model_path: Path, vocab_size: int, cls: int, sep: int, threads: int) -> Any:
    """Mean-pooled MiniLM output of ``[CLS] t [SEP]`` for every token id ``t``."""
    import onnxruntime as ort

    from .onnx_graph import OUTPUT, build_from_folder

    graph = build_from_folder(model_path, normalize=False)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.log_severity_level = 3
    session = ort.InferenceSession(
        graph.SerializeToString(), opts, providers=["CPUExecutionProvider"]
    )
    rows = []
    for start in range(0, vocab_size, _DISTILL_BATCH):
        ids = np.arange(start, min(start + _DISTILL_BATCH, vocab_size), dtype=np.int64)
        batch = np.stack([np.full_like(ids, cls), ids, np.full_like(ids, sep)], axis=1)
        feed = {"input_ids": batch, "attention_mask": np.ones_like(batch)}
        rows.append(np.asarray(session.run([OUTPUT], feed)[0], dtype=np.float64))
    out = np.concatenate(rows, axis=0)
    return np.nan_to_num(out)


def _pca(vectors: Any, fit_rows: Any, dims: int) -> Any:
    """Centre on the fitted rows' mean and project on their top ``dims`` principal axes."""
    fit = vectors[fit_rows]
    mean = fit.mean(axis=0)
    centred = fit - mean
    cov = centred.T @ centred / max(1, len(fit) - 1)
    _, eigvecs = np.linalg.eigh(cov)
    components = eigvecs[:, ::-1][:, :dims].T
    scores = (vectors - mean) @ components.T
    # A deterministic sign per axis (largest absolute score positive), as model2vec does.
    signs = np.sign(scores[np.argmax(np.abs(scores[fit_rows]), axis=0), np.arange(dims)])
    return scores * np.where(signs == 0, 1.0, signs)


def distill_table(
    model_path: Path, target: Path, *, pca_dims: int, dim: int, sif: float = 1e-4, threads: int = 1
) -> None:
    """Distill the static table of the model in ``model_path`` and save it (``.npy``) at ``target``."""
    from tokenizers import Tokenizer

    try:
        tok = Tokenizer.from_file(str(model_path / "tokenizer.json"))
    except Exception as exc:
        raise ModelError(f"The model file {model_path / 'tokenizer.json'} is damaged.") from exc
    vocab_size = tok.get_vocab_size()
    cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    if cls is None or sep is None or not 0 < pca_dims <= dim:
        raise ModelError("The static recipe needs a BERT tokenizer with [CLS] and [SEP].")
    vectors = _token_vectors(model_path, vocab_size, cls, sep, threads)
    tokens = [tok.id_to_token(i) or "" for i in range(vocab_size)]
    kept = np.array([not _UNUSED.fullmatch(t) for t in tokens])
    table = np.zeros((vocab_size, dim), dtype=np.float64)
    axes = min(pca_dims, vectors.shape[1])
    table[:, :axes] = _pca(vectors, kept, axes)
    # Zipf rank over the kept vocabulary, in id order (BERT's vocabulary is roughly frequency
    # ordered past its single characters), then SIF weights.
    rank = np.cumsum(kept) - 1
    inv = 1.0 / (rank + 2.0)
    proba = inv / inv[kept].sum()
    table *= (sif / (sif + proba))[:, None]
    table[~kept] = 0.0
    with target.open("wb") as fh:
        np.save(fh, table.astype(np.float32), allow_pickle=False)


class StaticEmbedder:
    """Unit vectors from a distilled static table: tokenize, look up, average.

    Same surface as ``DenseEmbedder`` (``embed``, ``embed_query``, ``load``, ``dim``).
    """

    def __init__(
        self,
        recipe: Recipe,
        model_path: Path | None = None,
        *,
        cache_dir: Path | None = None,
    ) -> None:
        """Remember where things are; nothing loads until the first ``embed``."""
        self.recipe = recipe
        self.model_name = recipe.model
        self.dim = recipe.dim
        self.max_seq_length = recipe.max_tokens
        self.model_path = Path(model_path).expanduser() if model_path is not None else None
        self.cache_dir = Path(cache_dir).expanduser() if cache_dir is not None else None
        self.active_backend = "static"
        self._lock = threading.Lock()
        self._table: FloatArray | None = None
        self._tokenizer: Tokenizer | None = None
        self._unk: int | None = None
        self._fallback: list[int] = []

    def load(self) -> None:
        """Load tokenizer and table now (otherwise the first ``embed`` does it)."""
        self._ensure_loaded()

    def _ensure_loaded(self) -> tuple[Tokenizer, FloatArray]:
        with self._lock:
            if self._table is None or self._tokenizer is None:
                from tokenizers import Tokenizer

                from .recipes import derived_path, model_source

                source = model_source(self.model_path, self.cache_dir)
                table_path = derived_path(self.recipe, source, self.cache_dir)
                try:
                    tok = Tokenizer.from_file(str(source.path / "tokenizer.json"))
                except Exception as exc:
                    raise ModelError(
                        f"The model file {source.path / 'tokenizer.json'} is damaged; "
                        f"{source.remedy()}."
                    ) from exc
                tok.no_padding()
                tok.enable_truncation(max_length=self.max_seq_length)
                table = np.load(table_path, mmap_mode="r", allow_pickle=False)
                if table.ndim != 2 or table.shape[1] != self.dim:
                    raise ModelError(f"The static model {table_path} has the wrong shape.")
                self._unk = tok.token_to_id("[UNK]")
                self._fallback = [
                    i for i in (tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")) if i is not None
                ]
                self._tokenizer, self._table = tok, table
            return self._tokenizer, self._table

    def embed(self, texts: Sequence[str]) -> FloatArray:
        """Embed ``texts`` into an (n x dim) float32 array of unit vectors, in input order."""
        items = check_texts(texts, "embed")
        out = np.zeros((len(items), self.dim), dtype=np.float32)
        if not items:
            return out
        tokenizer, table = self._ensure_loaded()
        for start in range(0, len(items), _WINDOW):
            encodings = tokenizer.encode_batch(
                items[start : start + _WINDOW], add_special_tokens=False
            )
            pieces = []
            for enc in encodings:
                ids = [i for i in enc.ids if i != self._unk] or self._fallback
                pieces.append(np.asarray(ids, dtype=np.int64))
            lengths = np.fromiter((len(p) for p in pieces), dtype=np.int64, count=len(pieces))
            offsets = np.concatenate(([0], np.cumsum(lengths)[:-1]))
            sums = np.add.reduceat(table[np.concatenate(pieces)], offsets, axis=0)
            means = sums / lengths[:, None]
            norms = np.linalg.norm(means, axis=1, keepdims=True)
            out[start : start + len(pieces)] = means / np.maximum(norms, 1e-12)
        return out

    def embed_query(self, text: str) -> list[float]:
        """Embed one search query as a plain list."""
        if not isinstance(text, str):
            raise InvalidArgument(f"A query must be a string, not {type(text).__name__}.")
        return [float(x) for x in self.embed([text])[0]]
