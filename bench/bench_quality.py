"""Retrieval quality on held-out third-party code: wqm against a naive baseline, per mode.

Each package of the quality sets (``bench/quality/build_devset.py``: attrs,
httpx and jinja2 to develop on, click as a check set nobody tunes on) is
indexed twice: by wqm's real ingest in a temporary data directory (through
``bench/quality/wqm_adapter.py``) and by the naive baseline
(``bench/quality/naive.py``). Every query then runs in hybrid, dense and
sparse mode with limit 10 on both. Reported: hit@1/5/10, MRR@10, mean result
length in lines, per package, per set (micro-averaged) and the paired
difference wqm - naive (bootstrap 95% CI, queries each side finds alone);
ingest seconds, chunks/s and lines/s with wqm's time as a ratio of the
baseline's in the same run (the machine is shared: ratios, not seconds).

Variants need no code: ``--env WQM_CHUNKER=syntax`` goes into wqm's
``Settings.from_env`` (only ``--env`` values do; the process environment is
not read), ``--label`` names the run. Results go to
``bench/results/quality-<label>.json``, a markdown report to stdout.

    python bench/bench_quality.py --label today
    python bench/bench_quality.py --label syntax --env WQM_CHUNKER=syntax
    python bench/bench_quality.py --compare bench/results/quality-today.json \\
        bench/results/quality-syntax.json          # wqm hybrid/dense/sparse, paired
    python bench/bench_quality.py --compare A.json#naive/hybrid B.json#wqm/hybrid
    python bench/bench_quality.py --from-json bench/results/quality-today.json --write-docs
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
sys.path.insert(0, str(BENCH_DIR))

from _common import machine, versions
from quality import build_devset
from quality.metrics import Span, first_hit_rank, mean_lines, paired, summarize
from quality.naive import NaiveIndex

MODES = ("hybrid", "dense", "sparse")
SYSTEMS = ("wqm", "naive")
LIMIT = 10
#: Misses of a hybrid search are searched again this deep to see where the target sits.
DEEP_LIMIT = 100
RESULTS = BENCH_DIR / "results"
DOC = ROOT / "docs" / "BENCHMARKS.md"
DOC_START, DOC_END = "<!-- search-quality:start -->", "<!-- search-quality:end -->"
GOALS = {"mrr@10": 0.60, "hit@1": 0.50, "hit@10": 0.90, "mean_lines": 40}


# ----------------------------------------------------------------------------- the run


def sample(queries: list[dict[str, Any]], cap: int, seed: int) -> list[dict[str, Any]]:
    """At most ``cap`` queries: a fixed random sample (by seed), in id order."""
    if len(queries) <= cap:
        return queries
    return sorted(random.Random(seed).sample(queries, cap), key=lambda q: str(q["id"]))


def read_corpus(repo: Path) -> dict[str, str]:
    """The files of a set's repository, by relative path (exactly what wqm indexes)."""
    return {p.relative_to(repo).as_posix(): p.read_text(encoding="utf-8")
            for p in sorted(repo.rglob("*")) if p.is_file() and ".git" not in p.parts}


def spans(found: Iterable[tuple[str, int, int]]) -> list[Span]:
    return [Span(path, start, end) for path, start, end in found]


def targets_of(query: Mapping[str, Any]) -> list[Span]:
    return [Span(str(t["path"]), int(t["start_line"]), int(t["end_line"]))
            for t in query["targets"]]


def score(found: list[Span], query: Mapping[str, Any]) -> dict[str, Any]:
    return {"rank": first_hit_rank(found, targets_of(query)), "lines": mean_lines(found)}


def run_package(package: str, wqm: Any, embed: Callable[[list[str]], Any], cache: Path,
                cap: int, seed: int, latencies: dict[str, list[float]],
                with_tests: bool) -> dict[str, Any]:
    """Index one package with both systems and run its queries; its figures and query records."""
    stats = build_devset.build_package(package, cache, with_tests=with_tests)
    target = build_devset.set_dir(package, cache, with_tests)
    repo = target / "repo"
    all_queries = build_devset.load_queries(target / "queries.jsonl")
    queries = sample(all_queries, cap, seed)
    print(f"[{package}] {stats.files} files, {stats.lines:,} lines, {len(queries)} of "
          f"{len(all_queries)} queries", file=sys.stderr, flush=True)

    ingest = wqm.ingest(repo)
    started = time.perf_counter()
    naive = NaiveIndex(read_corpus(repo), embed)
    naive_seconds = time.perf_counter() - started
    print(f"[{package}] ingest wqm {ingest['seconds']:.1f} s ({ingest['chunks']} chunks), naive "
          f"{naive_seconds:.1f} s ({len(naive.spans)} windows)", file=sys.stderr, flush=True)

    vectors = embed([str(q["query"]) for q in queries])
    records = []
    for q, vector in zip(queries, vectors, strict=True):
        record: dict[str, Any] = {"id": q["id"], "package": package, "set": stats.role,
                                  "query": q["query"],
                                  "target_lines": [t.lines for t in targets_of(q)],
                                  "wqm": {}, "naive": {}}
        for mode in MODES:
            t = time.perf_counter()
            found = spans(wqm.search(repo, str(q["query"]), mode, LIMIT))
            latencies[mode].append(time.perf_counter() - t)
            record["wqm"][mode] = score(found, q)
            if mode == "hybrid":
                record["top"] = [f"{s.path}:{s.start_line}-{s.end_line}" for s in found]
                if record["wqm"][mode]["rank"] is None:
                    deep = spans(wqm.search(repo, str(q["query"]), mode, DEEP_LIMIT))
                    record["wqm"][mode]["deep_rank"] = first_hit_rank(deep, targets_of(q))
            ranking = naive.ranking(str(q["query"]), vector, mode)
            ranked = [Span(*naive.spans[i]) for i in ranking]
            record["naive"][mode] = score(ranked[:LIMIT], q)
            if record["naive"][mode]["rank"] is None:
                record["naive"][mode]["deep_rank"] = first_hit_rank(ranked, targets_of(q))
        records.append(record)
    return {"package": package, "set": stats.role, "version": stats.version,
            "files": stats.files, "lines": stats.lines, "queries": len(queries),
            "queries_available": len(all_queries),
            "ingest": {"wqm": ingest, "naive": {"seconds": naive_seconds,
                                                "chunks": len(naive.spans)}},
            "records": records}


def summaries(records: list[dict[str, Any]]) -> dict[str, Any]:
    """Metrics per scope (each package, ``dev``, ``check``) -> system -> mode, and paired diffs."""
    scopes: dict[str, list[dict[str, Any]]] = {}
    for r in records:
        scopes.setdefault(r["package"], []).append(r)
        scopes.setdefault(r["set"], []).append(r)
    out: dict[str, Any] = {}
    for scope, rows in scopes.items():
        entry: dict[str, Any] = {s: {m: summarize([r[s][m]["rank"] for r in rows],
                                                  [r[s][m]["lines"] for r in rows])
                                     for m in MODES} for s in SYSTEMS}
        entry["wqm_vs_naive"] = {m: paired({r["id"]: r["naive"][m]["rank"] for r in rows},
                                           {r["id"]: r["wqm"][m]["rank"] for r in rows})
                                 for m in MODES}
        out[scope] = entry
    return out


def run(args: argparse.Namespace, env: dict[str, str]) -> dict[str, Any]:
    """The whole benchmark; the results document."""
    from quality import wqm_adapter  # imported here so --compare works without wqm

    packages = [p for s in args.sets.split(",") for p in
                {"dev": build_devset.DEV_PACKAGES, "check": build_devset.CHECK_PACKAGES}[s]
                if not args.packages or p in args.packages.split(",")]
    started = time.perf_counter()
    results: dict[str, Any] = {
        "label": args.label, "env": env, "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine(), "versions": versions(), "wqm": wqm_adapter.describe(env),
        "limit": LIMIT, "max_queries": args.max_queries, "seed": args.seed,
        "corpus": "library+tests" if args.with_tests else "library",
        "sdists": {p: list(build_devset.PACKAGES[p][:2]) for p in packages},
    }
    if results["wqm"]["unknown_variables"]:
        print(f"warning: this wqm does not know {', '.join(results['wqm']['unknown_variables'])}"
              "; they have no effect", file=sys.stderr)
    latencies: dict[str, list[float]] = {m: [] for m in MODES}
    packs = []
    with tempfile.TemporaryDirectory(prefix="wqm-bench-quality-") as tmp:
        wqm = wqm_adapter.WqmRun(Path(tmp) / "data", env)
        try:
            embed = wqm_adapter.baseline_embed()
            wqm.warm()
            embed(["warm up"])
            for package in packages:
                packs.append(run_package(package, wqm, embed, args.cache, args.max_queries,
                                         args.seed, latencies, args.with_tests))
        finally:
            wqm.close()
    records = [r for p in packs for r in p.pop("records")]
    results["packages"] = {p["package"]: p for p in packs}
    results["search_ms"] = {m: {"p50": statistics.median(v) * 1000,
                                "p95": sorted(v)[int(0.95 * (len(v) - 1))] * 1000}
                            for m, v in latencies.items() if v}
    results["summary"] = summaries(records)
    results["seconds"] = time.perf_counter() - started
    results["loadavg_after"] = machine()["loadavg"]
    results["queries"] = records
    return results


# ------------------------------------------------------------------------------ report


def _f(value: Any, digits: int = 2) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _ci(p: Mapping[str, Any]) -> str:
    return f"{p['diff']:+.3f} [{p['ci95'][0]:+.3f}, {p['ci95'][1]:+.3f}]"


def metric_rows(summary: Mapping[str, Any], scopes: Iterable[str],
                systems: Iterable[str] = SYSTEMS) -> list[str]:
    """Markdown rows: scope, system, mode, n, hit@1/5/10, MRR@10, mean lines."""
    rows = ["| set | system | mode | queries | hit@1 | hit@5 | hit@10 | MRR@10 | mean lines |",
            "|---|---|---|---:|---:|---:|---:|---:|---:|"]
    for scope in scopes:
        if scope not in summary:
            continue
        for system in systems:
            for mode in MODES:
                s = summary[scope][system][mode]
                bold = "**" if (system, mode) == ("wqm", "hybrid") else ""
                rows.append(f"| {scope} | {bold}{system}{bold} | {mode} | {s['n']} | "
                            f"{_f(s['hit@1'])} | {_f(s['hit@5'])} | {_f(s['hit@10'])} | "
                            f"{bold}{_f(s['mrr@10'])}{bold} | {_f(s['mean_lines'], 1)} |")
    return rows


def miss_analysis(records: list[dict[str, Any]], system: str) -> list[str]:
    """Where hybrid misses rank, and hit@10 by the target's size."""
    rows = [r for r in records if r["set"] == "dev"]
    misses = [r[system]["hybrid"] for r in rows if r[system]["hybrid"]["rank"] is None]
    buckets = {"11-20": 0, "21-50": 0, "51-100": 0, "> 100": 0}
    for m in misses:
        deep = m.get("deep_rank")
        key = ("> 100" if deep is None or deep > 100 else "51-100" if deep > 50
               else "21-50" if deep > 20 else "11-20")
        buckets[key] += 1
    sizes = {"1-5": (1, 5), "6-15": (6, 15), "16-40": (16, 40), "> 40": (41, 10**9)}
    by_size = []
    for label, (low, high) in sizes.items():
        group = [r for r in rows if low <= min(r["target_lines"]) <= high]
        found = sum(1 for r in group if r[system]["hybrid"]["rank"] is not None)
        by_size.append(f"{label}: {found}/{len(group)}" + (
            f" ({found / len(group):.2f})" if group else ""))
    return [f"{system} hybrid, dev set: {len(misses)} misses of {len(rows)}; the target ranks "
            + ", ".join(f"{k}: {v}" for k, v in buckets.items())
            + f". hit@10 by the target's size in lines: {'; '.join(by_size)}."]


def render(results: Mapping[str, Any]) -> str:
    """The markdown report of one run (also the BENCHMARKS.md section)."""
    summary, packs = results["summary"], results["packages"]
    env = " ".join(f"--env {k}={v}" for k, v in results["env"].items())
    cap = results["max_queries"]
    lines = [
        f"Run `{results['label']}` on {results['date']}, wqm {results['wqm']['wqm_commit']}"
        + (f", variables {env}" if env else ", default settings")
        + f", corpus {results.get('corpus', 'library')}; {results['seconds']:.0f} s"
        f", load average {results['machine']['loadavg']} before and {results['loadavg_after']}"
        " after (shared 2-core machine).",
        "",
        *metric_rows(summary, ["dev", "check"]),
        "",
        ("Paired difference wqm - naive in reciprocal rank (MRR@10), bootstrap 95% CI over "
         "queries; 'alone' counts queries one side finds in its top 10 and the other does not:"),
        "",
        ("| set | mode | queries | MRR naive | MRR wqm | wqm - naive [95% CI] | ranks higher: "
         "wqm / naive | found alone: wqm / naive |"),
        "|---|---|---:|---:|---:|---|---|---|",
    ]
    for scope in ("dev", "check"):
        for mode in MODES:
            p = summary.get(scope, {}).get("wqm_vs_naive", {}).get(mode)
            if p and p["n"]:
                lines.append(f"| {scope} | {mode} | {p['n']} | {p['mrr_a']:.3f} | "
                             f"{p['mrr_b']:.3f} | {_ci(p)} | {p['b_better']} / {p['a_better']} | "
                             f"{p['b_only']} / {p['a_only']} |")
    lines += ["", "Per package, hybrid:", "",
              ("| package | version | set | lines | queries | system | hit@1 | hit@5 | hit@10 | "
               "MRR@10 | mean lines |"), "|---|---|---|---:|---:|---|---:|---:|---:|---:|---:|"]
    for name, p in packs.items():
        for system in SYSTEMS:
            s = summary[name][system]["hybrid"]
            lines.append(f"| {name} | {p['version']} | {p['set']} | {p['lines']:,} | "
                         f"{p['queries']} | {system} | {_f(s['hit@1'])} | {_f(s['hit@5'])} | "
                         f"{_f(s['hit@10'])} | {_f(s['mrr@10'])} | {_f(s['mean_lines'], 1)} |")
    lines += ["", "Ingest (from scratch, models warm; wqm's time as a ratio of the baseline's):", "",
              ("| package | lines | wqm chunks | wqm s | wqm chunks/s | wqm lines/s | naive windows "
               "| naive s | wqm / naive time |"), "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    tot = {"lines": 0, "wc": 0, "ws": 0.0, "nc": 0, "ns": 0.0}
    for name, p in packs.items():
        w, n = p["ingest"]["wqm"], p["ingest"]["naive"]
        tot["lines"] += p["lines"]
        tot["wc"] += w["chunks"]
        tot["ws"] += w["seconds"]
        tot["nc"] += n["chunks"]
        tot["ns"] += n["seconds"]
        lines.append(f"| {name} | {p['lines']:,} | {w['chunks']} | {w['seconds']:.1f} | "
                     f"{w['chunks'] / w['seconds']:.1f} | {p['lines'] / w['seconds']:.0f} | "
                     f"{n['chunks']} | {n['seconds']:.1f} | {w['seconds'] / n['seconds']:.2f} |")
    lines.append(f"| all | {tot['lines']:,} | {tot['wc']} | {tot['ws']:.1f} | "
                 f"{tot['wc'] / tot['ws']:.1f} | {tot['lines'] / tot['ws']:.0f} | {tot['nc']} | "
                 f"{tot['ns']:.1f} | {tot['ws'] / tot['ns']:.2f} |")
    skipped = {n: p["ingest"]["wqm"].get("skipped", 0) for n, p in packs.items()}
    if any(skipped.values()):
        lines += ["", "wqm skipped files (not indexed, so their targets cannot be found): "
                  + ", ".join(f"{n} {k}" for n, k in skipped.items() if k) + "."]
    ms = results["search_ms"]
    lines += ["", "wqm search latency p50 / p95: " + ", ".join(
        f"{m} {ms[m]['p50']:.0f} / {ms[m]['p95']:.0f} ms" for m in MODES if m in ms) + "."]
    lines += ["", *miss_analysis(results["queries"], "wqm"), "",
              *miss_analysis(results["queries"], "naive")]
    if any(p["queries"] < p["queries_available"] for p in packs.values()):
        lines += ["", (f"Queries are a fixed random sample of at most {cap} per package "
                       f"(seed {results['seed']}).")]
    dev = summary.get("dev", {}).get("wqm", {}).get("hybrid")
    if dev:
        lines += ["", "Goals for wqm hybrid on the dev set (issue 15): " + ", ".join(
            f"{k} {'<=' if k == 'mean_lines' else '>='} {v} "
            f"({'met' if (dev[k] <= v if k == 'mean_lines' else dev[k] >= v) else 'not met'}: "
            f"{_f(dev[k])})" for k, v in GOALS.items()) + "."]
    return "\n".join(lines)


def compare(spec_a: str, spec_b: str) -> str:
    """Paired comparison of two result files (``file[#system/mode]``), per set and mode."""
    def load(spec: str) -> tuple[dict[str, Any], str, list[str]]:
        path, _, which = spec.partition("#")
        system, _, mode = (which or "wqm").partition("/")
        return json.loads(Path(path).read_text()), system, [mode] if mode else list(MODES)

    (a, sys_a, modes_a), (b, sys_b, modes_b) = load(spec_a), load(spec_b)
    warning = []
    if a.get("corpus", "library") != b.get("corpus", "library"):
        warning = ["", (f"Warning: the corpora differ ({a.get('corpus', 'library')} against "
                   f"{b.get('corpus', 'library')}); the figures are not comparable.")]
    if len(modes_a) == len(modes_b):
        pairs = list(zip(modes_a, modes_b, strict=True))
    elif len(modes_a) == 1:
        pairs = [(modes_a[0], m) for m in modes_b]
    else:
        pairs = [(m, modes_b[0]) for m in modes_a]
    lines = [(f"A = {a['label']} ({spec_a}), B = {b['label']} ({spec_b}); paired over the "
              "queries both ran (by id)."), "",
             ("| set | A mode | B mode | queries | MRR A | MRR B | B - A [95% CI] | ranks higher: "
              "B / A | found alone: B / A | hit@10 A | hit@10 B |"),
             "|---|---|---|---:|---:|---:|---|---|---|---:|---:|"]
    for scope in ("dev", "check", *build_devset.PACKAGES):
        qa = {r["id"]: r for r in a["queries"] if scope in (r["set"], r["package"])}
        qb = {r["id"]: r for r in b["queries"] if scope in (r["set"], r["package"])}
        for ma, mb in pairs:
            ra = {i: r[sys_a][ma]["rank"] for i, r in qa.items()}
            rb = {i: r[sys_b][mb]["rank"] for i, r in qb.items()}
            p = paired(ra, rb)
            if not p["n"]:
                continue
            common = sorted(set(ra) & set(rb))
            ha = summarize([ra[i] for i in common])["hit@10"]
            hb = summarize([rb[i] for i in common])["hit@10"]
            lines.append(f"| {scope} | {sys_a}/{ma} | {sys_b}/{mb} | {p['n']} | {p['mrr_a']:.3f} | "
                         f"{p['mrr_b']:.3f} | {_ci(p)} | {p['b_better']} / {p['a_better']} | "
                         f"{p['b_only']} / {p['a_only']} | {ha:.2f} | {hb:.2f} |")
    return "\n".join(lines + warning)


def write_docs(results: Mapping[str, Any], command: str, doc: Path = DOC) -> None:
    """Replace (or append) the "Search quality" section of BENCHMARKS.md; the rest stays."""
    section = "\n".join([
        DOC_START, "## Search quality", "",
        ("Held-out third-party code, CodeSearchNet-style (`bench/quality/build_devset.py`): for "
        "each documented function or method (no tests, no dunders), the first sentence of its "
        "docstring is the query, and the docstrings are removed from the indexed code; a hit is "
        "a result on the function's file whose lines overlap it. attrs, httpx and jinja2 are the "
        "development set; click is a check set nobody tunes on. The naive baseline "
        "(`bench/quality/naive.py`) is 50-line windows, the same MiniLM model, plain BM25 with "
        "English stopwords and RRF (k = 60), brute force. `--with-tests` keeps the packages' "
         "tests in the corpus (a harder variant); `--env KEY=VALUE` runs a settings variant; "
         "`--compare A.json B.json` pairs two runs query by query (the run below is "
         "`bench/results/quality-today.json`)."), "",
        "```sh", command, "```", "",
        render(results), "", DOC_END])
    text = doc.read_text() if doc.exists() else ""
    if DOC_START in text and DOC_END in text:
        head, rest = text.split(DOC_START, 1)
        text = head + section + rest.split(DOC_END, 1)[1]
    else:
        marker = "\n## Per bench"
        head, sep, tail = text.partition(marker)
        text = head.rstrip("\n") + "\n\n" + section + "\n" + (sep + tail if sep else "")
    doc.write_text(text)


def main(argv: list[str] | None = None) -> dict[str, Any] | None:
    """Run, compare or re-render; returns the results of a run."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--label", default="wqm", help="names the run and its result file")
    parser.add_argument("--env", action="append", default=[], metavar="KEY=VALUE",
                        help="a wqm setting for this run (repeatable)")
    parser.add_argument("--sets", default="dev,check", help="dev, check or both (default)")
    parser.add_argument("--packages", help="only these packages of the sets (comma-separated)")
    parser.add_argument("--with-tests", action="store_true",
                        help="keep each package's tests in the corpus (a harder variant)")
    parser.add_argument("--max-queries", type=int, default=300, help="per package (sampled)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cache", type=Path, default=build_devset.CACHE)
    parser.add_argument("--output", type=Path, help="default bench/results/quality-LABEL.json")
    parser.add_argument("--compare", nargs=2, metavar=("A.json", "B.json"))
    parser.add_argument("--from-json", type=Path, help="render a saved run instead of running")
    parser.add_argument("--write-docs", action="store_true",
                        help="put the report into docs/BENCHMARKS.md (section Search quality)")
    args = parser.parse_args(argv)
    if args.compare:
        print(compare(*args.compare))
        return None
    env: dict[str, str] = {}
    for item in args.env:
        key, sep, value = item.partition("=")
        if not sep or not key:
            parser.error(f"--env wants KEY=VALUE, got {item!r}")
        env[key] = value
    if args.from_json:
        results: dict[str, Any] = json.loads(args.from_json.read_text())
    else:
        results = run(args, env)
        out = args.output or RESULTS / f"quality-{args.label}.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(results, separators=(",", ":")) + "\n")
        print(f"wrote {out}", file=sys.stderr)
    report = render(results)
    print(report)
    if args.write_docs:
        flags = " ".join([f"--env {k}={v}" for k, v in results["env"].items()]
                         + (["--with-tests"] if results.get("corpus") == "library+tests" else []))
        write_docs(results, f"python bench/bench_quality.py --label {results['label']}"
                   + (f" {flags}" if flags else ""))
        print(f"updated {DOC}", file=sys.stderr)
    return results


if __name__ == "__main__":
    main()
