"""Warm search latency (p50/p95) for each mode at ~10,000 chunks on the embedded default.

The collection is built fresh on every run (nothing cached between runs) in a
temporary data directory, through the project's logical name, from synthetic
text: sparse vectors come from the real BM25 embedder; dense vectors are random
unit vectors unless ``--real-dense`` is given. The embedded engine scores
every vector exactly, so its latency depends on how many vectors there are,
not on their values; random vectors keep the build to seconds. Queries go
through the library operation ``search`` (query embedding, filters, Qdrant,
result shaping), after a warm-up. Prints figures; ``main()`` returns them.

    python bench/bench_search.py [--chunks 10000] [--queries 60] [--real-dense]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from qdrant_client import models as qm

from workspace_qdrant_mcp.api import Workspace
from workspace_qdrant_mcp.config import Settings
from workspace_qdrant_mcp.core import schema, store
from workspace_qdrant_mcp.core.projects import ensure_project_collection
from workspace_qdrant_mcp.ingest import pipeline
from workspace_qdrant_mcp.search import search

_VOCABULARY = """
request response cache index search vector token parse config user session file
stream buffer retry timeout queue worker thread lock update delete insert select
project alias collection payload filter score rank query model embed batch chunk
server client socket error handler event listener render template widget layout
account billing invoice payment order customer address email message notify
getUserName set_password parseHeaders load_settings HttpClient ConnectionPool
"""
WORDS = _VOCABULARY.split()
LANGUAGES = ("python", "typescript", "go", "markdown")
BATCH = 256


def _text(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(words))


def build(ws: Workspace, root: Path, chunks: int, real_dense: bool, seed: int = 11) -> str:
    """Create the project's collection and fill it with ``chunks`` points; return its name."""
    ctx = ensure_project_collection(ws.aliases, ws.project(root))
    name: str = pipeline.target_name(ctx)
    rng = random.Random(seed)
    gen = np.random.default_rng(seed)
    client = ws.client
    for start in range(0, chunks, BATCH):
        size = min(BATCH, chunks - start)
        texts = [_text(rng, 50) for _ in range(size)]
        if real_dense:
            dense = ws.dense.embed(texts)
        else:
            dense = gen.standard_normal((size, schema.DENSE_DIM)).astype(np.float32)
            dense /= np.linalg.norm(dense, axis=1, keepdims=True)
        sparse = ws.sparse.embed_documents(texts)
        points = []
        for i, text in enumerate(texts):
            n = start + i
            lang = LANGUAGES[n % len(LANGUAGES)]
            path = f"pkg{n % 40}/file_{n // 8}.{lang[:2]}"
            points.append(qm.PointStruct(
                id=pipeline.chunk_point_id(path, n % 8, "h"),
                vector={schema.DENSE_VECTOR: dense[i].tolist(),
                        schema.SPARSE_VECTOR: qm.SparseVector(indices=sparse[i].indices,
                                                              values=sparse[i].values)},
                payload={"path": path, "language": lang, "start_line": 1, "end_line": 40,
                         "content": text, "content_hash": "h", "chunk_index": n % 8,
                         "chunk_count": 8, "project_id": ctx.project_id,
                         "source": schema.SOURCE_FILE},
            ))
        with store.guarded(client, "bench upsert"):
            client.upsert(name, points=points)
    return name


def _percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {"p50_ms": round(statistics.median(ordered) * 1000, 1), "p95_ms": round(p95 * 1000, 1)}


def main(chunks: int = 10_000, queries: int = 60, real_dense: bool = False) -> dict[str, Any]:
    """Build the collection, time warm searches per mode; return the figures."""
    rng = random.Random(3)
    texts = [_text(rng, rng.randint(2, 6)) for _ in range(queries)]
    figures: dict[str, Any] = {"chunks": chunks, "queries_per_mode": queries,
                               "dense_vectors": "model" if real_dense else "random"}
    with tempfile.TemporaryDirectory(prefix="wqm-bench-search-") as tmp:
        base = Path(tmp)
        root = base / "project"
        root.mkdir()
        ws = Workspace(Settings.from_env(data_dir=base / "data", service="off")).open()
        try:
            started = time.perf_counter()
            build(ws, root, chunks, real_dense)
            figures["build_seconds"] = round(time.perf_counter() - started, 1)
            cases: dict[str, dict[str, Any]] = {
                "hybrid": {"mode": "hybrid"},
                "dense": {"mode": "dense"},
                "sparse": {"mode": "sparse"},
                "hybrid+language": {"mode": "hybrid", "language": "python"},
                "hybrid+path_glob": {"mode": "hybrid", "path_glob": "pkg1*/*"},
            }
            for label, params in cases.items():
                for text in texts[:5]:  # warm-up
                    search(ws, text, project_path=str(root), **params)
                samples = []
                for text in texts:
                    t = time.perf_counter()
                    result = search(ws, text, project_path=str(root), limit=10, **params)
                    samples.append(time.perf_counter() - t)
                    assert len(result["results"]) == 10
                figures[label] = _percentiles(samples)
        finally:
            ws.close()
    return figures


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=10_000)
    parser.add_argument("--queries", type=int, default=60)
    parser.add_argument("--real-dense", action="store_true")
    args = parser.parse_args()
    print(json.dumps(main(args.chunks, args.queries, args.real_dense), indent=2))
