"""MEASUREMENT ONLY: ranking variants (fusion, a symbol signal, per-file caps) on the quality sets.

Indexes each package once with wqm's real ingest (``quality/wqm_adapter.py``),
reads every point back (payload, dense and BM25 vectors) and then scores each
query against all points here, brute force, as Qdrant would: dense cosine, BM25
with Qdrant's IDF modifier (ln(1 + (N - df + 0.5) / (df + 0.5)), unit query
weights). A ranking variant is then a few lines of numpy over those scores, so
dozens of variants cost seconds instead of a ``bench_quality.py`` run each.
The ``today`` variant (RRF k = 2 over a dense and a sparse prefetch of 40)
is what ``ops/search.py`` does on main and reproduces its figures.

Symbol signals are computed here from the payload (``symbol``/``symbols``):
the names split into words (``ingest.syntax.symbol_words``), embedded by
wqm's dense model (cached per text in ``--cache-dir``), or as BM25 terms.

    PYTHONPATH=src python bench/tune_ranking.py [--variants today,rrf-k10,...] [--list]

Every variant is reported on the dev set (attrs, httpx, jinja2) and the check
set (click) with its paired difference to ``today`` (bootstrap 95% CI over
queries) and the queries each side finds alone in its top 10.
"""

from __future__ import annotations

import argparse
import math
import pickle
import sys
import tempfile
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))

from quality import build_devset  # noqa: E402
from quality.metrics import Span, first_hit_rank, paired, summarize  # noqa: E402

LIMIT = 10
CACHE_DIR = Path("/tmp/wqm-tune-ranking")
FloatArray = np.ndarray


# ----------------------------------------------------------------------------- the corpus


@dataclass
class Corpus:
    """Every point of one package's collection, and its queries with their vectors."""

    package: str
    role: str
    ids: list[str]
    payloads: list[dict[str, Any]]
    dense: FloatArray                               # N x 384, unit rows
    postings: dict[int, tuple[FloatArray, FloatArray]]  # term -> (docs, BM25 doc weights)
    queries: list[dict[str, Any]]
    qdense: FloatArray                              # Q x 384
    qsparse: list[list[int]]                        # query terms (indices)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def n(self) -> int:
        return len(self.ids)

    def idf(self, term: int) -> float:
        docs = self.postings.get(term)
        df = 0 if docs is None else len(docs[0])
        return math.log(1 + (self.n - df + 0.5) / (df + 0.5))

    def bm25(self, terms: Sequence[int]) -> FloatArray:
        scores = np.zeros(self.n)
        for t in terms:
            if t in self.postings:
                docs, weights = self.postings[t]
                scores[docs] += self.idf(t) * weights
        return scores

    def span(self, i: int) -> Span:
        p = self.payloads[i]
        return Span(str(p["path"]), int(p["start_line"]), int(p["end_line"]))


def load_corpus(package: str, cache: Path, data_dir: Path) -> Corpus:
    """Ingest ``package`` with wqm (once; the dump is cached) and read all its points."""
    from quality.wqm_adapter import WqmRun

    dump = cache / f"corpus-{package}.pkl"
    if dump.exists():
        with dump.open("rb") as fh:
            corpus: Corpus = pickle.load(fh)
        return corpus
    build_devset.build_package(package, build_devset.CACHE)
    target = build_devset.set_dir(package, build_devset.CACHE)
    repo = target / "repo"
    queries = build_devset.load_queries(target / "queries.jsonl")
    run = WqmRun(data_dir, {})
    try:
        result = run.ingest(repo)
        print(f"[{package}] ingested {result}", file=sys.stderr, flush=True)
        client, name = run.ws.client, run.collections[repo]
        ids: list[str] = []
        payloads: list[dict[str, Any]] = []
        dense_rows: list[list[float]] = []
        sparse_rows: list[tuple[list[int], list[float]]] = []
        offset: Any = None
        while True:
            records, offset = client.scroll(name, limit=1024, offset=offset,
                                            with_payload=True, with_vectors=True)
            for r in records:
                vec = r.vector
                assert isinstance(vec, dict)
                ids.append(str(r.id))
                payloads.append(dict(r.payload or {}))
                dense_rows.append(list(vec["dense"]))  # type: ignore[arg-type]
                sp = vec["bm25"]
                sparse_rows.append((list(sp.indices), list(sp.values)))  # type: ignore[union-attr]
            if offset is None:
                break
        qdense = np.array([run.ws.dense.embed_query(str(q["query"])) for q in queries])
        qsparse = [list(run.ws.sparse.embed_query(str(q["query"])).indices) for q in queries]
    finally:
        run.close()
    dense = np.array(dense_rows, dtype=np.float32)
    dense /= np.linalg.norm(dense, axis=1, keepdims=True)
    pairs: dict[int, list[tuple[int, float]]] = {}
    for i, (indices, values) in enumerate(sparse_rows):
        for t, v in zip(indices, values, strict=True):
            pairs.setdefault(t, []).append((i, v))
    postings = {t: (np.array([i for i, _ in found]), np.array([v for _, v in found]))
                for t, found in pairs.items()}
    corpus = Corpus(package, build_devset.PACKAGES[package][2], ids, payloads, dense, postings,
                    queries, qdense.astype(np.float32), qsparse)
    cache.mkdir(parents=True, exist_ok=True)
    with dump.open("wb") as fh:
        pickle.dump(corpus, fh)
    return corpus


# ----------------------------------------------------------------------------- extra signals


class TextEmbeddings:
    """wqm's dense model over short texts, cached per text on disk."""

    def __init__(self, cache: Path) -> None:
        self.path = cache / "texts.pkl"
        self.known: dict[str, FloatArray] = {}
        if self.path.exists():
            with self.path.open("rb") as fh:
                self.known = pickle.load(fh)
        self._embedder: Any = None

    def __call__(self, texts: Sequence[str]) -> FloatArray:
        missing = sorted({t for t in texts if t not in self.known})
        if missing:
            if self._embedder is None:
                from quality.wqm_adapter import baseline_embed
                self._embedder = baseline_embed()
            for start in range(0, len(missing), 64):
                part = missing[start:start + 64]
                for t, v in zip(part, self._embedder(part), strict=True):
                    self.known[t] = np.asarray(v, dtype=np.float32)
            with self.path.open("wb") as fh:
                pickle.dump(self.known, fh)
        out = np.array([self.known[t] for t in texts], dtype=np.float32)
        return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)


def _words(name: str) -> str:
    from workspace_qdrant_mcp.ingest.syntax import symbol_words
    return symbol_words(name)


#: Texts of the symbol signal, from a chunk's payload ("" = the chunk has no such signal).
SYMBOL_TEXTS: dict[str, Callable[[dict[str, Any]], str]] = {
    # the chunk's own symbol, qualified, as words: "Client.get_user" -> "client get user"
    "qual": lambda p: _words(str(p["symbol"])) if p.get("symbol") else "",
    # only the last part of the name: "get user"
    "last": lambda p: _words(str(p["symbol"]).rsplit(".", 1)[-1]) if p.get("symbol") else "",
    # every symbol the chunk holds, as words, first names first, each word once
    "all": lambda p: " ".join(dict.fromkeys(
        w for s in p.get("symbols") or [] for w in _words(str(s)).split())),
    # the names as written, then as words
    "raw": lambda p: (f"{p['symbol']} {_words(str(p['symbol']))}" if p.get("symbol") else ""),
}


def symbol_dense(corpus: Corpus, embed: TextEmbeddings, kind: str) -> FloatArray:
    """Q x N cosine of each query with each chunk's symbol text (-inf: no symbol)."""
    key = f"symdense-{kind}"
    if key not in corpus.extra:
        texts = [SYMBOL_TEXTS[kind](p) for p in corpus.payloads]
        have = np.array([bool(t) for t in texts])
        vectors = embed([t if t else "-" for t in texts])
        scores = corpus.qdense @ vectors.T
        scores[:, ~have] = -np.inf
        corpus.extra[key] = scores
    result: FloatArray = corpus.extra[key]
    return result


def symbol_sparse(corpus: Corpus, kind: str) -> FloatArray:
    """Q x N BM25 (own IDF, avgdl of these texts) of each query over the chunk's symbol words."""
    from workspace_qdrant_mcp.embed.sparse import SparseEmbedder, token_index, tokenize

    key = f"symsparse-{kind}"
    if key not in corpus.extra:
        texts = [SYMBOL_TEXTS[kind](p) for p in corpus.payloads]
        bags = [Counter(token_index(t) for t in tokenize(x)) for x in texts]
        lengths = np.array([sum(b.values()) for b in bags], dtype=np.float64)
        avg = max(float(lengths[lengths > 0].mean()), 1.0)
        k1, b = 1.2, 0.75
        df: Counter[int] = Counter(t for bag in bags for t in bag)
        n = len(bags)
        scores = np.zeros((len(corpus.queries), n))
        qterms = [[token_index(t) for t in dict.fromkeys(tokenize(str(q["query"])))]
                  for q in corpus.queries]
        for i, bag in enumerate(bags):
            norm = k1 * (1 - b + b * lengths[i] / avg)
            for qi, terms in enumerate(qterms):
                s = 0.0
                for t in terms:
                    tf = bag.get(t, 0)
                    if tf:
                        idf = math.log(1 + (n - df[t] + 0.5) / (df[t] + 0.5))
                        s += idf * tf * (k1 + 1) / (tf + norm)
                scores[qi, i] = s
        _ = SparseEmbedder  # the same tokenizer as wqm's BM25
        corpus.extra[key] = scores
    result: FloatArray = corpus.extra[key]
    return result


def symbol_overlap(corpus: Corpus, kind: str) -> FloatArray:
    """Q x N share of a query's (stemmed) terms found among the chunk's symbol words."""
    from workspace_qdrant_mcp.embed.sparse import tokenize

    key = f"symoverlap-{kind}"
    if key not in corpus.extra:
        texts = [set(tokenize(SYMBOL_TEXTS[kind](p))) for p in corpus.payloads]
        scores = np.zeros((len(corpus.queries), corpus.n))
        for qi, q in enumerate(corpus.queries):
            terms = set(tokenize(str(q["query"])))
            if terms:
                scores[qi] = [len(terms & t) / len(terms) for t in texts]
        corpus.extra[key] = scores
    result: FloatArray = corpus.extra[key]
    return result


# ----------------------------------------------------------------------------- fusion


def top(scores: FloatArray, depth: int, positive: bool = False) -> np.ndarray:
    """Indices of the ``depth`` best scores, best first (Qdrant's prefetch)."""
    order = np.argsort(-scores, kind="stable")
    order = order[np.isfinite(scores[order])]
    if positive:
        order = order[scores[order] > 0]
    return order[:depth]


def rrf(lists: Sequence[np.ndarray], n: int, k: float = 2.0,
        weights: Sequence[float] | None = None) -> FloatArray:
    """Qdrant's weighted RRF: sum of 1 / ((rank) / w + k - 1), rank 1-based."""
    fused = np.zeros(n)
    for j, ranked in enumerate(lists):
        w = 1.0 if weights is None else weights[j]
        if w <= 0 or not len(ranked):
            continue
        fused[ranked] += 1.0 / ((np.arange(len(ranked)) + 1.0) / w + k - 1.0)
    return fused


def dbsf(lists: Sequence[np.ndarray], scores: Sequence[FloatArray], n: int,
         weights: Sequence[float] | None = None) -> FloatArray:
    """Qdrant's distribution-based score fusion: (s - (mu - 3 sd)) / 6 sd per list, summed."""
    fused = np.zeros(n)
    for j, (ranked, s) in enumerate(zip(lists, scores, strict=True)):
        w = 1.0 if weights is None else weights[j]
        if not len(ranked):
            continue
        vals = s[ranked]
        if len(vals) == 1:
            fused[ranked] += 0.5 * w
            continue
        sd = vals.std(ddof=1)
        if sd == 0:
            fused[ranked] += 0.5 * w
            continue
        low = vals.mean() - 3 * sd
        fused[ranked] += w * (vals - low) / (6 * sd)
    return fused


def minmax(lists: Sequence[np.ndarray], scores: Sequence[FloatArray], n: int,
           weights: Sequence[float] | None = None) -> FloatArray:
    """Min-max normalised scores over each prefetch list, weighted and summed."""
    fused = np.zeros(n)
    for j, (ranked, s) in enumerate(zip(lists, scores, strict=True)):
        w = 1.0 if weights is None else weights[j]
        if not len(ranked):
            continue
        vals = s[ranked]
        span = vals.max() - vals.min()
        fused[ranked] += w * ((vals - vals.min()) / span if span > 0 else 1.0)
    return fused


def order_of(fused: FloatArray, pool: np.ndarray) -> np.ndarray:
    """The pool's indices by fused score, best first (ties: first listed first, as Qdrant)."""
    _, first = np.unique(pool, return_index=True)
    pool = pool[np.sort(first)]
    return pool[np.argsort(-fused[pool], kind="stable")]


def cap_per_file(order: np.ndarray, corpus: Corpus, cap: int, limit: int = LIMIT) -> np.ndarray:
    """At most ``cap`` results of one file in the first ``limit``; the rest follow in order."""
    kept, later, count = [], [], Counter[str]()
    for i in order:
        path = corpus.payloads[i]["path"]
        if count[path] < cap and len(kept) < limit:
            kept.append(i)
            count[path] += 1
        else:
            later.append(i)
    return np.array(kept + later, dtype=np.int64)


# ----------------------------------------------------------------------------- variants


@dataclass
class Signals:
    """One query's signals over a corpus."""

    corpus: Corpus
    qi: int
    embed: TextEmbeddings

    @property
    def dense(self) -> FloatArray:
        return np.asarray(self.corpus.dense @ self.corpus.qdense[self.qi])

    @property
    def sparse(self) -> FloatArray:
        return self.corpus.bm25(self.corpus.qsparse[self.qi])

    def symdense(self, kind: str = "qual") -> FloatArray:
        return symbol_dense(self.corpus, self.embed, kind)[self.qi]

    def symsparse(self, kind: str = "all") -> FloatArray:
        return symbol_sparse(self.corpus, kind)[self.qi]

    def overlap(self, kind: str = "all") -> FloatArray:
        return symbol_overlap(self.corpus, kind)[self.qi]


Variant = Callable[[Signals], np.ndarray]


def v_rrf(depth: int = 40, k: float = 2.0, weights: Sequence[float] = (1.0, 1.0),
          sym: str | None = None, sym_weight: float = 1.0, sym_sparse: str | None = None,
          cap: int | None = None) -> Variant:
    def run(s: Signals) -> np.ndarray:
        d, sp = s.dense, s.sparse
        lists = [top(d, depth), top(sp, depth, positive=True)]
        w = list(weights)
        if sym is not None:
            lists.append(top(s.symdense(sym), depth))
            w.append(sym_weight)
        if sym_sparse is not None:
            lists.append(top(s.symsparse(sym_sparse), depth, positive=True))
            w.append(sym_weight)
        fused = rrf(lists, s.corpus.n, k, w)
        order = order_of(fused, np.concatenate(lists))
        return cap_per_file(order, s.corpus, cap) if cap else order
    return run


def v_score(kind: str = "dbsf", depth: int = 40, weights: Sequence[float] = (1.0, 1.0),
            sym: str | None = None, sym_weight: float = 1.0, sym_sparse: str | None = None,
            boost: float = 0.0, boost_kind: str = "all", cap: int | None = None) -> Variant:
    """Score fusion (DBSF or min-max) of dense, sparse and optional symbol prefetches."""
    def run(s: Signals) -> np.ndarray:
        d, sp = s.dense, s.sparse
        scores = [d, sp]
        lists = [top(d, depth), top(sp, depth, positive=True)]
        w = list(weights)
        if sym is not None:
            sd = s.symdense(sym)
            scores.append(sd)
            lists.append(top(sd, depth))
            w.append(sym_weight)
        if sym_sparse is not None:
            ss = s.symsparse(sym_sparse)
            scores.append(ss)
            lists.append(top(ss, depth, positive=True))
            w.append(sym_weight)
        fuse = dbsf if kind == "dbsf" else minmax
        fused = fuse(lists, scores, s.corpus.n, w)
        if boost:
            fused = fused + boost * s.overlap(boost_kind)
        order = order_of(fused, np.concatenate(lists))
        return cap_per_file(order, s.corpus, cap) if cap else order
    return run


def v_single(which: str) -> Variant:
    def run(s: Signals) -> np.ndarray:
        if which == "dense":
            return top(s.dense, LIMIT)
        if which == "sparse":
            return top(s.sparse, LIMIT, positive=True)
        return top(s.symdense(which.split(":", 1)[1]), LIMIT)
    return run


def v_combo(depth: int, sym_kind: str, a: float, b: float, c: float,
            boost: float = 0.0, cap: int | None = None) -> Variant:
    """A weighted sum of raw signals over the union of the prefetches: a*dense + b*sparse/max
    + c*symbol; no per-list statistics."""
    def run(s: Signals) -> np.ndarray:
        d, sp, sy = s.dense, s.sparse, s.symdense(sym_kind)
        lists = [top(d, depth), top(sp, depth, positive=True), top(sy, depth)]
        pool = np.unique(np.concatenate(lists))
        spmax = sp[pool].max() if len(pool) else 0.0
        fused = np.zeros(s.corpus.n)
        fused[pool] = a * d[pool] + (b * sp[pool] / spmax if spmax > 0 else 0.0) + c * np.where(
            np.isfinite(sy[pool]), sy[pool], 0.0)
        if boost:
            fused = fused + boost * s.overlap()
        order = order_of(fused, pool)
        return cap_per_file(order, s.corpus, cap) if cap else order
    return run


def variants() -> dict[str, Variant]:
    out: dict[str, Variant] = {
        "today": v_rrf(),
        "dense-only": v_single("dense"),
        "sparse-only": v_single("sparse"),
        "sym-only:qual": v_single("sym:qual"),
    }
    for k in (1, 5, 10, 20, 60):
        out[f"rrf-k{k}"] = v_rrf(k=k)
    for depth in (10, 20, 80, 200):
        out[f"rrf-d{depth}"] = v_rrf(depth=depth)
    for w in (1.5, 2.0, 3.0):
        out[f"rrf-w{w}"] = v_rrf(weights=(w, 1.0))
        out[f"rrf-k10-w{w}"] = v_rrf(k=10, weights=(w, 1.0))
    for depth in (20, 40, 100):
        out[f"dbsf-d{depth}"] = v_score("dbsf", depth)
        out[f"minmax-d{depth}"] = v_score("minmax", depth)
    for w in (0.5, 0.75, 1.5, 2.0):
        out[f"dbsf-ws{w}"] = v_score("dbsf", weights=(1.0, w))
    for kind in SYMBOL_TEXTS:
        out[f"rrf+sym:{kind}"] = v_rrf(sym=kind)
        out[f"dbsf+sym:{kind}"] = v_score("dbsf", sym=kind)
        out[f"minmax+sym:{kind}"] = v_score("minmax", sym=kind)
    for kind in ("qual", "all"):
        out[f"rrf+symsparse:{kind}"] = v_rrf(sym_sparse=kind)
        out[f"dbsf+symsparse:{kind}"] = v_score("dbsf", sym_sparse=kind)
    for boost in (0.1, 0.2, 0.4):
        out[f"dbsf+boost{boost}"] = v_score("dbsf", boost=boost)
    for cap in (1, 2, 3):
        out[f"today-cap{cap}"] = v_rrf(cap=cap)
        out[f"dbsf-cap{cap}"] = v_score("dbsf", cap=cap)
    return out


# ----------------------------------------------------------------------------- report


def evaluate(corpora: Sequence[Corpus], variant: Variant,
             embed: TextEmbeddings) -> dict[str, dict[str, Any]]:
    """id -> {rank, lines, set} of every query."""
    out: dict[str, dict[str, Any]] = {}
    for corpus in corpora:
        for qi, q in enumerate(corpus.queries):
            order = variant(Signals(corpus, qi, embed))[:LIMIT]
            found = [corpus.span(int(i)) for i in order]
            targets = [Span(str(t["path"]), int(t["start_line"]), int(t["end_line"]))
                       for t in q["targets"]]
            out[str(q["id"])] = {"rank": first_hit_rank(found, targets), "set": corpus.role,
                                 "lines": sum(s.lines for s in found) / len(found) if found
                                 else None}
    return out


def row(name: str, res: dict[str, dict[str, Any]], base: dict[str, dict[str, Any]],
        scope: str) -> str:
    ids = [i for i, r in res.items() if r["set"] == scope]
    s = summarize([res[i]["rank"] for i in ids], [res[i]["lines"] for i in ids])
    p = paired({i: base[i]["rank"] for i in ids}, {i: res[i]["rank"] for i in ids})
    return (f"| {name} | {scope} | {s['n']} | {s['hit@1']:.3f} | {s['hit@5']:.3f} | "
            f"{s['hit@10']:.3f} | **{s['mrr@10']:.3f}** | {s['mean_lines']:.1f} | "
            f"{p['diff']:+.3f} [{p['ci95'][0]:+.3f}, {p['ci95'][1]:+.3f}] | "
            f"{p['b_only']} / {p['a_only']} |")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variants", help="comma-separated names (default: all)")
    parser.add_argument("--base", default="today", help="the variant others are paired with")
    parser.add_argument("--packages", default=",".join(build_devset.PACKAGES))
    parser.add_argument("--cache-dir", type=Path, default=CACHE_DIR)
    parser.add_argument("--list", action="store_true")
    args = parser.parse_args(argv)
    table = variants()
    if args.list:
        print("\n".join(table))
        return
    names = args.variants.split(",") if args.variants else list(table)
    args.cache_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="wqm-tune-ranking-") as tmp:
        corpora = [load_corpus(p, args.cache_dir, Path(tmp) / "data")
                   for p in args.packages.split(",")]
    embed = TextEmbeddings(args.cache_dir)
    base = evaluate(corpora, table[args.base], embed)
    print("| variant | set | queries | hit@1 | hit@5 | hit@10 | MRR@10 | mean lines | "
          f"- {args.base} [95% CI] | alone: variant / {args.base} |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---|---|")
    for name in names:
        res = evaluate(corpora, table[name], embed)
        for scope in ("dev", "check"):
            if any(r["set"] == scope for r in res.values()):
                print(row(name, res, base, scope), flush=True)


if __name__ == "__main__":
    main()
