"""What the symbol signal costs: ingest with and without symbol vectors, search old and new.

On a shared machine wall-clock times follow its load, so both sides run in one
process and alternate: ingest of one quality-set package (``bench/quality``)
from scratch without the symbol vectors (the recipe's ``symbol`` set to None)
and with them, ``--rounds`` times each, reporting wall and CPU seconds; then
hybrid searches of the package's queries with today's request (DBSF of dense,
BM25 and symbol prefetches, ``ops/ranking.py``) and the one before it (RRF of
dense and BM25), alternating query by query over one index.

    PYTHONPATH=src python bench/bench_ranking_cost.py [--package httpx] [--rounds 2]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))

from qdrant_client import models as qm

from quality import build_devset
from quality.wqm_adapter import WqmRun
from workspace_qdrant_mcp.ops import ranking


def ingest_once(repo: Path, symbol: bool) -> dict[str, float]:
    """Index ``repo`` from scratch in a new data dir; wall and CPU seconds of the ingest."""
    with tempfile.TemporaryDirectory(prefix="wqm-bench-ranking-") as tmp:
        run = WqmRun(Path(tmp) / "data", {})
        try:
            if not symbol:
                current = run.ws.models.current()
                without = dataclasses.replace(current, symbol=None)
                run.ws.models.current = lambda: without  # type: ignore[method-assign]
            run.warm()
            cpu = time.process_time()
            result = run.ingest(repo)
            return {"wall": result["seconds"], "cpu": time.process_time() - cpu,
                    "chunks": result["chunks"]}
        finally:
            run.close()


def _before(dense: Any, sparse: Any, depth: int, flt: Any, symbol: bool) -> dict[str, Any]:
    request = _today(dense, sparse, depth, flt, False)
    request["query"] = qm.FusionQuery(fusion=qm.Fusion.RRF)
    return request


_today = ranking._request


def search_latency(repo: Path, queries: list[str]) -> dict[str, dict[str, float]]:
    """p50/p95 wall and mean CPU ms of hybrid search, before and today, alternating."""
    wall: dict[str, list[float]] = {"before": [], "today": []}
    cpu: dict[str, float] = {"before": 0.0, "today": 0.0}
    with tempfile.TemporaryDirectory(prefix="wqm-bench-ranking-") as tmp:
        run = WqmRun(Path(tmp) / "data", {})
        try:
            run.warm()
            run.ingest(repo)
            for i, query in enumerate(queries):
                for side in ("before", "today") if i % 2 else ("today", "before"):
                    ranking._request = _before if side == "before" else _today
                    c, t = time.process_time(), time.perf_counter()
                    run.search(repo, query, "hybrid", 10)
                    wall[side].append(time.perf_counter() - t)
                    cpu[side] += time.process_time() - c
        finally:
            ranking._request = _today
            run.close()
    return {side: {"p50": statistics.median(v) * 1000,
                   "p95": sorted(v)[int(0.95 * (len(v) - 1))] * 1000,
                   "cpu": cpu[side] / len(v) * 1000} for side, v in wall.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--package", default="httpx")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--queries", type=int, default=300, help="searches per side")
    args = parser.parse_args()
    build_devset.build_package(args.package)
    target = build_devset.set_dir(args.package)
    repo = target / "repo"
    texts = [str(q["query"]) for q in build_devset.load_queries(target / "queries.jsonl")]
    queries = (texts * (args.queries // max(len(texts), 1) + 1))[:args.queries]
    load = os.getloadavg()[0]
    runs: dict[bool, list[dict[str, float]]] = {False: [], True: []}
    for _ in range(args.rounds):
        for symbol in (False, True):
            runs[symbol].append(ingest_once(repo, symbol))
            print(f"ingest symbol={symbol}: {runs[symbol][-1]}", file=sys.stderr, flush=True)
    latency = search_latency(repo, queries)
    print(f"Package {args.package}, {args.rounds} alternating ingests each, {len(queries)} "
          f"searches each; load average {load:.1f} before, {os.getloadavg()[0]:.1f} after "
          "(shared 2-core machine).\n")
    print("| ingest | chunks | wall s (each run) | CPU s (each run) |\n|---|---:|---|---|")
    for symbol, label in ((False, "without symbol vectors"), (True, "with symbol vectors")):
        rs = runs[symbol]
        print(f"| {label} | {int(rs[0]['chunks'])} | "
              + " / ".join(f"{r['wall']:.1f}" for r in rs) + " | "
              + " / ".join(f"{r['cpu']:.1f}" for r in rs) + " |")
    cpu_ratio = (sum(r["cpu"] for r in runs[True]) / sum(r["cpu"] for r in runs[False]))
    print(f"\nIngest CPU with / without: {cpu_ratio:.2f}.\n")
    print("| hybrid search | p50 ms | p95 ms | CPU ms a query |\n|---|---:|---:|---:|")
    for side, label in (("before", "before: RRF of dense + BM25"),
                        ("today", "today: DBSF of dense + BM25 + symbol")):
        s = latency[side]
        print(f"| {label} | {s['p50']:.1f} | {s['p95']:.1f} | {s['cpu']:.1f} |")


if __name__ == "__main__":
    main()
