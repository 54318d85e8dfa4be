"""Embedded engines side by side: local mode (as wqm opens it) vs the Edge adapter.

For each point count and engine, in fresh child processes (so peak RSS is that
engine's own): upsert throughput (batches of 512 through the qdrant-client API),
store open time on reopen (constructor + first count, which makes Edge load the
shard), hybrid query p50/p95 (RRF of a dense and a sparse prefetch of 50,
limit 10, payloads returned), peak RSS of the query process, disk size. With
``--optimize`` the Edge rows also time the out-of-process HNSW build and the
hybrid p50/p95 after it.

Data: 384-d random unit dense vectors, sparse vectors of ~50 terms out of
30,000, payloads shaped like wqm's (path, language, lines, ~600 chars of
content, content_hash, source).

    python bench/bench_engine.py --points 10000 100000 --optimize
    python bench/bench_engine.py --points 300000 --local-max 100000

Local mode is skipped above ``--local-max`` (default 100,000): it keeps every
point in Python memory and scans them all per query.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
import warnings
from pathlib import Path
from typing import Any

import numpy as np
from qdrant_client import models as qm

DIM = 384
VOCAB = 30_000
BATCH = 512
NAME = "bench"


def make_client(engine: str, path: Path) -> Any:
    """The store as wqm opens it for this engine."""
    if engine == "edge":
        from workspace_qdrant_mcp.core.edge import EdgeClient, OptimizePolicy

        return EdgeClient(path, optimize=OptimizePolicy(enabled=False))
    from qdrant_client import QdrantClient

    from workspace_qdrant_mcp.core import local_accel

    local_accel.install()  # what open_qdrant does for local mode
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return QdrantClient(path=str(path))


def batch(rng: np.random.Generator, start: int, size: int) -> list[qm.PointStruct]:
    """``size`` synthetic points with wqm-like payloads."""
    dense = rng.standard_normal((size, DIM)).astype(np.float32)
    dense /= np.linalg.norm(dense, axis=1, keepdims=True)
    out = []
    for i in range(size):
        n = start + i
        terms = np.sort(rng.choice(VOCAB, 50, replace=False))
        out.append(qm.PointStruct(
            id=str(uuid.UUID(int=n + 1)),
            vector={"dense": dense[i].tolist(),
                    "bm25": qm.SparseVector(indices=terms.tolist(),
                                            values=rng.random(50).round(3).tolist())},
            payload={"path": f"src/mod{n % 997}/file{n % 89}.py", "language": "python",
                     "start_line": n % 400, "end_line": n % 400 + 30,
                     "content": ("def f(x): return x  # " * 30)[:600],
                     "content_hash": f"{n:064x}", "source": "file"},
        ))
    return out


def hybrid(rng: np.random.Generator) -> dict[str, Any]:
    """One hybrid query's arguments."""
    q = rng.standard_normal(DIM)
    q /= np.linalg.norm(q)
    terms = np.sort(rng.choice(VOCAB, 6, replace=False)).tolist()
    return {"prefetch": [
        qm.Prefetch(query=q.tolist(), using="dense", limit=50),
        qm.Prefetch(query=qm.SparseVector(indices=terms, values=[1.0] * 6), using="bm25", limit=50),
    ], "query": qm.FusionQuery(fusion=qm.Fusion.RRF), "limit": 10, "with_payload": True}


def child_build(engine: str, path: Path, points: int) -> dict[str, Any]:
    client = make_client(engine, path)
    client.create_collection(
        NAME,
        vectors_config={"dense": qm.VectorParams(size=DIM, distance=qm.Distance.COSINE)},
        sparse_vectors_config={"bm25": qm.SparseVectorParams(modifier=qm.Modifier.IDF)},
    )
    for field in ("path", "language", "source"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            client.create_payload_index(NAME, field_name=field,
                                        field_schema=qm.PayloadSchemaType.KEYWORD)
    rng = np.random.default_rng(1)
    spent = 0.0
    for start in range(0, points, BATCH):
        pts = batch(rng, start, min(BATCH, points - start))
        t = time.perf_counter()
        client.upsert(NAME, points=pts, wait=True)
        spent += time.perf_counter() - t
    t = time.perf_counter()
    client.close()
    spent += time.perf_counter() - t
    return {"upsert_points_per_s": points / spent}


def child_query(engine: str, path: Path, queries: int) -> dict[str, Any]:
    t = time.perf_counter()
    client = make_client(engine, path)
    client.count(NAME, exact=True)
    opened = time.perf_counter() - t
    rng = np.random.default_rng(2)
    client.query_points(NAME, **hybrid(rng))  # warm
    lat = []
    for _ in range(queries):
        args = hybrid(rng)
        t = time.perf_counter()
        client.query_points(NAME, **args)
        lat.append((time.perf_counter() - t) * 1000)
    client.close()
    return {"open_s": opened, "p50_ms": statistics.median(lat),
            "p95_ms": float(np.percentile(lat, 95)),
            "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def child_optimize(path: Path) -> dict[str, Any]:
    from workspace_qdrant_mcp.core.edge import EdgeClient, OptimizePolicy

    client = EdgeClient(path, optimize=OptimizePolicy(enabled=False, threads=1))
    t = time.perf_counter()
    client.optimize_collection(NAME)
    spent = time.perf_counter() - t
    client.close()
    return {"optimize_s": spent}


def run_child(*args: str) -> dict[str, Any]:
    out = subprocess.run([sys.executable, __file__, "--child", *args], capture_output=True,
                         text=True, check=False, env=os.environ.copy())
    if out.returncode != 0:
        raise SystemExit(f"child {args} failed:\n{out.stderr}")
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def disk_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--local-max", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=50)
    parser.add_argument("--optimize", action="store_true")
    parser.add_argument("--child", nargs="+")
    args = parser.parse_args()
    if args.child:
        kind, engine, path, number = args.child
        if kind == "build":
            result = child_build(engine, Path(path), int(number))
        elif kind == "query":
            result = child_query(engine, Path(path), int(number))
        else:
            result = child_optimize(Path(path))
        print(json.dumps(result))
        return
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores (shared machine: "
          "compare rows of one run, not runs)")
    header = (f"{'points':>8} {'engine':>6} {'upsert/s':>9} {'open s':>7} {'p50 ms':>8} "
              f"{'p95 ms':>8} {'RSS MB':>7} {'disk MB':>8}")
    print(header)
    for points in args.points:
        for engine in ("local", "edge"):
            if engine == "local" and points > args.local_max:
                print(f"{points:>8} {'local':>6}  skipped (above --local-max {args.local_max})")
                continue
            with tempfile.TemporaryDirectory() as tmp:
                path = Path(tmp) / engine
                built = run_child("build", engine, str(path), str(points))
                queries = args.queries if engine == "edge" or points <= 10_000 else 10
                q = run_child("query", engine, str(path), str(queries))
                print(f"{points:>8} {engine:>6} {built['upsert_points_per_s']:>9.0f} "
                      f"{q['open_s']:>7.2f} {q['p50_ms']:>8.1f} {q['p95_ms']:>8.1f} "
                      f"{q['rss_mb']:>7.0f} {disk_mb(path):>8.0f}", flush=True)
                if engine == "edge" and args.optimize:
                    o = run_child("optimize", engine, str(path), "0")
                    q = run_child("query", engine, str(path), str(queries))
                    print(f"{points:>8} {'edge+H':>6} {'':>9} {q['open_s']:>7.2f} "
                          f"{q['p50_ms']:>8.1f} {q['p95_ms']:>8.1f} {q['rss_mb']:>7.0f} "
                          f"{disk_mb(path):>8.0f}   HNSW build {o['optimize_s']:.0f} s "
                          "(child process, 1 thread)", flush=True)


if __name__ == "__main__":
    main()
