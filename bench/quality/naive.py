"""The anchor: what a 60-line script does, which wqm must clearly beat.

50-line windows (no overlap), each embedded as ``path + lines`` by the same
dense model wqm uses (passed in as ``embed``, so this file needs no wqm) and
scored by plain BM25 (k1 1.2, b 0.75; lower-cased ``[A-Za-z0-9]+`` words, so
``snake_case`` splits but ``camelCase`` does not, and English stopwords
dropped). Hybrid is Reciprocal Rank Fusion (k = 60) of the two full rankings.
Everything is brute force in numpy.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence

import numpy as np

WINDOW = 50
RRF_K = 60
K1, B = 1.2, 0.75
STOPWORDS = frozenset(["a", "about", "above", "after", "again", "against", "all", "am", "an", "and", "any", "are", "as", "at", "be", "because", "been", "before", "being", "below", "between", "both", "but", "by", "can", "could", "did", "do", "does", "doing", "down", "during", "each", "few", "for", "from", "further", "had", "has", "have", "having", "he", "her", "here", "hers", "herself", "him", "himself", "his", "how", "i", "if", "in", "into", "is", "it", "its", "itself", "just", "me", "more", "most", "my", "myself", "no", "nor", "not", "now", "of", "off", "on", "once", "only", "or", "other", "our", "ours", "ourselves", "out", "over", "own", "same", "she", "should", "so", "some", "such", "than", "that", "the", "their", "theirs", "them", "themselves", "then", "there", "these", "they", "this", "those", "through", "to", "too", "under", "until", "up", "very", "was", "we", "were", "what", "when", "where", "which", "while", "who", "whom", "why", "will", "with", "would", "you", "your", "yours", "yourself", "yourselves"])
_WORD = re.compile(r"[A-Za-z0-9]+")

Span = tuple[str, int, int]


def words(text: str) -> list[str]:
    """BM25 terms: lower-cased alphanumeric runs that are not stopwords."""
    return [w for w in (m.lower() for m in _WORD.findall(text)) if w not in STOPWORDS]


class NaiveIndex:
    """Dense + BM25 over fixed windows of ``files`` (path -> text)."""

    def __init__(self, files: Mapping[str, str],
                 embed: Callable[[list[str]], np.ndarray]) -> None:
        self.spans: list[Span] = []
        texts: list[str] = []
        for path in sorted(files):
            lines = files[path].split("\n")
            if lines and not lines[-1]:
                lines.pop()  # the text after the last newline is no line
            for start in range(0, len(lines), WINDOW):
                body = "\n".join(lines[start:start + WINDOW])
                if body.strip():
                    self.spans.append((path, start + 1, min(start + WINDOW, len(lines))))
                    texts.append(f"{path}\n{body}")
        self.dense = embed(texts)
        bags = [Counter(words(t)) for t in texts]
        lengths = np.array([sum(b.values()) for b in bags], dtype=np.float64)
        norm = K1 * (1 - B + B * lengths / max(lengths.mean(), 1.0))
        pairs: dict[str, list[tuple[int, int]]] = {}
        for i, bag in enumerate(bags):
            for term, count in bag.items():
                pairs.setdefault(term, []).append((i, count))
        self.postings: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for term, found in pairs.items():
            docs = np.array([i for i, _ in found])
            tf = np.array([c for _, c in found], dtype=np.float64)
            idf = math.log(1 + (len(bags) - len(docs) + 0.5) / (len(docs) + 0.5))
            self.postings[term] = (docs, idf * tf * (K1 + 1) / (tf + norm[docs]))

    def bm25(self, query: str) -> np.ndarray:
        scores = np.zeros(len(self.spans))
        for term in set(words(query)):
            if term in self.postings:
                docs, weights = self.postings[term]
                scores[docs] += weights
        return scores

    def ranking(self, query: str, query_vector: np.ndarray, mode: str) -> list[int]:
        """Every window's index, best first, for ``mode`` (hybrid, dense or sparse)."""
        dense = np.argsort(-(self.dense @ query_vector), kind="stable")
        sparse_scores = self.bm25(query)
        sparse = [i for i in np.argsort(-sparse_scores, kind="stable") if sparse_scores[i] > 0]
        if mode == "dense":
            return [int(i) for i in dense]
        if mode == "sparse":
            return [int(i) for i in sparse]
        fused = np.zeros(len(self.spans))
        for ranked in (dense, sparse):
            fused[np.asarray(ranked, dtype=np.int64)] += 1.0 / (RRF_K + 1 + np.arange(len(ranked)))
        return [int(i) for i in np.argsort(-fused, kind="stable")]

    def search(self, query: str, query_vector: np.ndarray, mode: str,
               limit: int = 10) -> Sequence[Span]:
        """The top ``limit`` windows as (path, start_line, end_line)."""
        return [self.spans[i] for i in self.ranking(query, query_vector, mode)[:limit]]
