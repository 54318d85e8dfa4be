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
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import chunk_text, make_project, percentiles
from workspace_qdrant_mcp.config import Settings
from workspace_qdrant_mcp.ops.search import search
from workspace_qdrant_mcp.workspace.workspace import Workspace


def main(chunks: int = 10_000, queries: int = 60, real_dense: bool = False) -> dict[str, Any]:
    """Build the collection, time warm searches per mode; return the figures."""
    rng = random.Random(3)
    texts = [chunk_text(rng, rng.randint(2, 6)) for _ in range(queries)]
    figures: dict[str, Any] = {"chunks": chunks, "queries_per_mode": queries,
                               "dense_vectors": "model" if real_dense else "random"}
    with tempfile.TemporaryDirectory(prefix="wqm-bench-search-") as tmp:
        base = Path(tmp)
        ws = Workspace(Settings.from_env(data_dir=base / "data", service="off")).open()
        try:
            project = make_project(ws, base / "project", chunks, real_dense=real_dense)
            root = project["repo"]
            figures["build_seconds"] = project["build_seconds"]
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
                figures[label] = percentiles(samples)
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
