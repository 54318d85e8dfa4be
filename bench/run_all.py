"""Run every benchmark and write ``docs/BENCHMARKS.md``: machine, versions, one table of figures.

    python bench/run_all.py            # the full run (tens of minutes on 2 cores)
    python bench/run_all.py --quick    # smaller sizes, no 100,000-point project

Each bench runs in its own Python process (fresh memory, no model or store
shared between benches) through its ``main()``, which returns its figures;
their own output goes to a log file named in the progress lines. A bench that
fails is reported as failed in the document and the others still run.
``--save-json`` keeps the raw figures, and ``--from-json`` writes the document
again from them without re-running anything.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
sys.path.insert(0, str(BENCH_DIR))

from _common import machine, versions

#: name -> (module, kwargs of main() for the full run, for --quick)
BENCHES: dict[str, tuple[str, dict[str, Any], dict[str, Any]]] = {
    "embed": ("bench_embed", {"argv": []},
              {"argv": ["--n", "500", "--batch-sizes", "32", "--reference-n", "200"]}),
    "ingest": ("bench_ingest", {"files": 150}, {"files": 50}),
    "search": ("bench_search", {"chunks": 10_000, "queries": 60},
               {"chunks": 10_000, "queries": 30}),
    "cli_search": ("bench_cli_search", {}, {"quick": True}),
    "migration": ("bench_migration", {}, {"quick": True}),
    "zero_downtime": ("bench_zero_downtime", {}, {"quick": True}),
    "alias_overhead": ("bench_alias_overhead", {}, {"quick": True}),
}

RUNNER = """
import json, sys
sys.path.insert(0, {bench!r})
import {module} as bench
figures = bench.main(**json.loads({kwargs!r}))
with open({out!r}, "w") as handle:
    json.dump(figures, handle, default=str)
"""


def run_one(name: str, quick: bool, logs: Path) -> dict[str, Any]:
    """Run one bench in a fresh interpreter; its figures, or the reason it failed."""
    module, full, small = BENCHES[name]
    kwargs = small if quick else full
    out = logs / f"{name}.json"
    log = logs / f"{name}.log"
    code = RUNNER.format(bench=str(BENCH_DIR), module=module, kwargs=json.dumps(kwargs),
                         out=str(out))
    print(f"[{name}] running {module}.main({kwargs}) ... (log: {log})", flush=True)
    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    with open(log, "w") as handle:
        done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, stdout=handle,
                              stderr=subprocess.STDOUT, check=False)
    seconds = round(time.perf_counter() - started, 1)
    meta = {"seconds": seconds, "loadavg_before": round(load_before, 2),
            "loadavg_after": round(os.getloadavg()[0], 2), "kwargs": kwargs}
    if done.returncode != 0 or not out.exists():
        tail = log.read_text().strip().splitlines()[-5:]
        print(f"[{name}] FAILED after {seconds} s:\n  " + "\n  ".join(tail), flush=True)
        return {"ok": False, "error": " / ".join(tail)[-400:], **meta}
    print(f"[{name}] done in {seconds} s", flush=True)
    return {"ok": True, "figures": json.loads(out.read_text()), **meta}


# ------------------------------------------------------------------------------ rendering


def _get(results: dict[str, Any], name: str) -> dict[str, Any] | None:
    entry = results["benches"].get(name)
    return entry["figures"] if entry and entry.get("ok") else None


def _fmt(value: Any, unit: str = "") -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        text = f"{value:,.2f}" if abs(value) < 100 else f"{value:,.0f}"
    elif isinstance(value, int):
        text = f"{value:,}"
    else:
        text = str(value)
    return f"{text} {unit}".strip()


def _sizes(rows: list[dict[str, Any]], key: str, unit: str) -> str:
    return " / ".join(_fmt(r.get(key), unit) for r in rows)


def _summary(results: dict[str, Any]) -> list[str]:
    rows: list[tuple[str, str, str, str]] = []
    mig = _get(results, "migration")
    if mig:
        r = mig["rows"]
        sizes = " / ".join(f"{x['points']:,}" for x in r)
        rows += [
            ("Identity migration", f"`apply_plan` (update-remote, library) at {sizes} points",
             _sizes(r, "apply_plan_ms", "ms"), "flat: one alias step, zero copy"),
            ("Identity migration", f"`wqm project update-remote --yes`, warm service, {sizes}",
             _sizes(r, "cli_update_remote_warm_ms", "ms"), "new process each time"),
            ("Identity migration", f"copying the points instead, {sizes}",
             _sizes(r, "copy_s", "s"), "scroll + upsert, measured"),
            ("Identity migration", f"re-embedding instead, {sizes}",
             " / ".join(f"{_fmt(x['reembed_s'], 's')} {x['reembed_kind']}" for x in r),
             f"dense + BM25 at {_fmt(mig['reembed']['chunks_per_s'])} chunks/s"),
        ]
    zd = _get(results, "zero_downtime")
    if zd:
        b, s = zd["baseline"], zd["switching"]
        rows += [
            ("Zero downtime", (f"failed / empty queries, {zd['clients']} clients, "
             f"{zd['switches']} switches"), (f"{s['failed']} / {s['empty']} "
             f"(of {s['queries']:,})"), "expect 0 / 0"),
            ("Zero downtime", "search p50 / p99, no switching",
             f"{_fmt(b['latency'].get('p50_ms'), 'ms')} / {_fmt(b['latency'].get('p99_ms'), 'ms')}",
             "4 clients back to back"),
            ("Zero downtime", "search p50 / p99, while switching",
             f"{_fmt(s['latency'].get('p50_ms'), 'ms')} / {_fmt(s['latency'].get('p99_ms'), 'ms')}",
             f"{s['straddling']} queries straddled a removal ({s['straddling_failed']} failed)"),
        ]
    ao = _get(results, "alias_overhead")
    if ao:
        q, res = ao["query"], ao["resolve"]
        rows += [
            ("Alias overhead", f"query through alias / physical name ({ao['points']:,} points)",
             f"{q['ratio_of_medians']:.4f}", "ratio of medians; expect within 2%"),
            ("Alias overhead", (f"`resolve_collection_name`, cached ({res['aliases_registered']} "
             "aliases)"), _fmt(res["cached"]["median_us"], "µs"), "median"),
            ("Alias overhead", "`resolve_collection_name` after another process's change",
             _fmt(res["after_other_process_change"]["median_us"], "µs"), "median (reload)"),
        ]
    emb = _get(results, "embed")
    if emb:
        best = emb["best"]
        rows.append(("Embedding", f"dense chunks/s ({best['backend']}, batch {best['batch_size']})",
                     _fmt(best["chunks_per_s"]), (f"cosine min {best['min']:.5f} vs "
                     "sentence-transformers; target >= 300/s, >= 0.999")))
    ing = _get(results, "ingest")
    if ing:
        rows.append(("Ingest", (f"chunks/s end to end ({ing['files']} files, {ing['chunks']:,} "
                     f"chunks of ~{ing['mean_words_per_chunk']:.0f} words)"),
                     _fmt(ing["ingest_chunks_per_s"]),
                     (f"raw dense + BM25 on the same chunks {_fmt(ing['raw_embed_chunks_per_s'])}"
                      f"/s; pipeline overhead {ing['pipeline_overhead_pct_in_run']}% (in run)")))
    sea = _get(results, "search")
    if sea:
        modes = [m for m in ("hybrid", "dense", "sparse") if m in sea]
        rows.append(("Search", f"library `search` p50 at {sea['chunks']:,} chunks: "
                     + " / ".join(modes),
                     " / ".join(_fmt(sea[m]["p50_ms"], "ms") for m in modes),
                     "warm, in-process"))
    cli = _get(results, "cli_search")
    if cli:
        w = cli["warm"]
        rows += [
            ("CLI search", f"`wqm search` warm p50 / p95, {cli['chunks']:,} chunks",
             f"{_fmt(w['p50_ms'], 'ms')} / {_fmt(w['p95_ms'], 'ms')}",
             (f"target < {cli['target_warm_ms']:.0f} ms; service side p50 "
             f"{_fmt(cli['service_side'].get('p50_ms'), 'ms')}, `wqm --version` p50 "
             f"{_fmt(cli['cli_floor']['p50_ms'], 'ms')}")),
            ("CLI search", "`wqm search` cold first call", _fmt(cli["cold_first_call_s"], "s"),
             "starts the service, opens the store, loads the model"),
        ]
    for name, entry in results["benches"].items():
        if not entry.get("ok"):
            rows.append((name, "FAILED", "-", entry.get("error", "")[:150].replace("|", "/")))
    out = ["| Area | Figure | Value | Note |", "|---|---|---|---|"]
    out += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows]
    return out


def _migration_details(mig: dict[str, Any]) -> list[str]:
    out = [
        ("| points | build s | plan ms | `apply_plan` ms | bare alias switch ms | `undo` ms | "
        "`wqm … update-remote` warm ms | `wqm … undo` warm ms | same, service off s | "
        "copy s | re-embed s | store MiB |"),
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in mig["rows"]:
        out.append("| " + " | ".join([
            f"{r['points']:,}", _fmt(r["build_s"]), _fmt(r["plan_ms"]), _fmt(r["apply_plan_ms"]),
            _fmt(r["alias_switch_ms"]), _fmt(r["undo_ms"]), _fmt(r["cli_update_remote_warm_ms"]),
            _fmt(r["cli_undo_warm_ms"]), _fmt(r["cli_update_remote_cold_s"]), _fmt(r["copy_s"]),
            f"{_fmt(r['reembed_s'])} ({r['reembed_kind']})", _fmt(r["store_mib"])]) + " |")
    rate = mig["reembed"]
    out += ["", (f"Medians of {mig['reps']} repetitions. Re-embedding rate: "
            f"{rate['chunks_per_s']} chunks/s ({rate['sample']:,} chunks of ~50 words in "
            f"{rate['seconds']} s: dense {rate['dense_backend']} {rate['dense_s']} s, BM25 "
            f"{rate['sparse_s']} s); sizes above the sample are extrapolated linearly. "
            "\"Service off\" is the cold command that opens the embedded store itself, which "
            "loads every point into memory: that part grows with the size, the alias step does "
            "not.")]
    return out


def _zero_details(zd: dict[str, Any]) -> list[str]:
    out = [("| phase | queries | old name / new name | failed | empty | straddling (failed) | "
           "p50 ms | p95 ms | p99 ms |"), "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for phase in ("baseline", "switching"):
        f = zd[phase]
        lat = f["latency"]
        out.append(f"| {phase} | {f['queries']:,} | {f['old_name']:,} / {f['new_name']:,} | "
                   f"{f['failed']} | {f['empty']} | {f['straddling']} ({f['straddling_failed']}) "
                   f"| {_fmt(lat.get('p50_ms'))} | {_fmt(lat.get('p95_ms'))} | "
                   f"{_fmt(lat.get('p99_ms'))} |")
    sw = zd["switch_latency"]
    s = zd["switching"]
    out += ["", (f"{zd['points']:,} points, {zd['clients']} clients ({zd['clients_are']}), "
            f"search mode {zd['mode']}, limit {zd['limit']}. {zd['switches']} switches in "
            f"{s['seconds']} s ({s['during_a_switch_call']:,} queries overlapped a switch call); "
            f"update-remote (plan + apply through the service) p50 "
            f"{_fmt(sw['update_remote'].get('p50_ms'), 'ms')}, undo p50 "
            f"{_fmt(sw['undo'].get('p50_ms'), 'ms')}. A query on the new name still running when "
            "the name was removed may legitimately fail; those are counted apart as straddling.")]
    return out


def render(results: dict[str, Any]) -> str:
    """The whole BENCHMARKS.md."""
    m, v = results["machine"], results["versions"]
    quick = results["quick"]
    lines = [
        "# Benchmarks",
        "",
        (f"Generated by `python bench/run_all.py{' --quick' if quick else ''}` on "
        f"{results['date']} ({'quick' if quick else 'full'} run, {results['seconds'] / 60:.0f} "
        "min); do not edit by hand. Figures, not assertions: they come from one shared machine "
        "whose load average is given for every bench."),
        "",
        "## Machine and versions",
        "",
        "| CPU | cores | RAM | OS |",
        "|---|---:|---:|---|",
        f"| {m['cpu']} | {m['cores']} | {m['ram_gib']} GiB | {m['os']} |",
        "",
        "| " + " | ".join(v) + " |",
        "|" + "---|" * len(v),
        "| " + " | ".join(v.values()) + " |",
        "",
        ("Engine: the embedded default, Edge (`qdrant-edge-py`) for the new data directories "
         "the benches make; local mode side by side in \"Engines\" (`bench/bench_engine.py`)."),
        "",
        "## Figures",
        "",
        *_summary(results),
        "",
    ]
    mig = _get(results, "migration")
    if mig:
        lines += ["## Identity migration against collection size", "",
                  ("`update-remote` adds the project's new name as an alias of its physical "
                  "collection. It replaces re-indexing: re-embedding every chunk, or copying "
                  "every point to a collection with the new name."), "",
                  *_migration_details(mig), ""]
    zd = _get(results, "zero_downtime")
    if zd:
        lines += ["## Zero downtime", "", *_zero_details(zd), ""]
    ao = _get(results, "alias_overhead")
    if ao:
        q = ao["query"]
        lines += ["## Alias overhead", "",
                  (f"`query_points` (dense, limit 10) on {ao['points']:,} points, "
                  f"{q['queries']} queries x {q['rounds']} rounds, alias and physical name "
                  f"interleaved: alias p50 {q['alias']['p50_ms']} ms, physical p50 "
                  f"{q['physical']['p50_ms']} ms, ratio {q['ratio_of_medians']} (per round: "
                  f"{', '.join(str(x) for x in q['round_ratios'])}). "
                  "`resolve_collection_name` serves from a cache checked against the registry's "
                  "alias generation; after another process bumps it, the next call reloads the "
                  "alias table."), ""]
    lines += ["## Per bench", "", ("| bench | arguments | seconds | load average before / after "
              "|"), "|---|---|---:|---|"]
    for name, entry in results["benches"].items():
        state = "" if entry.get("ok") else " (FAILED)"
        lines.append(f"| {name}{state} | `{json.dumps(entry['kwargs'])}` | {entry['seconds']} | "
                     f"{entry['loadavg_before']} / {entry['loadavg_after']} |")
    lines += [
        "",
        "## How to reproduce",
        "",
        "```sh",
        ". .venv/bin/activate",
        "python bench/run_all.py          # everything, writes docs/BENCHMARKS.md",
        "python bench/run_all.py --quick  # smaller sizes, no 100,000-point project",
        "python bench/bench_migration.py --sizes 1000,10000 --reps 5   # one bench alone",
        "```",
        "",
        ("Each bench is also a script (`python bench/bench_<name>.py --help`) whose `main()` "
        "returns the figures shown here. Data lives in temporary directories; nothing touches "
        "your own wqm data directory. The reliability suite (assertions, not figures) is "
        "`pytest tests/reliability` (bounded) and `WQM_LONG=1 pytest tests/reliability` (long)."),
        "",
        "<details><summary>Raw figures (JSON)</summary>",
        "",
        "```json",
        json.dumps({k: (e.get("figures") if e.get("ok") else e) for k, e in
                    results["benches"].items()}, indent=1, default=str),
        "```",
        "",
        "</details>",
        "",
    ]
    return "\n".join(lines)


QUALITY_START, QUALITY_END = "<!-- search-quality:start -->", "<!-- search-quality:end -->"
#: Sections written by benches too long to run here (``--write-docs``), carried over as they are.
KEPT_SECTIONS = [(QUALITY_START, QUALITY_END), ("<!-- reindex:start -->", "<!-- reindex:end -->"),
                 ("<!-- engines:start -->", "<!-- engines:end -->"),
                 ("<!-- keep:start -->", "<!-- keep:end -->"),
                 ("<!-- embedding-recipes:start -->", "<!-- embedding-recipes:end -->"),
                 ("<!-- ingest-scale:start -->", "<!-- ingest-scale:end -->")]


def keep_quality_section(document: str, previous: str) -> str:
    """``document`` with the sections other benches own carried over from ``previous``.

    ``bench/bench_quality.py --write-docs`` owns "Search quality" (its run takes
    ~10 minutes), ``bench/bench_reindex.py --write-docs`` "Zero-downtime
    reindex" (tens of minutes), ``bench/bench_engine.py`` the "Engines" figures
    (an hour at 300,000 points) and ``bench/bench_keep_current.py --write-docs``
    "Keeping the index current" (ten minutes of real MCP sessions), so none is
    one of the benches run here; each goes back before "Per bench", where its
    script puts it.
    """
    for start, end in KEPT_SECTIONS:
        if start not in previous or end not in previous:
            continue
        section = start + previous.split(start, 1)[1].split(end, 1)[0]
        head, sep, tail = document.partition("\n## Per bench")
        document = head.rstrip("\n") + "\n\n" + section + end + "\n" + sep + tail
    return document


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the benches (or load saved figures) and write the document; return the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes, no 100k project")
    parser.add_argument("--only", help=f"comma-separated subset of: {', '.join(BENCHES)}")
    parser.add_argument("--output", type=Path, default=ROOT / "docs" / "BENCHMARKS.md")
    parser.add_argument("--save-json", type=Path, help="also keep the raw figures here")
    parser.add_argument("--from-json", type=Path, help="write the document from saved figures")
    args = parser.parse_args(argv)
    if args.from_json:
        results: dict[str, Any] = json.loads(args.from_json.read_text())
    else:
        names = [n.strip() for n in args.only.split(",")] if args.only else list(BENCHES)
        unknown = set(names) - set(BENCHES)
        if unknown:
            parser.error(f"unknown bench(es): {', '.join(sorted(unknown))}")
        started = time.perf_counter()
        results = {"quick": args.quick, "machine": machine(), "versions": versions(),
                   "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), "benches": {}}
        logs = Path(tempfile.mkdtemp(prefix="wqm-bench-logs-"))
        for name in names:
            results["benches"][name] = run_one(name, args.quick, logs)
        results["seconds"] = round(time.perf_counter() - started, 1)
        results["logs"] = str(logs)
    if args.save_json:
        args.save_json.write_text(json.dumps(results, indent=1, default=str))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    previous = args.output.read_text() if args.output.exists() else ""
    args.output.write_text(keep_quality_section(render(results), previous))
    print(f"wrote {args.output}")
    failed = [n for n, e in results["benches"].items() if not e.get("ok")]
    if failed:
        print(f"failed: {', '.join(failed)} (logs in {results.get('logs')})")
    return results


if __name__ == "__main__":
    sys.exit(1 if [n for n, e in main()["benches"].items() if not e.get("ok")] else 0)
