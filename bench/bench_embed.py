"""Dense embedding throughput and fidelity, per backend and batch size.

Targets: >= 300 prose chunks/s (~50 words each) on 2 cores, and cosine >= 0.999 to
sentence-transformers on the same text. For each backend we time ``embed()`` on
deterministic pseudo-prose after one warm-up batch, then compare its vectors with
sentence-transformers'. The one-time ONNX export and the cold start (a fresh
process: imports, model load, one query) are timed in subprocesses, since
in-process they would hide the import of torch. ``--int8`` also measures dynamic
int8 quantization of the graph by cosine only; whether a recipe is good enough is
decided by retrieval quality (``bench/bench_recipes.py``).

The load average is printed before and after: on a shared machine other work
skews every figure, so read them with it.

    python bench/bench_embed.py [--n 2000] [--batch-sizes 16,32,64] [--int8]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from _common import cpu_model
from workspace_qdrant_mcp.embed import DenseEmbedder, default_model_path

TARGET_RATE = 300.0
TARGET_COSINE = 0.999

_VOCABULARY = """
the a of to and in that is for it with as on was by this be are from at or an have not
they which one you were all we when there can has more if will each about how up out
them then she many some so these would other into its time could two may first been
water call who people now find long down day did get come made part over new sound
take only little work know place year live back give most very after thing our just
name good sentence man think say great where help through much before line right too
mean old any same tell boy follow came want show also around form three small set put
end does another well large must big even such because turn here why ask went men read
need land different home us move try kind hand picture again change off play spell air
away animal house point page letter mother answer found study still learn should world
project collection alias search vector index query model chunk registry service file
"""
_WORDS = _VOCABULARY.split()


def prose_chunks(n: int, words: int = 50, seed: int = 1234) -> list[str]:
    """``n`` deterministic pseudo-prose chunks of ``words`` words, in sentences."""
    rng = random.Random(seed)
    chunks = []
    for _ in range(n):
        sentences, left = [], words
        while left > 0:
            k = min(left, rng.randint(6, 16))
            sentence = " ".join(rng.choice(_WORDS) for _ in range(k))
            sentences.append(sentence.capitalize() + rng.choice([".", ".", ".", "?", "!"]))
            left -= k
        chunks.append(" ".join(sentences))
    return chunks


def _versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in ("torch", "onnxruntime", "transformers", "tokenizers", "sentence-transformers"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "-"
    return out


def _native_bf16() -> bool:
    import torch

    probes = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(bool(getattr(torch.cpu, name, lambda: False)()) for name in probes)


_COLD = """
import json, time
t0 = time.perf_counter()
from pathlib import Path
from workspace_qdrant_mcp.embed import DenseEmbedder
emb = DenseEmbedder(backend={backend!r}, cache_dir=Path({cache!r}))
emb.load()
t1 = time.perf_counter()
emb.embed_query("how do I rename a project")
t2 = time.perf_counter()
print(json.dumps({{"load_s": t1 - t0, "first_query_s": t2 - t1,
                  "export_s": emb.export_seconds, "backend": emb.active_backend}}))
"""


def _cold(backend: str, cache: Path) -> dict[str, Any]:
    """Start a fresh interpreter that loads the model and embeds one query."""
    script = _COLD.format(backend=backend, cache=str(cache))
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    figures: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    figures["process_s"] = time.perf_counter() - started
    return figures


def _throughput(
    emb: DenseEmbedder, texts: list[str], batch_sizes: list[int], slice_size: int
) -> dict[int, dict[str, float]]:
    """chunks/s per batch size: over the whole run, and the median and best slice.

    The run is timed in slices of ``slice_size`` chunks: on a shared machine the
    best slice shows what the hardware does, the median what a user would get.
    """
    rates: dict[int, dict[str, float]] = {}
    for bs in batch_sizes:
        emb.batch_size = bs
        emb.embed(texts[:bs])  # warm-up: first-call allocations and thread pools
        slices = []
        for start in range(0, len(texts), slice_size):
            part = texts[start : start + slice_size]
            started = time.perf_counter()
            emb.embed(part)
            slices.append((len(part), time.perf_counter() - started))
        total = sum(n for n, _ in slices) / sum(t for _, t in slices)
        per_slice = sorted(n / t for n, t in slices)
        rates[bs] = {
            "chunks_per_s": total,
            "median_slice": float(np.median(per_slice)),
            "best_slice": per_slice[-1],
        }
    return rates


def _cosines(vectors: np.ndarray, reference: np.ndarray) -> dict[str, float]:
    cos = np.sum(vectors * reference, axis=1)
    return {"min": float(cos.min()), "mean": float(cos.mean())}


def _int8_session(emb: DenseEmbedder, workdir: Path) -> Any:
    """Dynamic int8 (per-channel) quantization of the cached export, as an ORT session."""
    import onnx
    import onnxruntime as ort
    from onnxruntime.quantization import QuantType, quantize_dynamic

    assert emb.cache_dir is not None
    source = next(emb.cache_dir.glob("graph-fp32-*.onnx"))
    target = workdir / "int8.onnx"
    quantize_dynamic(
        str(source),
        str(target),
        weight_type=QuantType.QInt8,
        per_channel=True,
        extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
    )
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.intra_op_num_threads = os.cpu_count() or 1
    return ort.InferenceSession(str(target), opts, providers=["CPUExecutionProvider"])


def run(
    n: int, batch_sizes: list[int], *, int8: bool, reference_n: int, slice_size: int = 250
) -> dict[str, Any]:
    """Measure everything; return the figures (see ``main``)."""
    texts = prose_chunks(n)
    results: dict[str, Any] = {
        "machine": {
            "cpus": os.cpu_count(),
            "cpu_model": cpu_model(),
            "native_bf16": _native_bf16(),
            "loadavg_start": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
        },
        "versions": _versions(),
        "n": n,
        "words_per_chunk": 50,
    }
    with tempfile.TemporaryDirectory(prefix="bench-embed-") as tmp:
        cache = Path(tmp) / "cache"
        results["cold"] = {
            "onnx_first_run_with_export": _cold("onnx", cache),
            "onnx_cached": _cold("onnx", cache),
            "torch": _cold("torch", cache),
        }

        from sentence_transformers import SentenceTransformer

        st = SentenceTransformer(str(default_model_path()), device="cpu")
        sample = texts[:reference_n]
        reference = st.encode(sample, normalize_embeddings=True, convert_to_numpy=True)
        started = time.perf_counter()
        st.encode(texts[: min(n, 500)], batch_size=32)
        results["sentence_transformers_rate"] = min(n, 500) / (time.perf_counter() - started)
        del st

        configs = [("onnx", "auto"), ("torch", "auto"), ("torch", "float32")]
        rows: list[dict[str, Any]] = []
        for backend, precision in configs:
            emb = DenseEmbedder(backend=backend, cache_dir=cache, precision=precision)
            emb.load()
            label = f"{emb.active_backend}/{emb.active_precision}"
            rates = _throughput(emb, texts, batch_sizes, slice_size)
            emb.batch_size = 32
            cos = _cosines(emb.embed(sample), reference)
            for bs, rate in rates.items():
                rows.append({"backend": label, "batch_size": bs, **rate, **cos})
        if int8:
            emb = DenseEmbedder(backend="onnx", cache_dir=cache)
            emb.load()
            engine: Any = emb._engine  # bench only: swap the session, keep the pipeline
            engine.session = _int8_session(emb, Path(tmp))
            rates = _throughput(emb, texts, batch_sizes, slice_size)
            emb.batch_size = 32
            cos = _cosines(emb.embed(sample), reference)
            for bs, rate in rates.items():
                rows.append({"backend": "onnx/int8", "batch_size": bs, **rate, **cos})
        results["rows"] = rows
    results["machine"]["loadavg_end"] = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    best = max(rows, key=lambda r: r["chunks_per_s"] if r["min"] >= TARGET_COSINE else -1)
    results["best"] = best
    results["meets_targets"] = best["chunks_per_s"] >= TARGET_RATE and best["min"] >= TARGET_COSINE
    return results


def _print(results: dict[str, Any]) -> None:
    m, v = results["machine"], results["versions"]
    print(f"machine: {m['cpus']} CPUs, {m['cpu_model']}, native bf16: {m['native_bf16']}")
    print("versions: " + ", ".join(f"{k} {val}" for k, val in v.items()))
    print(f"load average: {m['loadavg_start']:.2f} at start, {m['loadavg_end']:.2f} at end")
    print(f"chunks: {results['n']} x ~{results['words_per_chunk']} words\n")
    cold = results["cold"]
    first = cold["onnx_first_run_with_export"]
    print(
        f"one-time ONNX export:      {first['export_s']:.1f} s  (process total {first['process_s']:.1f} s)"
    )
    for key, label in (("onnx_cached", "onnx, export cached"), ("torch", "torch")):
        c = cold[key]
        print(
            f"cold start, {label + ':':21s} import+load {c['load_s']:.2f} s, first query "
            f"{c['first_query_s']:.2f} s, process {c['process_s']:.2f} s"
        )
    print(
        f"sentence-transformers reference: {results['sentence_transformers_rate']:.0f} chunks/s\n"
    )
    print(
        f"{'backend':16s} {'batch':>5s} {'chunks/s':>9s} {'median':>7s} {'best':>7s}"
        f" {'cos min':>8s} {'cos mean':>9s}"
    )
    print(f"{'':16s} {'':5s} {'(run)':>9s} {'(slice)':>7s} {'(slice)':>7s}")
    for r in results["rows"]:
        print(
            f"{r['backend']:16s} {r['batch_size']:5d} {r['chunks_per_s']:9.1f} "
            f"{r['median_slice']:7.1f} {r['best_slice']:7.1f} {r['min']:8.5f} {r['mean']:9.5f}"
        )
    best = results["best"]
    print(
        f"\nbest within cosine >= {TARGET_COSINE}: {best['backend']} batch {best['batch_size']}: "
        f"{best['chunks_per_s']:.0f} chunks/s (target {TARGET_RATE:.0f}): "
        + ("meets targets" if results["meets_targets"] else "BELOW target")
    )


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the benchmark, print a table and return the figures for an aggregator."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000, help="prose chunks per timed run")
    parser.add_argument("--batch-sizes", default="16,32,64", help="comma-separated batch sizes")
    parser.add_argument("--reference-n", type=int, default=300, help="chunks compared with ST")
    parser.add_argument("--slice", type=int, default=250, help="chunks per timed slice")
    parser.add_argument("--int8", action="store_true", help="also measure int8 quantization")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    sizes = [int(x) for x in args.batch_sizes.split(",") if x.strip()]
    results = run(
        args.n,
        sizes,
        int8=args.int8,
        reference_n=min(args.reference_n, args.n),
        slice_size=args.slice,
    )
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        _print(results)
    return results


if __name__ == "__main__":
    main()
