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

from quality import build_devset
from quality.metrics import Span, first_hit_rank, paired, summarize

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
    # the name as written, its kind, then as words
    "rawkind": lambda p: (f"{p.get('kind')} {p['symbol']} {_words(str(p['symbol']))}"
                          if p.get("symbol") else ""),
    # the last part as written, then the whole as words
    "rawlast": lambda p: (f"{str(p['symbol']).rsplit('.', 1)[-1]} {_words(str(p['symbol']))}"
                          if p.get("symbol") else ""),
    # every name as written, then their words (what the header holds, without the path)
    "rawall": lambda p: (" ".join(p.get("symbols") or []) + " " + " ".join(dict.fromkeys(
        w for s in p.get("symbols") or [] for w in _words(str(s)).split()))
        if p.get("symbols") else ""),
    # the name as written, then the words of its signature line (parameter names too)
    "sig": lambda p: _signature(p),
    "sig-raw": lambda p: _signature(p, words=False),
    "sig-nowords": lambda p: _signature(p, name_words=False),
    "sig2": lambda p: _signature(p, lines=2),
    "sig3": lambda p: _signature(p, lines=3),
    "sig-until": lambda p: _sig_until(p),
    # what wqm embeds (ingest/symbols.py:symbol_text)
    "product": lambda p: _product_text(p),
    "product-120": lambda p: _product_text(p, 120),
    "product-200": lambda p: _product_text(p, 200),
    "sig-until-raw": lambda p: _sig_until(p, words=False),
    "sig-until-raw-nw": lambda p: _sig_until(p, words=False, name_words=False),
    "sig-until-nw": lambda p: _sig_until(p, name_words=False),
    # the header as stored (path, names, words)
    "header": lambda p: str(p.get("context") or ""),
}

def _signature(p: dict[str, Any], lines: int = 1, words: bool = True, name_words: bool = True,
               max_chars: int = 400) -> str:
    """The symbol, its words, then the definition's first ``lines`` lines (from the line naming
    it), as words or as written."""
    if not p.get("symbol"):
        return ""
    name = str(p["symbol"])
    last = name.rsplit(".", 1)[-1].rsplit(" > ", 1)[-1]
    head = f"{name} {_words(name)}" if name_words else name
    content = str(p["content"]).splitlines()
    for i, line in enumerate(content):
        if last in line:
            sig = " ".join(x.strip() for x in content[i:i + lines])[:max_chars]
            return f"{head} {_as_words(sig) if words else sig}"
    return head


def _product_text(p: dict[str, Any], chars: int | None = None) -> str:
    from workspace_qdrant_mcp.ingest import symbols

    if not p.get("symbol"):
        return ""
    saved = symbols.MAX_SIGNATURE_CHARS
    try:
        if chars is not None:
            symbols.MAX_SIGNATURE_CHARS = chars
        return symbols.symbol_text(str(p["symbol"]), str(p["content"]))
    finally:
        symbols.MAX_SIGNATURE_CHARS = saved


def _sig_until(p: dict[str, Any], words: bool = True, name_words: bool = True) -> str:
    """Like ``sig`` but the whole signature: lines up to one ending the header (``:``/``{``)."""
    if not p.get("symbol"):
        return ""
    content = str(p["content"]).splitlines()
    name = str(p["symbol"])
    last = name.rsplit(".", 1)[-1]
    for i, line in enumerate(content):
        if last in line:
            j = i
            while j < min(len(content) - 1, i + 8) and not content[j].rstrip().endswith(
                    (":", "{", ";")):
                j += 1
            sig = " ".join(x.strip() for x in content[i:j + 1])[:400]
            head = f"{name} {_words(name)}" if name_words else name
            return f"{head} {_as_words(sig) if words else sig}"
    return f"{name} {_words(name)}"


_IDENT = __import__("re").compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _as_words(text: str) -> str:
    """Code with every identifier as lower-case words, other characters kept."""
    return _IDENT.sub(lambda m: _words(m.group()) or m.group(), text)


#: Alternative texts for a chunk's main dense vector.
CHUNK_TEXTS: dict[str, Callable[[dict[str, Any]], str]] = {
    "stored": lambda p: f"{p.get('context') or p['path']}\n{p['content']}",
    "content": lambda p: str(p["content"]),
    "words": lambda p: _as_words(f"{p.get('context') or p['path']}\n{p['content']}"),
    "hdr-names": lambda p: "\n".join(str(p.get("context") or p["path"]).split("\n")[:2])
    + "\n" + str(p["content"]),
    "hdr-words-first": lambda p: _words_first(str(p.get("context") or p["path"]))
    + "\n" + str(p["content"]),
}


def _words_first(header: str) -> str:
    parts = header.split("\n")
    return "\n".join(parts[2:] + parts[:2])


def chunk_dense(corpus: Corpus, embed: TextEmbeddings, kind: str) -> FloatArray:
    """Q x N cosine of each query with each chunk embedded from another text."""
    key = f"chunkdense-{kind}"
    if key not in corpus.extra:
        texts = [CHUNK_TEXTS[kind](p) for p in corpus.payloads]
        corpus.extra[key] = corpus.qdense @ embed(texts).T
    result: FloatArray = corpus.extra[key]
    return result


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
    chunk_text: str | None = None
    query_stopwords: frozenset[str] = frozenset()

    @property
    def dense(self) -> FloatArray:
        if self.chunk_text is not None:
            return chunk_dense(self.corpus, self.embed, self.chunk_text)[self.qi]
        return np.asarray(self.corpus.dense @ self.corpus.qdense[self.qi])

    @property
    def sparse(self) -> FloatArray:
        if self.query_stopwords:
            from workspace_qdrant_mcp.embed.sparse import token_index, tokenize
            terms = [token_index(t) for t in dict.fromkeys(
                tokenize(str(self.corpus.queries[self.qi]["query"])))
                if t not in self.query_stopwords]
            return self.corpus.bm25(terms)
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


def with_text(kind: str, variant: Variant) -> Variant:
    """``variant`` with the chunks' main dense vector embedded from another text."""
    import dataclasses

    return lambda s: variant(dataclasses.replace(s, chunk_text=kind))


def v_fuse(kind: str = "dbsf", depth: int = 40, wd: float = 1.0, ws: float = 1.0,
           sym: str | None = None, wy: float = 1.0, symsparse: str | None = None,
           wz: float = 1.0, file_prior: float = 0.0, rrf_k: float = 2.0,
           tie: bool = False) -> Variant:
    """General fusion of dense, sparse and optional symbol lists (dense/BM25 prefetches of
    ``depth``). ``file_prior`` adds that share of the best other chunk's fused score in the
    same file; ``tie`` breaks RRF ties by dense score."""
    def run(s: Signals) -> np.ndarray:
        scores = [s.dense, s.sparse]
        lists = [top(scores[0], depth), top(scores[1], depth, positive=True)]
        w = [wd, ws]
        if sym is not None:
            scores.append(s.symdense(sym))
            lists.append(top(scores[-1], depth))
            w.append(wy)
        if symsparse is not None:
            scores.append(s.symsparse(symsparse))
            lists.append(top(scores[-1], depth, positive=True))
            w.append(wz)
        n = s.corpus.n
        if kind == "rrf":
            fused = rrf(lists, n, rrf_k, w)
        elif kind == "dbsf":
            fused = dbsf(lists, scores, n, w)
        else:
            fused = minmax(lists, scores, n, w)
        pool = np.concatenate(lists)
        if tie:
            fused = fused + 1e-6 * np.where(np.isfinite(scores[0]), scores[0], 0)
        if file_prior:
            uniq = np.unique(pool)
            best: dict[str, list[float]] = {}
            for i in uniq:
                best.setdefault(s.corpus.payloads[i]["path"], []).append(float(fused[i]))
            extra = np.zeros(n)
            for i in uniq:
                vals = sorted(best[s.corpus.payloads[i]["path"]], reverse=True)
                # the best score of another chunk of the same file
                other = vals[1] if vals and vals[0] == fused[i] and len(vals) > 1 else (
                    vals[0] if vals[0] != fused[i] else 0.0)
                extra[i] = other
            fused = fused + file_prior * extra
        return order_of(fused, pool)
    return run


def cap_symbol(variant: Variant, cap: int) -> Variant:
    """At most ``cap`` chunks of one (path, symbol) in the top 10; the rest follow."""
    def run(s: Signals) -> np.ndarray:
        order = variant(s)
        kept, later, count = [], [], Counter[tuple[str, str]]()
        for i in order:
            p = s.corpus.payloads[i]
            key = (str(p["path"]), str(p.get("symbol") or f"#{i}"))
            if count[key] < cap and len(kept) < LIMIT:
                kept.append(i)
                count[key] += 1
            else:
                later.append(i)
        return np.array(kept + later, dtype=np.int64)
    return run


def v_mixed(lam: float, sym: str = "raw", k: float = 2.0) -> Variant:
    """DBSF of three lists plus ``lam`` x their RRF."""
    def run(s: Signals) -> np.ndarray:
        scores = [s.dense, s.sparse, s.symdense(sym)]
        lists = [top(scores[0], 40), top(scores[1], 40, positive=True), top(scores[2], 40)]
        fused = dbsf(lists, scores, s.corpus.n) + lam * rrf(lists, s.corpus.n, k)
        return order_of(fused, np.concatenate(lists))
    return run


def round3() -> dict[str, Variant]:
    out: dict[str, Variant] = {}
    out["dbsf+sym:sig"] = v_fuse(sym="sig")
    out["minmax+sym:sig"] = v_fuse("minmax", sym="sig")
    for cap in (1, 2):
        out[f"dbsf+sym:raw-symcap{cap}"] = cap_symbol(v_fuse(sym="raw"), cap)
        out[f"today-symcap{cap}"] = cap_symbol(v_rrf(), cap)
    for lam in (1.0, 3.0, 10.0):
        out[f"mixed{lam}"] = v_mixed(lam)
    for kind in ("dbsf", "minmax"):
        for sym in ("raw", "rawlast", "rawall"):
            for ws in (0.75, 1.0):
                for wy in (0.75, 1.0):
                    out[f"grid:{kind}+{sym}-ws{ws}-wy{wy}"] = v_fuse(kind, sym=sym, ws=ws, wy=wy)
    return out


def round4() -> dict[str, Variant]:
    out: dict[str, Variant] = {"dbsf+sym:raw": v_fuse(sym="raw")}
    for sym in ("sig", "sig-raw", "sig-nowords", "sig2", "sig3", "sig-until"):
        out[f"dbsf+sym:{sym}"] = v_fuse(sym=sym)
        out[f"minmax+sym:{sym}"] = v_fuse("minmax", sym=sym)
        out[f"rrf+sym:{sym}"] = v_fuse("rrf", sym=sym)
        out[f"sym-only:{sym}"] = v_single(f"sym:{sym}")
    return out


#: Words of how people describe code that say nothing about which code (stemmed forms).
QUERY_STOPWORDS = frozenset({"return", "get", "given", "specifi", "function", "method", "object",
                             "valu", "instanc", "new", "us", "call", "otherwis", "tru", "fals",
                             "non", "pass", "argument", "parameter", "class"})


def with_query_stopwords(variant: Variant) -> Variant:
    import dataclasses

    return lambda s: variant(dataclasses.replace(s, query_stopwords=QUERY_STOPWORDS))


def round5() -> dict[str, Variant]:
    win = "sig-until"
    out: dict[str, Variant] = {f"dbsf+sym:{win}": v_fuse(sym=win)}
    for depth in (20, 100):
        out[f"dbsf+sym:{win}-d{depth}"] = v_fuse(sym=win, depth=depth)
    out[f"dbsf+sym:{win}-ws0.75"] = v_fuse(sym=win, ws=0.75)
    out[f"dbsf+sym:{win}-wy0.75"] = v_fuse(sym=win, wy=0.75)
    out[f"dbsf+sym:{win}-symcap1"] = cap_symbol(v_fuse(sym=win), 1)
    out[f"dbsf+sym:{win}-qstop"] = with_query_stopwords(v_fuse(sym=win))
    out["today-qstop"] = with_query_stopwords(v_rrf())
    out[f"dbsf+sym:{win}-file0.1"] = v_fuse(sym=win, file_prior=0.1)
    out[f"dbsf+sym:{win}+symsparse:all-wz0.5"] = v_fuse(sym=win, symsparse="all", wz=0.5)
    return out


def round6() -> dict[str, Variant]:
    out: dict[str, Variant] = {}
    for sym in ("sig-until", "sig-until-raw", "sig-until-raw-nw", "sig-until-nw"):
        out[f"dbsf+sym:{sym}"] = v_fuse(sym=sym)
    out["dbsf+sym:product"] = v_fuse(sym="product")
    out["dbsf+sym:product-120"] = v_fuse(sym="product-120")
    out["dbsf+sym:product-200"] = v_fuse(sym="product-200")
    out["dbsf+sym:sig-until-symcap1"] = cap_symbol(v_fuse(sym="sig-until"), 1)
    out["dbsf+sym:sig-until-symcap2"] = cap_symbol(v_fuse(sym="sig-until"), 2)
    return out


def round2() -> dict[str, Variant]:
    out: dict[str, Variant] = {}
    for kind in ("raw", "rawkind", "rawlast", "rawall", "header"):
        out[f"dbsf+sym:{kind}"] = v_fuse(sym=kind)
    for wy in (0.5, 0.75, 1.5):
        out[f"dbsf+sym:raw-wy{wy}"] = v_fuse(sym="raw", wy=wy)
    for ws in (0.5, 0.75):
        out[f"dbsf+sym:raw-ws{ws}"] = v_fuse(sym="raw", ws=ws)
    for depth in (20, 100):
        out[f"dbsf+sym:raw-d{depth}"] = v_fuse(sym="raw", depth=depth)
    out["dbsf+sym:raw+symsparse:all"] = v_fuse(sym="raw", symsparse="all")
    out["dbsf+sym:raw+symsparse:all-wz0.5"] = v_fuse(sym="raw", symsparse="all", wz=0.5)
    for fp in (0.1, 0.25, 0.5):
        out[f"dbsf+sym:raw-file{fp}"] = v_fuse(sym="raw", file_prior=fp)
    out["rrf-tie"] = v_fuse("rrf", tie=True)
    out["rrf+sym:raw-tie"] = v_fuse("rrf", sym="raw", tie=True)
    out["rrf+sym:raw-wd2"] = v_fuse("rrf", sym="raw", wd=2.0)
    out["rrf-k5+sym:raw-wd2"] = v_fuse("rrf", sym="raw", wd=2.0, rrf_k=5)
    for text in CHUNK_TEXTS:
        out[f"dense-only@{text}"] = with_text(text, v_single("dense"))
        out[f"dbsf@{text}"] = with_text(text, v_fuse())
        out[f"dbsf+sym:raw@{text}"] = with_text(text, v_fuse(sym="raw"))
    return out


def variants() -> dict[str, Variant]:
    return {**round1(), **round2(), **round3(), **round4(), **round5(), **round6()}


def round1() -> dict[str, Variant]:
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
    parser.add_argument("--misses", metavar="VARIANT", help="show a sample of its dev misses")
    args = parser.parse_args(argv)
    if args.misses:
        misses(args.misses)
        return
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




def misses(name: str, count: int = 25, seed: int = 1) -> None:
    """Print a sample of the dev queries ``name`` misses: target, its deep rank, the top 3."""
    import random

    with tempfile.TemporaryDirectory(prefix="wqm-tune-ranking-") as tmp:
        corpora = [load_corpus(p, CACHE_DIR, Path(tmp) / "data") for p in build_devset.DEV_PACKAGES]
    embed = TextEmbeddings(CACHE_DIR)
    variant = variants()[name]
    rows = []
    for corpus in corpora:
        for qi, q in enumerate(corpus.queries):
            order = variant(Signals(corpus, qi, embed))
            targets = [Span(str(t["path"]), int(t["start_line"]), int(t["end_line"]))
                       for t in q["targets"]]
            found = [corpus.span(int(i)) for i in order]
            rank = first_hit_rank(found, targets)
            if rank is None or rank > 10:
                tops = [f"{corpus.payloads[i].get('symbol')} ({corpus.payloads[i]['path']}:"
                        f"{corpus.payloads[i]['start_line']}-{corpus.payloads[i]['end_line']})"
                        for i in order[:3]]
                hit = [i for i in range(corpus.n) if any(
                    corpus.span(i).path == t.path and corpus.span(i).start_line <= t.end_line
                    and t.start_line <= corpus.span(i).end_line for t in targets)]
                tsyms = [f"{corpus.payloads[i].get('symbol')} [{corpus.payloads[i]['kind']}, "
                         f"{corpus.span(i).lines} lines]" for i in hit]
                rows.append(f"- {q['query']!r}\n  target {q['targets'][0]['qualname']} "
                            f"({q['targets'][0]['path']}) in chunks {tsyms}; rank {rank}\n"
                            f"  top: {tops}")
    print(f"{len(rows)} misses")
    for r in random.Random(seed).sample(rows, min(count, len(rows))):
        print(r)


if __name__ == "__main__":
    main()
