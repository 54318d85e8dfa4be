"""Identity migration cost against collection size: the zero-copy alias step vs what it replaces.

For projects of 1,000, 10,000 and 100,000 points (``--quick``: 1,000 and
10,000), each in a fresh data directory (synthetic 384-d dense vectors, real
BM25 sparse vectors, full payloads; see ``_common.fill``), the project gains a
git remote and we time:

- ``update-remote`` as a library operation: ``plan_update_remote`` and
  ``apply_plan`` (the alias step itself, with its git calls and registry
  writes), then ``undo``, repeated; and the bare ``AliasManager.switch_sync``
  that ``apply_plan`` performs (intent -> one Qdrant call -> done).
- the whole command, ``wqm project update-remote --yes`` then
  ``wqm project undo --yes``, as a user runs it: a new process talking to a warm
  workspace service. Once more cold with ``WQM_SERVICE=off``, where the process
  opens the embedded store itself (which loads every point: that part grows
  with the size, the alias step does not).

Against what it replaces:

- copying the points to a new collection (scroll with vectors + upsert in
  batches), measured for real at every size;
- re-embedding the same chunks with the real dense + BM25 embedders: measured
  on 1,000 chunk texts, extrapolated linearly to the larger sizes (labelled).
  A re-index would also pay the writes, about the copy's cost on top.

Prints figures; ``main()`` returns them.

    python bench/bench_migration.py [--quick] [--sizes 1000,10000] [--reps 5]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import (
    git,
    machine,
    make_project,
    median_ms,
    run_wqm,
    say,
    timed,
    wqm_env,
)

REEMBED_SAMPLE = 1_000


def _du_mib(path: Path) -> float:
    return round(sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 2**20, 1)


def reembed_rate(data_dir: Path, sample: int) -> dict[str, Any]:
    """Seconds for the real dense + BM25 embedders over ``sample`` chunk texts of the bench."""
    from _common import chunk_texts
    from workspace_qdrant_mcp.config import Settings
    from workspace_qdrant_mcp.workspace.indexer import DENSE_BATCH
    from workspace_qdrant_mcp.workspace.workspace import Workspace

    texts = chunk_texts(sample)
    ws = Workspace(Settings.from_env(data_dir=data_dir, service="off"))
    try:
        ws.dense.embed(texts[:16])  # load the model and warm up: loading is not throughput
        ws.sparse.embed_documents(texts[:16])
        size = DENSE_BATCH

        split = {"dense": 0.0, "sparse": 0.0}

        def run() -> None:
            for i in range(0, len(texts), size):
                batch = texts[i:i + size]
                started = time.perf_counter()
                ws.dense.embed(batch)
                middle = time.perf_counter()
                ws.sparse.embed_documents(batch)
                split["dense"] += middle - started
                split["sparse"] += time.perf_counter() - middle

        seconds, _ = timed(run)
        backend = getattr(ws.dense, "active_backend", None)
    finally:
        ws.close()
    return {"sample": sample, "seconds": round(seconds, 2),
            "chunks_per_s": round(sample / seconds, 1), "dense_backend": backend,
            "dense_s": round(split["dense"], 2), "sparse_s": round(split["sparse"], 2)}


def copy_points(ws: Any, source: str, target: str) -> int:
    """Copy every point of ``source`` into a new collection ``target`` (what a rename costs)."""
    from qdrant_client import models as qm

    from workspace_qdrant_mcp.core import schema, store

    client = ws.client
    store.call(client, "create copy", lambda: client.create_collection(
        target, vectors_config=schema.vectors_config(),
        sparse_vectors_config=schema.sparse_vectors_config()))
    copied, offset = 0, None
    while True:
        with store.guarded(client, "scroll"):
            page, offset = client.scroll(source, limit=512, offset=offset, with_payload=True,
                                         with_vectors=True)
        if page:
            structs = [qm.PointStruct(id=p.id, vector=p.vector, payload=p.payload) for p in page]
            with store.guarded(client, "upsert copy"):
                client.upsert(target, points=structs)
            copied += len(page)
        if offset is None:
            return copied


def library_steps(ws: Any, repo: Path, physical: str, reps: int) -> dict[str, Any]:
    """Median times of plan, apply_plan and undo, and of the bare alias switch."""
    from workspace_qdrant_mcp.core.collection_aliases import AliasChange
    from workspace_qdrant_mcp.ops import aliases as alias_ops
    from workspace_qdrant_mcp.ops import identity

    plans, applies, undos, switches, unswitches = [], [], [], [], []
    new_name = ""
    for _ in range(reps):
        seconds, plan = timed(lambda: identity.plan_update_remote(ws, str(repo)))
        plans.append(seconds)
        seconds, result = timed(lambda p=plan: identity.apply_plan(ws, p))  # type: ignore[misc]
        assert result["status"] == "applied", result
        applies.append(seconds)
        new_name = result["new_name"]
        seconds, _ = timed(lambda: alias_ops.undo(ws, str(repo)))
        undos.append(seconds)
    am = ws.aliases
    for _ in range(reps):
        seconds, _ = timed(lambda: am.switch_sync([AliasChange(new_name, physical, expected=None)]))
        switches.append(seconds)
        seconds, _ = timed(lambda: am.switch_sync([AliasChange(new_name, None,
                                                               expected=physical)]))
        unswitches.append(seconds)
    return {"new_name": new_name, "plan_ms": median_ms(plans), "apply_plan_ms": median_ms(applies),
            "undo_ms": median_ms(undos), "alias_switch_ms": median_ms(switches),
            "alias_remove_ms": median_ms(unswitches)}


def command_steps(data_dir: Path, repo: Path, reps: int) -> dict[str, Any]:
    """The whole ``wqm`` commands: warm service (median of ``reps``), then cold in-process."""
    from workspace_qdrant_mcp.backends.service import stop_service
    from workspace_qdrant_mcp.config import Settings

    env = wqm_env(data_dir, "auto")
    served = Settings.from_env(env, data_dir=data_dir)
    updates, undos = [], []
    try:
        start_s, _ = run_wqm(["service", "start"], env)
        run_wqm(["project", "list-aliases", "--format", "json"], env)  # warm
        for _ in range(reps):
            seconds, _ = run_wqm(["project", "update-remote", "--yes", "-p", str(repo)], env,
                                 cwd=repo)
            updates.append(seconds)
            seconds, _ = run_wqm(["project", "undo", "--yes"], env, cwd=repo)
            undos.append(seconds)
    finally:
        stop_service(served)
    cold_env = wqm_env(data_dir, "off")
    cold_update, _ = run_wqm(["project", "update-remote", "--yes", "-p", str(repo)], cold_env,
                             cwd=repo)
    cold_undo, _ = run_wqm(["project", "undo", "--yes"], cold_env, cwd=repo)
    return {"cli_update_remote_warm_ms": median_ms(updates), "cli_undo_warm_ms": median_ms(undos),
            "service_start_s": round(start_s, 2), "cli_update_remote_cold_s": round(cold_update, 2),
            "cli_undo_cold_s": round(cold_undo, 2)}


def one_size(base: Path, points: int, reps: int) -> dict[str, Any]:
    """Every figure for one collection size."""
    from workspace_qdrant_mcp.config import Settings
    from workspace_qdrant_mcp.workspace.workspace import Workspace

    data_dir = base / "data"
    ws = Workspace(Settings.from_env(data_dir=data_dir, service="off")).open()
    row: dict[str, Any] = {"points": points}
    try:
        say(f"  building {points} points ...")
        project = make_project(ws, base / "repo", points)
        repo, physical = project["repo"], project["physical"]
        row["build_s"] = project["build_seconds"]
        git(repo, "remote", "add", "origin", f"https://github.com/bench/migration{points}.git")
        say("  library operations ...")
        row.update(library_steps(ws, repo, physical, reps))
        say("  copying every point to a new collection ...")
        seconds, copied = timed(lambda: copy_points(ws, project["name"], "bench_copy"))
        assert copied == points, (copied, points)
        row["copy_s"] = round(seconds, 2)
        row["copy_points_per_s"] = round(points / seconds, 1)
        ws.client.delete_collection("bench_copy")
    finally:
        ws.close()
    row["store_mib"] = _du_mib(data_dir)
    say("  wqm commands ...")
    row.update(command_steps(data_dir, repo, reps))
    return row


def main(quick: bool = False, sizes: list[int] | None = None,
         reps: int | None = None) -> dict[str, Any]:
    """Run every size; return the figures (one row per size, plus the re-embedding rate)."""
    sizes = sizes or ([1_000, 10_000] if quick else [1_000, 10_000, 100_000])
    reps = reps or (3 if quick else 7)
    figures: dict[str, Any] = {"machine": machine(), "reps": reps, "rows": []}
    with tempfile.TemporaryDirectory(prefix="wqm-bench-migration-") as tmp:
        say("re-embedding rate ...")
        rate = reembed_rate(Path(tmp) / "embed-data", REEMBED_SAMPLE)
        figures["reembed"] = rate
        for points in sizes:
            say(f"size {points}:")
            row = one_size(Path(tmp) / f"n{points}", points, reps)
            measured = points <= rate["sample"]
            row["reembed_s"] = round(points / rate["chunks_per_s"], 1)
            row["reembed_kind"] = "measured" if measured else "extrapolated"
            figures["rows"].append(row)
            shutil.rmtree(Path(tmp) / f"n{points}", ignore_errors=True)
    apply = [r["apply_plan_ms"] for r in figures["rows"]]
    figures["apply_plan_spread"] = round(max(apply) / max(min(apply), 1e-9), 2)
    figures["apply_plan_median_ms"] = round(statistics.median(apply), 2)
    return figures


def _print(figures: dict[str, Any]) -> None:
    rate = figures["reembed"]
    print(f"re-embedding (dense {rate['dense_backend']} + BM25): {rate['chunks_per_s']} chunks/s "
          f"({rate['sample']} chunks in {rate['seconds']} s)")
    head = ("points", "apply_plan ms", "switch ms", "cli warm ms", "cli cold s", "copy s",
            "re-embed s")
    print(" | ".join(head))
    for r in figures["rows"]:
        print(" | ".join(str(v) for v in (
            r["points"], r["apply_plan_ms"], r["alias_switch_ms"], r["cli_update_remote_warm_ms"],
            r["cli_update_remote_cold_s"], r["copy_s"], f"{r['reembed_s']} ({r['reembed_kind']})")))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1,000 and 10,000 points only")
    parser.add_argument("--sizes", help="comma-separated collection sizes")
    parser.add_argument("--reps", type=int, help="repetitions of each timed step")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    result = main(args.quick, [int(s) for s in args.sizes.split(",")] if args.sizes else None,
                  args.reps)
    print(json.dumps(result, indent=2)) if args.json else _print(result)
