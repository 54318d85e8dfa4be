"""MEASUREMENT ONLY: BM25 tokenizer, BM25 and chunker variants on the quality dev set, offline.

Mirrors wqm's search without a store, so a variant costs seconds instead of a
full ``bench_quality.py`` run: SparseEmbedder's BM25 document weights, Qdrant's
IDF modifier (ln(1 + (N - df + 0.5) / (df + 0.5))), unit query weights; dense
cosine with wqm's DenseEmbedder (vectors cached per text in --dense-cache);
hybrid = RRF with qdrant-client's constant over prefetches of depth 50. On the
dev set it reproduces bench_quality's wqm figures for the line chunker (sparse
hit@1/5/10 0.21/0.48/0.59, MRR 0.32) and the syntax chunker (hybrid MRR 0.472
vs 0.473). Needs the sets built by bench/quality/build_devset.py (branch
quality-bench) under --cache; the tokenizer variants re-implement the old list
(``OLD``) so the comparison runs on any version of sparse.py.

    PYTHONPATH=src python bench/tune_sparse.py --cache /tmp/qb/cache [--table tokenizer|bm25|chunker]
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np
from qdrant_client.hybrid.fusion import DEFAULT_RANKING_CONSTANT_K as RRF_K

from workspace_qdrant_mcp.embed.sparse import _IDENTIFIER, _SEPARATORS, _split_case
from workspace_qdrant_mcp.ingest.chunker import chunk_text
from workspace_qdrant_mcp.ingest.syntax import chunk_file

CACHE = Path("/tmp/qb/cache")
PACKAGES = ["attrs", "httpx", "jinja2"]
DENSE_CACHE = Path("/tmp/wqm-tune-dense.npz")
LIMIT = 10
DEPTH = 50

ENGLISH = frozenset(["a", "about", "above", "after", "again", "against", "all", "am", "an", "and", "any", "are", "as", "at", "be", "because", "been", "before", "being", "below", "between", "both", "but", "by", "can", "could", "did", "do", "does", "doing", "down", "during", "each", "few", "for", "from", "further", "had", "has", "have", "having", "he", "her", "here", "hers", "herself", "him", "himself", "his", "how", "i", "if", "in", "into", "is", "it", "its", "itself", "just", "me", "more", "most", "my", "myself", "no", "nor", "not", "now", "of", "off", "on", "once", "only", "or", "other", "our", "ours", "ourselves", "out", "over", "own", "same", "she", "should", "so", "some", "such", "than", "that", "the", "their", "theirs", "them", "themselves", "then", "there", "these", "they", "this", "those", "through", "to", "too", "under", "until", "up", "very", "was", "we", "were", "what", "when", "where", "which", "while", "who", "whom", "why", "will", "with", "would", "you", "your", "yours", "yourself", "yourselves"])
#: sparse.py's list before bm25-2.
TODAY = OLD = frozenset(["a", "an", "and", "are", "as", "at", "be", "been", "being", "but", "by", "can", "could", "did", "do", "does", "doing", "for", "from", "had", "has", "have", "having", "he", "her", "hers", "him", "his", "how", "i", "if", "in", "into", "is", "it", "its", "itself", "me", "my", "no", "nor", "not", "of", "on", "or", "our", "ours", "she", "so", "such", "than", "that", "the", "their", "theirs", "them", "then", "there", "these", "they", "this", "those", "to", "too", "us", "was", "we", "were", "what", "when", "where", "which", "while", "who", "whom", "why", "will", "with", "would", "you", "your", "yours"])
CODE = frozenset({"self", "cls", "def", "return", "returns", "none", "null", "nil", "true", "false",
                  "import", "elif", "else", "let", "var", "const", "pass", "lambda", "args", "kwargs"})


# ----------------------------------------------------------------------------- stemmers tried

_SINGULAR_AS = frozenset({"alias", "bias", "canvas", "atlas", "pandas", "gas", "whereas", "texas", "christmas"})
_VOWEL = re.compile(r"[aeiouy]")
_UNDOUBLE = frozenset("bdgmnprt")
_KEEP = frozenset({"embed", "hundred", "shred", "sled", "bred", "kindred", "sacred", "naked", "wicked", "bring", "string", "spring", "thing", "nothing", "something", "anything", "everything", "during", "ceiling", "evening", "morning"})


def plural(w: str) -> str:
    if len(w) < 3 or not w.isascii() or not w.isalpha() or not w.endswith("s"):
        return w
    if w.endswith("ies") and len(w) > 4:
        return w[:-3] + "i"
    if w.endswith("sses"):
        return w[:-2]
    if w.endswith("es") and (w[-3] in "sxz" or w.endswith(("ches", "shes"))):
        return w[:-2]
    if w.endswith(("ss", "us", "is")) or w in _SINGULAR_AS:
        return w
    return w[:-1]


def _undouble(stem: str) -> str:
    if len(stem) >= 4 and stem[-1] == stem[-2] and stem[-1] in _UNDOUBLE:
        return stem[:-1]
    return stem


def light(w: str) -> str:
    if len(w) < 3 or not w.isascii() or not w.isalpha():
        return w
    w = plural(w)
    if w in _KEEP:
        return w
    if w.endswith("ed") and not w.endswith("eed"):
        stem = w[:-2]
        if len(stem) >= 2 and _VOWEL.search(stem):
            w = _undouble(stem)
    elif w.endswith("ing"):
        stem = w[:-3]
        if len(stem) >= 2 and _VOWEL.search(stem):
            w = _undouble(stem)
    if w.endswith("y") and len(w) > 2 and w[-2] not in "aeiou":
        w = w[:-1] + "i"
    if w.endswith("e") and len(w) >= 3:
        w = w[:-1]
    return w


def plural_e(w: str) -> str:
    """Plural stripping plus the final-e and y rules (no -ed/-ing)."""
    if len(w) < 3 or not w.isascii() or not w.isalpha():
        return w
    w = plural(w)
    if w.endswith("y") and len(w) > 2 and w[-2] not in "aeiou":
        w = w[:-1] + "i"
    if w.endswith("e") and len(w) >= 3:
        w = w[:-1]
    return w



def load(pkg: str):
    d = CACHE / "devset" / pkg
    repo = d / "repo"
    files = {p.relative_to(repo).as_posix(): p.read_text(encoding="utf-8")
             for p in sorted(repo.rglob("*")) if p.is_file() and ".git" not in p.parts}
    queries = [json.loads(l) for l in (d / "queries.jsonl").read_text().splitlines() if l.strip()]
    return files, queries


HEADER = None  # None: the chunk's header; else a function (path, chunk) -> header


def chunks_of(files, chunker: str, **kw):
    out = []  # (path, start, end, text)
    for path, text in files.items():
        if chunker == "syntax":
            for c in chunk_file(path, text, **kw):
                head = c.header if HEADER is None else HEADER(path, c)
                out.append((path, c.start_line, c.end_line, f"{head}\n{c.content}"))
        else:
            for c in chunk_text(text):
                out.append((path, c.start_line, c.end_line, f"{path}\n{c.content}"))
    return out


def make_tokenizer(stop: frozenset[str], stem: Callable[[str], str] | None, stem_whole=False):
    def keep(t):
        return 1 < len(t) <= 64 and t not in stop

    def tokenize(text: str) -> list[str]:
        tokens = []
        for m in _IDENTIFIER.finditer(text):
            parts = [p for chunk in _SEPARATORS.split(m.group()) for p in _split_case(chunk)]
            lowered = [p.lower() for p in parts]
            for p in lowered:
                if keep(p):
                    tokens.append(stem(p) if stem else p)
            if len(lowered) > 1:
                whole = "".join(lowered)
                if keep(whole):
                    tokens.append(stem(whole) if (stem and stem_whole) else whole)
        return tokens
    return tokenize


def bm25(docs_tokens, k1=1.2, b=0.75, avgdl=256.0):
    vecs = []
    df = Counter()
    for toks in docs_tokens:
        tf = Counter(toks)
        norm = k1 * (1 - b + b * len(toks) / avgdl)
        vecs.append({t: f * (k1 + 1) / (f + norm) for t, f in tf.items()})
        df.update(tf.keys())
    n = len(docs_tokens)
    idf = {t: math.log((n - c + 0.5) / (c + 0.5) + 1) for t, c in df.items()}
    return vecs, idf


def sparse_rank(qtoks, vecs, idf):
    terms = list(dict.fromkeys(qtoks))
    scores = np.zeros(len(vecs))
    for i, v in enumerate(vecs):
        s = 0.0
        for t in terms:
            w = v.get(t)
            if w:
                s += w * idf[t]
        scores[i] = s
    order = np.argsort(-scores, kind="stable")
    return [int(i) for i in order if scores[i] > 0]


_dense_store: dict[str, np.ndarray] = {}
_embedder = None


def dense_vectors(texts):
    global _embedder
    if not _dense_store and DENSE_CACHE.exists():
        z = np.load(DENSE_CACHE)
        _dense_store.update({k: z[k] for k in z.files})
    keys = [hashlib.sha1(t.encode()).hexdigest() for t in texts]
    missing = [t for t, k in zip(texts, keys) if k not in _dense_store]
    if missing:
        if _embedder is None:
            from workspace_qdrant_mcp.embed import DenseEmbedder
            _embedder = DenseEmbedder(backend="onnx", cache_dir=DENSE_CACHE.parent / "wqm-tune-onnx")
        uniq = list(dict.fromkeys(missing))
        vecs = _embedder.embed(uniq)
        for t, v in zip(uniq, vecs):
            _dense_store[hashlib.sha1(t.encode()).hexdigest()] = np.asarray(v, dtype=np.float32)
        np.savez(DENSE_CACHE, **_dense_store)
    return np.stack([_dense_store[k] for k in keys])


def hit(span, targets):
    p, s, e = span
    return any(t["path"] == p and s <= t["end_line"] and t["start_line"] <= e for t in targets)


def metrics(ranks):
    n = len(ranks)
    return {"hit@1": sum(r == 1 for r in ranks) / n, "hit@5": sum(bool(r and r <= 5) for r in ranks) / n,
            "hit@10": sum(bool(r and r <= 10) for r in ranks) / n,
            "mrr@10": sum(1 / r for r in ranks if r and r <= 10) / n}


def evaluate(chunker: str, tokenize, chunk_kw=None, modes=("sparse", "hybrid"), per_query=False):
    ranks = {m: [] for m in modes}
    lines = {m: [] for m in modes}
    for pkg in PACKAGES:
        files, queries = load(pkg)
        chunks = chunks_of(files, chunker, **(chunk_kw or {}))
        spans = [(p, s, e) for p, s, e, _ in chunks]
        vecs, idf = bm25([tokenize(t) for *_, t in chunks])
        dv = dense_vectors([t for *_, t in chunks]) if "hybrid" in modes or "dense" in modes else None
        qv = dense_vectors([q["query"] for q in queries]) if dv is not None else None
        for qi, q in enumerate(queries):
            sp = sparse_rank(tokenize(q["query"]), vecs, idf)
            results = {}
            if "sparse" in modes:
                results["sparse"] = sp[:LIMIT]
            if dv is not None:
                ds = dv @ qv[qi]
                dn = [int(i) for i in np.argsort(-ds, kind="stable")]
                if "dense" in modes:
                    results["dense"] = dn[:LIMIT]
                if "hybrid" in modes:
                    fused: dict[int, float] = {}
                    for lst in (dn[:DEPTH], sp[:DEPTH]):
                        for pos, i in enumerate(lst):
                            fused[i] = fused.get(i, 0.0) + 1 / (pos + RRF_K)
                    results["hybrid"] = sorted(fused, key=lambda i: -fused[i])[:LIMIT]
            for m in modes:
                found = results[m]
                r = next((k + 1 for k, i in enumerate(found) if hit(spans[i], q["targets"])), None)
                ranks[m].append(r)
                if found:
                    lines[m].append(sum(spans[i][2] - spans[i][1] + 1 for i in found) / len(found))
    out = {m: {**{k: round(v, 3) for k, v in metrics(ranks[m]).items()},
               "lines": round(sum(lines[m]) / len(lines[m]), 1)} for m in modes}
    if per_query:
        return out, ranks
    return out


def _with_bm25(k1: float, b: float, avgdl: float):
    global bm25
    bm25 = lambda docs, _f=_bm25: _f(docs, k1, b, avgdl)


_bm25 = bm25


def main() -> None:
    import argparse

    global CACHE, DENSE_CACHE, HEADER
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, default=CACHE)
    parser.add_argument("--dense-cache", type=Path, default=DENSE_CACHE)
    parser.add_argument("--table", default="tokenizer", choices=["tokenizer", "bm25", "chunker"])
    args = parser.parse_args()
    CACHE, DENSE_CACHE = args.cache, args.dense_cache
    modes = ("sparse", "dense", "hybrid")
    rows = []
    if args.table == "tokenizer":
        for name, stop, stemmer, avgdl in [
            ("old list, no stem, avgdl 256", OLD, None, 256),
            ("english, no stem, avgdl 256", ENGLISH | OLD, None, 256),
            ("english+code keywords, avgdl 256", ENGLISH | OLD | CODE, None, 256),
            ("english, light stem, avgdl 256", ENGLISH | OLD, light, 256),
            ("old list, no stem, avgdl 64", OLD, None, 64),
            ("old list, light stem, avgdl 64", OLD, light, 64),
            ("english, plural+e stem, avgdl 64", ENGLISH | OLD, plural_e, 64),
            ("english, light stem, avgdl 64", ENGLISH | OLD, light, 64),
            ("english, light stem, avgdl 48", ENGLISH | OLD, light, 48),
            ("english, light stem, avgdl 32 (bm25-2)", ENGLISH | OLD, light, 32),
            ("english, light stem, avgdl 16", ENGLISH | OLD, light, 16),
        ]:
            _with_bm25(1.2, 0.75, avgdl)
            rows.append((name, evaluate("syntax", make_tokenizer(stop, stemmer), modes=modes)))
    elif args.table == "bm25":
        for k1, b, avgdl in [(1.2, 0.75, 256), (1.2, 0.75, 128), (1.2, 0.75, 64), (1.2, 0.5, 256),
                             (1.5, 0.75, 64), (1.2, 0.9, 64)]:
            _with_bm25(k1, b, avgdl)
            rows.append((f"k1 {k1}, b {b}, avgdl {avgdl}",
                         evaluate("syntax", make_tokenizer(ENGLISH | OLD, light), modes=modes)))
    else:
        _with_bm25(1.2, 0.75, 32)
        tok = make_tokenizer(ENGLISH | OLD, light)
        for name, header, kw in [
            ("header: path only", lambda p, c: p, {"merge_pieces": 160}),
            ("header: path + names", lambda p, c: p + ("\n" + ", ".join(c.symbols[:6])
                                                        if c.symbols else ""), {"merge_pieces": 160}),
            ("header: path + names + words, merge 160", None, {"merge_pieces": 160}),
            ("merge 0", None, {"merge_pieces": 0}),
            ("merge 40 (default)", None, {"merge_pieces": 40}),
            ("merge 80", None, {"merge_pieces": 80}),
            ("merge 230", None, {"merge_pieces": 230}),
        ]:
            HEADER = header
            rows.append((name, evaluate("syntax", tok, chunk_kw=kw, modes=modes)))
    print("| variant | hybrid MRR@10 | hybrid hit@1 | hybrid hit@10 | dense MRR@10 | sparse MRR@10 | "
          "mean lines (hybrid) |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, r in rows:
        h = r["hybrid"]
        print(f"| {name} | {h['mrr@10']:.3f} | {h['hit@1']:.3f} | {h['hit@10']:.3f} | "
              f"{r['dense']['mrr@10']:.3f} | {r['sparse']['mrr@10']:.3f} | {h['lines']} |")


if __name__ == "__main__":
    main()
