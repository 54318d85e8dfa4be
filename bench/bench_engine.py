"""Embedded engines side by side, as wqm runs them: local mode vs the Edge adapter.

For each point count and engine, in a fresh data directory (same run, same data):

- build: a wqm project of N points (the alias core's collection and payload
  indexes, BM25 vectors of synthetic code-flavoured text, random unit 384-d
  dense vectors, ingest's payloads), written through the workspace in batches
  of 512; ``upsert/s`` counts the upsert calls alone;
- engine: a fresh process opens the store (constructor + first count, which
  makes Edge load the shard: ``open s``) and runs hybrid queries (RRF of a dense
  and a sparse prefetch of 50, limit 10, payloads): p50/p95, peak RSS;
- service: the workspace service on that data directory answers ``search``
  (hybrid, limit 10, the query embedded by the model): p50/p95 of the
  operation inside the service (its log's time per request), the round trip
  from a client over the socket, the service's peak RSS (model loaded);
  ``wqm search`` as a user runs it (one CLI process per query against the
  running service): p50/p95 end to end;
- disk: the store folder's allocated blocks (Edge preallocates sparse files).

With ``--optimize`` the Edge rows are measured again (``edge+H``) after the
HNSW build, run as the service's optimiser runs it (a child process, one
indexing thread); without it, Edge searches scan plainly, which is what a
collection gets until the optimiser has built its index.

    python bench/bench_engine.py --points 10000 100000 --optimize
    python bench/bench_engine.py --points 300000 --local-max 100000

Local mode is skipped above ``--local-max`` (default 100,000): it keeps every
point in Python memory, takes minutes to write 100,000 points and scans them
all per query. The machine is shared: compare rows of one run, not runs.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from qdrant_client import models as qm

from _common import WORDS, fill, make_repo, run_wqm, say, wqm_env

DIM = 384


#: The service must search the collection built here: no background rebuild of the
#: synthetic project (its recorded recipe is an older one, so the keeper would rebuild it
#: from the repository, which holds only the bench's stub files, and re-point its name)
#: and no catch-up sync; the service reads these from its environment.
QUIET_SERVICE = {"WQM_AUTO_REINDEX": "0", "WQM_WATCH": "0"}


def settings_for(engine: str, data_dir: Path, service: str = "off") -> Any:
    from workspace_qdrant_mcp.config import Settings

    return Settings.from_env(wqm_env(data_dir, service, WQM_ENGINE=engine,
                                     WQM_CACHE_DIR=os.environ.get("WQM_CACHE_DIR", "")),
                             data_dir=data_dir, engine=engine, service=service)


def child_build(engine: str, data_dir: Path, points: int) -> dict[str, Any]:
    """A wqm project of ``points`` points on ``engine``; the upsert calls' throughput."""
    from workspace_qdrant_mcp.core.local_accel import tune_embedded_storage
    from workspace_qdrant_mcp.workspace.projects import ensure_project_collection
    from workspace_qdrant_mcp.workspace.workspace import Workspace

    ws = Workspace(settings_for(engine, data_dir)).open()
    try:
        repo = make_repo(data_dir.parent / "repo")
        ctx = ensure_project_collection(ws.aliases, ws.project(repo))
        tune_embedded_storage(ws.client, ctx.physical)  # what ingest does before it writes
        spent: list[float] = []
        fill(ws, ctx.current_name, points, upsert_seconds=spent, files_root=repo)
        started = time.perf_counter()
    finally:
        ws.close()
    spent.append(time.perf_counter() - started)  # closing flushes: part of writing
    return {"upsert_points_per_s": points / sum(spent), "repo": str(repo),
            "name": ctx.current_name, "physical": ctx.physical}


def hybrid(rng: np.random.Generator) -> dict[str, Any]:
    """One hybrid query's arguments (a random dense vector, six BM25 terms)."""
    from workspace_qdrant_mcp.embed.sparse import SparseEmbedder

    q = rng.standard_normal(DIM)
    q /= np.linalg.norm(q)
    words = " ".join(rng.choice(WORDS, 4).tolist())
    sparse = SparseEmbedder().embed_query(words)
    return {"prefetch": [
        qm.Prefetch(query=q.tolist(), using="dense", limit=50),
        qm.Prefetch(query=qm.SparseVector(indices=sparse.indices, values=sparse.values),
                    using="bm25", limit=50),
    ], "query": qm.FusionQuery(fusion=qm.Fusion.RRF), "limit": 10, "with_payload": True}


def child_query(engine: str, data_dir: Path, physical: str, queries: int) -> dict[str, Any]:
    """Open the store in a fresh process and time hybrid queries on the engine itself."""
    from workspace_qdrant_mcp.core.client import open_store

    settings = settings_for(engine, data_dir)
    rng = np.random.default_rng(2)
    args = [hybrid(rng) for _ in range(queries + 1)]
    started = time.perf_counter()
    client = open_store(settings, engine)
    client.count(physical, exact=True)
    opened = time.perf_counter() - started
    client.query_points(physical, **args[0])  # warm
    lat = []
    for arg in args[1:]:
        started = time.perf_counter()
        client.query_points(physical, **arg)
        lat.append((time.perf_counter() - started) * 1000)
    client.close()
    return {"open_s": opened, "p50_ms": statistics.median(lat),
            "p95_ms": float(np.percentile(lat, 95)),
            "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def child_optimize(data_dir: Path, physical: str) -> dict[str, Any]:
    """Build the HNSW index as the service's optimiser does (child process, one thread)."""
    from workspace_qdrant_mcp.core.edge import EdgeClient, OptimizePolicy

    client = EdgeClient(data_dir / "edge", optimize=OptimizePolicy(enabled=False, threads=1))
    started = time.perf_counter()
    client.optimize_collection(physical)
    spent = time.perf_counter() - started
    client.close()
    return {"optimize_s": spent}


def run_child(*args: str) -> dict[str, Any]:
    out = subprocess.run([sys.executable, __file__, "--child", *args], capture_output=True,
                         text=True, check=False, env=os.environ.copy())
    if out.returncode != 0:
        raise SystemExit(f"child {args} failed:\n{out.stderr}")
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def _hwm_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _pcts(samples_ms: list[float]) -> tuple[float, float]:
    return statistics.median(samples_ms), float(np.percentile(samples_ms, 95))


def service_figures(engine: str, data_dir: Path, built: dict[str, Any], queries: int,
                    cli_runs: int) -> dict[str, Any]:
    """``search`` through the workspace service: inside it, over the socket, and as `wqm search`."""
    from workspace_qdrant_mcp.backends.service import ServiceBackend, stop_service
    from workspace_qdrant_mcp.core.runfiles import ServicePaths, read_pid_info

    settings = settings_for(engine, data_dir, service="auto")
    env = wqm_env(data_dir, "auto", WQM_ENGINE=engine, **QUIET_SERVICE,
                  WQM_CACHE_DIR=os.environ.get("WQM_CACHE_DIR", str(settings.cache_dir)))
    os.environ.update(QUIET_SERVICE)  # the service started below inherits this environment
    paths = ServicePaths.for_settings(settings)
    rng = random.Random(5)
    texts = [" ".join(rng.choice(WORDS) for _ in range(rng.randint(2, 5)))
             for _ in range(queries + cli_runs)]
    backend = ServiceBackend(settings)
    try:
        started = time.perf_counter()
        backend.call("ping")
        start_s = time.perf_counter() - started
        backend.call("search", query="warm up", collection=built["name"], limit=1)
        mark = paths.log_file.stat().st_size
        trips = []
        for text in texts[:queries]:
            started = time.perf_counter()
            result = backend.call("search", query=text, collection=built["name"],
                                  mode="hybrid", limit=10)
            trips.append((time.perf_counter() - started) * 1000)
            # ten fresh hits: the built collection answered, nothing was re-indexed meanwhile
            assert len(result["results"]) == 10, result
            assert not result["notices"], result["notices"]
        cli = []
        for text in texts[queries:]:
            seconds, _ = run_wqm(["search", text, "--collection", built["name"],
                                  "--format", "json"], env, cwd=Path(built["repo"]))
            cli.append(seconds * 1000)
        info = read_pid_info(paths) or {}
        rss = _hwm_mb(int(info.get("pid") or 0)) if info.get("pid") else 0.0
    finally:
        backend.close()
        stop_service(settings)
    with paths.log_file.open() as log:
        log.seek(mark)
        inside = [float(m.group(1)) for m in re.finditer(r" search result in ([0-9.]+) ms",
                                                         log.read())]
    svc_p50, svc_p95 = _pcts(inside[:queries])
    trip_p50, _ = _pcts(trips)
    cli_p50, cli_p95 = _pcts(cli)
    return {"start_s": start_s, "svc_p50": svc_p50, "svc_p95": svc_p95, "trip_p50": trip_p50,
            "cli_p50": cli_p50, "cli_p95": cli_p95, "svc_rss_mb": rss}


def disk_mb(path: Path) -> float:
    """Allocated size of the files under ``path``."""
    return sum(f.lstat().st_blocks * 512 for f in path.rglob("*") if f.is_file()) / 2**20


HEADER = (f"{'points':>7} {'engine':>6} {'upsert/s':>8} {'open s':>6} {'eng p50':>7} "
          f"{'eng p95':>7} {'svc p50':>7} {'svc p95':>7} {'trip50':>6} {'cli p50':>7} "
          f"{'cli p95':>7} {'svcRSS':>6} {'engRSS':>6} {'disk MB':>7}")


def _row(points: int, engine: str, upsert: str, q: dict[str, Any], s: dict[str, Any],
         disk: float) -> str:
    return (f"{points:>7} {engine:>6} {upsert:>8} {q['open_s']:>6.2f} {q['p50_ms']:>7.1f} "
            f"{q['p95_ms']:>7.1f} {s['svc_p50']:>7.1f} {s['svc_p95']:>7.1f} "
            f"{s['trip_p50']:>6.1f} {s['cli_p50']:>7.0f} {s['cli_p95']:>7.0f} "
            f"{s['svc_rss_mb']:>6.0f} {q['rss_mb']:>6.0f} {disk:>7.0f}")


def measure(points: int, engine: str, args: argparse.Namespace) -> list[dict[str, Any]]:
    """Every figure of one (points, engine) pair; two rows for Edge with ``--optimize``."""
    rows = []
    with tempfile.TemporaryDirectory(prefix=f"wqm-bench-engine-{engine}-") as tmp:
        data_dir = Path(tmp) / "data"
        say(f"{points} points on {engine}: building ...")
        built = run_child("build", engine, str(data_dir), str(points))
        store = data_dir / ("edge" if engine == "edge" else "qdrant")
        say("  engine queries ...")
        q = run_child("query", engine, str(data_dir), built["physical"], str(args.queries))
        say("  service and CLI ...")
        s = service_figures(engine, data_dir, built, args.queries, args.cli_runs)
        rows.append({"points": points, "engine": engine, "upsert_points_per_s":
                     built["upsert_points_per_s"], **q, **s, "disk_mb": disk_mb(store)})
        if engine == "edge" and args.optimize:
            say("  HNSW build (child process, one thread) ...")
            o = run_child("optimize", engine, str(data_dir), built["physical"], "0")
            q = run_child("query", engine, str(data_dir), built["physical"], str(args.queries))
            s = service_figures(engine, data_dir, built, args.queries, args.cli_runs)
            rows.append({"points": points, "engine": "edge+H", "upsert_points_per_s": None,
                         **q, **s, "disk_mb": disk_mb(store), **o})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--local-max", type=int, default=100_000)
    parser.add_argument("--engines", nargs="+", default=["local", "edge"])
    parser.add_argument("--queries", type=int, default=50)
    parser.add_argument("--cli-runs", type=int, default=10)
    parser.add_argument("--optimize", action="store_true")
    parser.add_argument("--json", type=Path, help="also write every row to this file")
    parser.add_argument("--child", nargs="+")
    args = parser.parse_args()
    if args.child:
        kind, engine, data_dir, *rest = args.child
        if kind == "build":
            result = child_build(engine, Path(data_dir), int(rest[0]))
        elif kind == "query":
            result = child_query(engine, Path(data_dir), rest[0], int(rest[1]))
        else:
            result = child_optimize(Path(data_dir), rest[0])
        print(json.dumps(result))
        return
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores, load "
          f"{os.getloadavg()[0]:.1f} (shared machine: compare rows of one run, not runs)")
    print("eng = the engine alone (fresh process); svc = inside the service (search op, query "
          "embedded); trip = client round trip; cli = `wqm search` end to end; ms unless said")
    print(HEADER, flush=True)
    every = []
    for points in args.points:
        for engine in args.engines:
            if engine == "local" and points > args.local_max:
                print(f"{points:>7} {'local':>6}  skipped (above --local-max {args.local_max})",
                      flush=True)
                continue
            for row in measure(points, engine, args):
                every.append(row)
                upsert = (f"{row['upsert_points_per_s']:.0f}" if row["upsert_points_per_s"]
                          else "")
                line = _row(points, row["engine"], upsert, row, row, row["disk_mb"])
                if "optimize_s" in row:
                    line += f"   HNSW build {row['optimize_s']:.0f} s"
                print(line, flush=True)
    if args.json:
        args.json.write_text(json.dumps(every, indent=2))


if __name__ == "__main__":
    main()
