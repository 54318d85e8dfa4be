"""Alias overhead: a query through an alias vs through the physical name, and name resolution.

Queries. A project of 10,000 points (``--quick``: 5,000; synthetic, see
``_common.fill``) is queried with ``query_points`` (dense, limit 10) through its
logical name, which is an alias, and through its physical collection name,
with the same 200 random query vectors. The two alternate query by query (and
which goes first alternates too), so drift on a shared machine hits both
alike. Reported: the median of each and their ratio (alias / physical).

Resolution. ``resolve_collection_name`` (``AliasManager.resolve_sync``) with
100 registered aliases: cached (the generation check, one indexed SELECT, plus
a dict lookup), and right after another process changed the registry: a
helper process bumps ``alias_generation`` through its own SQLite connection
(what every alias change does, in the same transaction as the change), so the
next lookup reloads the alias table. Prints figures; ``main()`` returns them.

    python bench/bench_alias_overhead.py [--quick] [--points 10000] [--queries 200]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from _common import machine, make_project, percentiles, say

#: A second process that bumps the alias generation once per line read, through its own connection.
BUMPER = """
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1], timeout=30, isolation_level=None)
for line in sys.stdin:
    conn.execute("BEGIN IMMEDIATE")
    conn.execute("UPDATE registry_meta SET value = CAST(value AS INTEGER) + 1 "
                 "WHERE key = 'alias_generation'")
    conn.execute("COMMIT")
    print("ok", flush=True)
"""


def query_overhead(ws: Any, alias: str, physical: str, queries: int, rounds: int,
                   seed: int = 5) -> dict[str, Any]:
    """Interleaved timings of the same dense queries through ``alias`` and ``physical``."""
    from workspace_qdrant_mcp.core import schema

    gen = np.random.default_rng(seed)
    vectors = gen.standard_normal((queries, schema.DENSE_DIM)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    client = ws.client

    def ask(name: str, vector: list[float]) -> float:
        started = time.perf_counter()
        points = client.query_points(name, query=vector, using=schema.DENSE_VECTOR, limit=10).points
        seconds = time.perf_counter() - started
        assert len(points) == 10
        return seconds

    as_lists = [v.tolist() for v in vectors]
    for vector in as_lists[:10]:  # warm-up
        ask(alias, vector)
        ask(physical, vector)
    timings: dict[str, list[float]] = {"alias": [], "physical": []}
    round_ratios = []
    for r in range(rounds):
        mine: dict[str, list[float]] = {"alias": [], "physical": []}
        for i, vector in enumerate(as_lists):
            order = ("alias", "physical") if (i + r) % 2 == 0 else ("physical", "alias")
            for kind in order:
                mine[kind].append(ask(alias if kind == "alias" else physical, vector))
        round_ratios.append(statistics.median(mine["alias"]) / statistics.median(mine["physical"]))
        for kind in timings:
            timings[kind] += mine[kind]
    ratio = statistics.median(timings["alias"]) / statistics.median(timings["physical"])
    return {"queries": queries, "rounds": rounds,
            "alias": percentiles(timings["alias"]), "physical": percentiles(timings["physical"]),
            "ratio_of_medians": round(ratio, 4),
            "round_ratios": [round(x, 4) for x in round_ratios]}


def resolve_costs(ws: Any, alias: str, calls: int, changes: int) -> dict[str, Any]:
    """resolve_sync cached, and right after another process bumped the generation."""
    am = ws.aliases
    physical = am.resolve_sync(alias)
    cached = []
    for _ in range(calls):
        started = time.perf_counter()
        am.resolve_sync(alias)
        cached.append(time.perf_counter() - started)
    bumper = subprocess.Popen([sys.executable, "-c", BUMPER, str(ws.state.db_path)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert bumper.stdin is not None and bumper.stdout is not None
    reloads = []
    try:
        before = ws.state.alias_generation()
        for _ in range(changes):
            bumper.stdin.write("bump\n")
            bumper.stdin.flush()
            assert bumper.stdout.readline().strip() == "ok"
            started = time.perf_counter()
            got = am.resolve_sync(alias)
            reloads.append(time.perf_counter() - started)
            assert got == physical
        assert ws.state.alias_generation() == before + changes  # every change was seen
    finally:
        bumper.stdin.close()
        bumper.wait(timeout=30)

    def micro(samples: list[float]) -> dict[str, float]:
        ordered = sorted(samples)
        return {"n": len(ordered), "median_us": round(statistics.median(ordered) * 1e6, 1),
                "p95_us": round(ordered[round(0.95 * (len(ordered) - 1))] * 1e6, 1)}

    return {"aliases_registered": len(ws.state.alias_rows()), "cached": micro(cached),
            "after_other_process_change": micro(reloads)}


def main(quick: bool = False, points: int | None = None, queries: int | None = None,
         rounds: int | None = None, aliases: int = 100) -> dict[str, Any]:
    """Build the project and its aliases, measure; return the figures."""
    from workspace_qdrant_mcp.config import Settings
    from workspace_qdrant_mcp.core.collection_aliases import AliasChange
    from workspace_qdrant_mcp.workspace.workspace import Workspace

    points = points or (5_000 if quick else 10_000)
    queries = queries or (100 if quick else 200)
    rounds = rounds or (3 if quick else 5)
    figures: dict[str, Any] = {"machine": machine(), "points": points}
    with tempfile.TemporaryDirectory(prefix="wqm-bench-alias-") as tmp:
        base = Path(tmp)
        ws = Workspace(Settings.from_env(data_dir=base / "data", service="off")).open()
        try:
            say(f"building {points} points and {aliases} aliases ...")
            project = make_project(ws, base / "repo", points)
            alias, physical = project["name"], project["physical"]
            ws.aliases.switch_sync([AliasChange(f"extra_alias_{i:03d}", physical)
                                    for i in range(aliases - 1)])
            say("queries through the alias and the physical name ...")
            figures["query"] = query_overhead(ws, alias, physical, queries, rounds)
            say("resolve_collection_name ...")
            figures["resolve"] = resolve_costs(ws, alias, calls=2_000, changes=200)
        finally:
            ws.close()
    return figures


def _print(figures: dict[str, Any]) -> None:
    q, r = figures["query"], figures["resolve"]
    print(f"query_points dense, {figures['points']} points: alias p50 {q['alias']['p50_ms']} ms, "
          f"physical p50 {q['physical']['p50_ms']} ms, ratio {q['ratio_of_medians']}")
    print(f"resolve ({r['aliases_registered']} aliases): cached {r['cached']['median_us']} µs, "
          f"after another process's change {r['after_other_process_change']['median_us']} µs")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--points", type=int)
    parser.add_argument("--queries", type=int)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = main(args.quick, args.points, args.queries)
    print(json.dumps(result, indent=2)) if args.json else _print(result)
