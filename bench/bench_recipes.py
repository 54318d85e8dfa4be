"""Embedding recipes: throughput on real code chunks, and retrieval quality when measured.

Throughput: chunks of a third-party package's source (default ``rich``, from this
interpreter's site-packages), cut by wqm's own chunker and prefixed with their path
as ingest does (``embedding_text``), so the token lengths are those wqm embeds
(about 250 word pieces, most cut at 256). Each recipe is loaded (its one-time
build timed separately), warmed, then timed in interleaved slices: every round
runs one slice per recipe, so load from other processes falls on all recipes
alike. Reported per recipe: chunks/s (wall clock, the 2 cores of the process),
chunks per CPU-second (less sensitive to a busy machine) and both as a ratio of
``today``: the ``precise`` recipe run as the default was before recipes existed
(batches of 32 texts or 4096 padded tokens; recipes now cap a call at 256 tokens,
which gives the same vectors faster).

Quality: when ``bench/results/quality-recipe-<id>.json`` files exist (written by
``bench/bench_quality.py --env WQM_EMBED_RECIPE=<id> --output ...``), the table
of hit@1 / hit@10 / MRR@10 per recipe for hybrid and dense search, with the paired
difference in reciprocal rank against ``precise`` (bootstrap 95% CI over queries).

    python bench/bench_recipes.py [--n 240] [--rounds 3] [--recipes precise,precise@1,int8,...]

``recipe@N`` times a transformer recipe with N texts per model call.
    python bench/bench_recipes.py --ingest PATH_TO_A_GIT_REPO  # also a full ingest per recipe
    python bench/bench_recipes.py --quality-only
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import random
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from workspace_qdrant_mcp.config import EMBED_RECIPES
from workspace_qdrant_mcp.embed import cache, dense
from workspace_qdrant_mcp.embed.recipes import get_recipe, make_embedder
from workspace_qdrant_mcp.ingest.chunker import chunk_text
from workspace_qdrant_mcp.workspace.points import embedding_text

RESULTS = Path(__file__).resolve().parent / "results"

BASELINE = "precise"
#: The reference of the throughput ratios: precise, batched as before recipes existed.
TODAY = "today"
_TODAY_BATCH, _TODAY_TOKENS = 32, 4096


def as_today(emb: Any) -> Callable[[], None]:
    """Run ``emb`` (precise) as the default ran before recipes: batches of 32 texts or 4096
    padded tokens (the caller sets the token budget per call). Returns the undo function."""
    saved = (emb.batch_size, dense._MAX_BATCH_TOKENS)
    emb.batch_size = _TODAY_BATCH

    def undo() -> None:
        emb.batch_size, dense._MAX_BATCH_TOKENS = saved

    return undo


def code_chunks(package: str, n: int, seed: int = 0) -> list[str]:
    """``n`` chunks of ``package``'s source, as ingest embeds them, in a fixed random order."""
    module = importlib.import_module(package)
    root = Path(module.__file__ or "").parent
    chunks = [
        embedding_text(str(path.relative_to(root.parent)), chunk.content)
        for path in sorted(root.rglob("*.py"))
        for chunk in chunk_text(path.read_text(encoding="utf-8", errors="replace"))
    ]
    random.Random(seed).shuffle(chunks)
    return chunks[:n]


def throughput(
    recipes: list[str], texts: list[str], rounds: int, slice_size: int, cache_dir: Path
) -> dict[str, dict[str, float]]:
    """Build, load and time every recipe on ``texts``; figures per recipe."""
    embedders: dict[str, Any] = {}
    figures: dict[str, dict[str, float]] = {}
    for rid in recipes:
        before = sum(cache.build_counts().values())
        started = time.perf_counter()
        name, _, batch = rid.partition("@")  # "precise@1": the recipe with another batch size
        emb = make_embedder(get_recipe(BASELINE if name == TODAY else name), cache_dir=cache_dir)
        if name == TODAY:
            as_today(emb)
        if batch:
            emb.batch_size = int(batch)
        emb.embed(texts[:2])  # build (first run only), load, warm up
        built = sum(cache.build_counts().values()) > before
        figures[rid] = {"build_and_load_s": time.perf_counter() - started, "built": float(built)}
        embedders[rid] = emb
    first = embedders.get(BASELINE) or embedders.get(TODAY)
    tokenizer = first._tokenizer if first is not None else None
    lengths = [len(e.ids) for e in tokenizer.encode_batch(texts)] if tokenizer else []
    totals = {rid: [0.0, 0.0, 0] for rid in recipes}
    budget = dense._MAX_BATCH_TOKENS
    for _ in range(rounds):
        for start in range(0, len(texts), slice_size):
            part = texts[start : start + slice_size]
            for rid in recipes:
                dense._MAX_BATCH_TOKENS = _TODAY_TOKENS if rid == TODAY else budget
                wall, cpu = time.perf_counter(), time.process_time()
                embedders[rid].embed(part)
                t = totals[rid]
                t[0] += time.perf_counter() - wall
                t[1] += time.process_time() - cpu
                t[2] += len(part)
    for rid, (wall, cpu, n) in totals.items():
        figures[rid].update({"chunks_per_s": n / wall, "chunks_per_cpu_s": n / cpu})
    dense._MAX_BATCH_TOKENS = budget
    base = figures.get(TODAY) or figures.get(BASELINE)
    for f in figures.values():
        f["wall_ratio"] = f["chunks_per_s"] / base["chunks_per_s"] if base else float("nan")
        f["cpu_ratio"] = f["chunks_per_cpu_s"] / base["chunks_per_cpu_s"] if base else float("nan")
    figures["_chunks"] = {
        "n": float(len(texts)),
        "mean_tokens": float(np.mean(lengths)) if lengths else 0.0,
        "share_over_256": float(np.mean(np.array(lengths) >= 256)) if lengths else 0.0,
    }
    return figures


def ingest_times(
    recipes: list[str], repo: Path, rounds: int, cache_dir: Path
) -> dict[str, dict[str, Any]]:
    """Full hybrid ingest of ``repo`` from scratch per recipe (models warm), interleaved rounds.

    A fresh data directory each time; the service is off so the ingest runs in this
    process. ``today`` is precise with the batching it had before recipes existed.
    """
    from workspace_qdrant_mcp.config import Settings
    from workspace_qdrant_mcp.ops.ingest import ingest
    from workspace_qdrant_mcp.workspace.workspace import Workspace

    budget = dense._MAX_BATCH_TOKENS
    times: dict[str, list[float]] = {rid: [] for rid in recipes}
    chunks: dict[str, int] = {}
    for _ in range(rounds):
        for rid in recipes:
            name = BASELINE if rid == TODAY else rid
            with tempfile.TemporaryDirectory(prefix="bench-recipes-ingest-") as tmp:
                settings = Settings(
                    data_dir=Path(tmp), cache_dir=cache_dir, service="off", embed_recipe=name
                )
                ws = Workspace(settings).open()
                undo = None
                try:
                    emb: Any = ws.dense
                    if rid == TODAY:
                        undo = as_today(emb)
                        dense._MAX_BATCH_TOKENS = _TODAY_TOKENS
                    emb.embed(["warm up"])
                    ws.sparse.embed_documents(["warm up"])
                    started = time.perf_counter()
                    result = ingest(ws, project_path=str(repo))
                    times[rid].append(time.perf_counter() - started)
                    chunks[rid] = int(result["chunks_written"])
                finally:
                    dense._MAX_BATCH_TOKENS = budget
                    if undo is not None:
                        undo()
                    ws.close()
    base = float(np.median(times[TODAY])) if TODAY in times else float("nan")
    return {
        rid: {
            "median_s": float(np.median(t)),
            "runs_s": t,
            "chunks": float(chunks[rid]),
            "speedup": base / float(np.median(t)),
        }
        for rid, t in times.items()
    }


# --------------------------------------------------------------------------- quality


def _ranks(result: dict[str, Any], mode: str) -> dict[str, int | None]:
    return {str(q["id"]): q["wqm"][mode]["rank"] for q in result["queries"]}


def _rr(rank: int | None) -> float:
    return 0.0 if rank is None else 1.0 / rank


def paired(
    a: dict[str, int | None], b: dict[str, int | None], seed: int = 0
) -> tuple[float, float, float]:
    """Mean reciprocal-rank difference b - a over common queries, with a bootstrap 95% CI."""
    common = sorted(set(a) & set(b))
    diff = np.array([_rr(b[q]) - _rr(a[q]) for q in common])
    rng = np.random.default_rng(seed)
    boots = rng.choice(diff, size=(2000, len(diff)), replace=True).mean(axis=1)
    return float(diff.mean()), float(np.quantile(boots, 0.025)), float(np.quantile(boots, 0.975))


def quality_table(results_dir: Path, recipes: list[str]) -> list[str]:
    """Markdown rows per recipe, set and mode: hit@1, hit@10, MRR@10 and the paired diff."""
    runs = {}
    for rid in recipes:
        path = results_dir / f"quality-recipe-{rid}.json"
        if path.is_file():
            runs[rid] = json.loads(path.read_text())
    if BASELINE not in runs:
        return []
    rows = [
        "| recipe | set | mode | queries | hit@1 | hit@10 | MRR@10 | MRR - precise [95% CI] |",
        "|---|---|---|---:|---:|---:|---:|---|",
    ]
    for rid, run in runs.items():
        for scope in ("dev", "check"):
            for mode in ("hybrid", "dense"):
                s = run["summary"].get(scope, {}).get("wqm", {}).get(mode)
                if not s:
                    continue
                subset = {str(q["id"]) for q in run["queries"] if q["set"] == scope}
                a = {k: v for k, v in _ranks(runs[BASELINE], mode).items() if k in subset}
                b = {k: v for k, v in _ranks(run, mode).items() if k in subset}
                d, lo, hi = paired(a, b)
                diff = "-" if rid == BASELINE else f"{d:+.3f} [{lo:+.3f}, {hi:+.3f}]"
                rows.append(
                    f"| {rid} | {scope} | {mode} | {s['n']} | {s['hit@1']:.3f} | "
                    f"{s['hit@10']:.3f} | {s['mrr@10']:.3f} | {diff} |"
                )
    return rows


DOC = Path(__file__).resolve().parents[1] / "docs" / "BENCHMARKS.md"
DOC_START, DOC_END = "<!-- embedding-recipes:start -->", "<!-- embedding-recipes:end -->"


def render(figures: dict[str, Any], args: argparse.Namespace) -> str:
    """The report of one run, in markdown."""
    out: list[str] = []
    if "throughput" in figures:
        t = figures["throughput"]
        c = t["_chunks"]
        out.append(
            f"{int(c['n'])} chunks of {args.package} x {args.rounds} rounds, "
            f"{c['mean_tokens']:.0f} word pieces on average ({c['share_over_256']:.0%} at 256+); "
            f"{figures['cpus']} CPUs, load average {figures['loadavg_start']:.1f} -> "
            f"{figures['loadavg_end']:.1f}\n"
        )
        out.append(
            "| recipe | chunks/s | x today | chunks/CPU-s | x today | build+load s |\n"
            "|---|---:|---:|---:|---:|---:|"
        )
        for rid in (k for k in t if not k.startswith("_")):
            f = t[rid]
            out.append(
                f"| {rid} | {f['chunks_per_s']:.1f} | {f['wall_ratio']:.2f} | "
                f"{f['chunks_per_cpu_s']:.1f} | {f['cpu_ratio']:.2f} | "
                f"{f['build_and_load_s']:.1f}{'' if f['built'] else ' (cached)'} |"
            )
    if "ingest" in figures:
        lines = sum(
            len(p.read_text(errors="replace").splitlines())
            for p in args.ingest.rglob("*")
            if p.is_file() and ".git" not in p.parts
        )
        out.append(
            f"\nFull hybrid ingest of {args.ingest} ({lines:,} lines), models warm, "
            f"{args.ingest_rounds} interleaved rounds:\n\n"
            "| recipe | chunks | median s | runs s | x today |\n|---|---:|---:|---|---:|"
        )
        for rid, f in figures["ingest"].items():
            runs = ", ".join(f"{x:.1f}" for x in f["runs_s"])
            out.append(
                f"| {rid} | {int(f['chunks'])} | {f['median_s']:.1f} | {runs} | "
                f"{f['speedup']:.2f} |"
            )
    if figures["quality"]:
        out.append("\nRetrieval quality (bench/bench_quality.py per recipe):\n")
        out.append("\n".join(figures["quality"]))
    elif args.quality_only:
        out.append(f"No quality results in {args.results}.")
    return "\n".join(out)


def write_docs(text: str, command: str, doc: Path = DOC) -> None:
    """Replace (or append) the "Embedding recipes" section of BENCHMARKS.md; the rest stays."""
    section = f"{DOC_START}\n## Embedding recipes\n\n```sh\n{command}\n```\n\n{text}\n\n{DOC_END}"
    current = doc.read_text() if doc.exists() else ""
    if DOC_START in current and DOC_END in current:
        head, rest = current.split(DOC_START, 1)
        current = head + section + rest.split(DOC_END, 1)[1]
    else:
        current = current.rstrip("\n") + "\n\n" + section + "\n"
    doc.write_text(current)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the throughput benchmark, print it and the quality table; return the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipes", default=",".join((TODAY, *EMBED_RECIPES)))
    parser.add_argument("--package", default="rich", help="source of the code chunks")
    parser.add_argument("--n", type=int, default=240, help="chunks per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--slice", type=int, default=40, help="chunks per timed slice")
    parser.add_argument("--cache", type=Path, help="model cache (default: a fresh temp dir)")
    parser.add_argument("--results", type=Path, default=RESULTS, help="quality-recipe-*.json")
    parser.add_argument("--quality-only", action="store_true")
    parser.add_argument("--ingest", type=Path, help="also time a full ingest of this git repo")
    parser.add_argument("--ingest-rounds", type=int, default=2)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--write-docs", action="store_true", help="update docs/BENCHMARKS.md")
    args = parser.parse_args(argv)
    recipes = [r.strip() for r in args.recipes.split(",") if r.strip()]
    figures: dict[str, Any] = {"loadavg_start": os.getloadavg()[0], "cpus": os.cpu_count()}
    if not args.quality_only:
        texts = code_chunks(args.package, args.n)
        with tempfile.TemporaryDirectory(prefix="bench-recipes-") as tmp:
            cache_dir = args.cache or Path(tmp)
            figures["throughput"] = throughput(recipes, texts, args.rounds, args.slice, cache_dir)
            if args.ingest:
                figures["ingest"] = ingest_times(
                    recipes, args.ingest, args.ingest_rounds, args.cache or Path(tmp) / "ingest"
                )
        figures["loadavg_end"] = os.getloadavg()[0]
    figures["quality"] = quality_table(args.results, recipes)
    if args.json:
        print(json.dumps(figures, indent=2))
        return figures
    text = render(figures, args)
    print(text)
    if args.write_docs:
        write_docs(text, " ".join(["python bench/bench_recipes.py", *(argv or sys.argv[1:])]))
    return figures


if __name__ == "__main__":
    main()
