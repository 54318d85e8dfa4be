"""Scoring ranked results against line-range targets, and paired comparison of two runs.

A result hits a target when it is on the target's path and their inclusive line
ranges overlap. A query's rank is the 1-based position of its first hit among
the results (``None`` when no result hits). hit@k is the share of queries with a
rank <= k; MRR@10 is the mean of 1/rank over queries, 0 past rank 10. Averages
are over queries (micro), so a package weighs by its number of queries.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

CUTOFF = 10


@dataclass(frozen=True)
class Span:
    """Lines ``start_line``..``end_line`` (1-based, inclusive) of ``path``."""

    path: str
    start_line: int
    end_line: int

    @property
    def lines(self) -> int:
        return self.end_line - self.start_line + 1


def overlaps(a: Span, b: Span) -> bool:
    """True when both spans are on one path and share at least one line."""
    return a.path == b.path and a.start_line <= b.end_line and b.start_line <= a.end_line


def first_hit_rank(results: Sequence[Span], targets: Iterable[Span]) -> int | None:
    """The 1-based rank of the first result that overlaps any target, else None."""
    wanted = list(targets)
    for rank, result in enumerate(results, start=1):
        if any(overlaps(result, t) for t in wanted):
            return rank
    return None


def reciprocal_rank(rank: int | None, cutoff: int = CUTOFF) -> float:
    """1/rank within the cutoff, else 0."""
    return 1.0 / rank if rank is not None and rank <= cutoff else 0.0


def mean_lines(results: Sequence[Span]) -> float | None:
    """Mean length in lines of the results (None when there are none)."""
    return sum(r.lines for r in results) / len(results) if results else None


def summarize(ranks: Sequence[int | None], lengths: Sequence[float | None] = ()) -> dict[str, Any]:
    """hit@1/5/10, MRR@10 over ``ranks`` and the mean of the per-query mean result lengths."""
    n = len(ranks)
    if n == 0:
        return {"n": 0}

    def hit(k: int) -> float:
        return sum(1 for r in ranks if r is not None and r <= k) / n

    known = [x for x in lengths if x is not None]
    return {"n": n, "hit@1": hit(1), "hit@5": hit(5), "hit@10": hit(10),
            "mrr@10": sum(reciprocal_rank(r) for r in ranks) / n,
            "mean_lines": sum(known) / len(known) if known else None}


def paired(a: Mapping[str, int | None], b: Mapping[str, int | None], *, resamples: int = 10_000,
           seed: int = 0) -> dict[str, Any]:
    """Paired difference B - A of reciprocal rank over the queries both scored.

    The 95% interval is a percentile bootstrap over queries. ``a_only``/``b_only``
    count queries found in the top 10 by one side alone; ``a_better``/``b_better``
    count queries one side ranks strictly higher.
    """
    ids = sorted(set(a) & set(b))
    if not ids:
        return {"n": 0}
    diffs = [reciprocal_rank(b[i]) - reciprocal_rank(a[i]) for i in ids]
    n = len(diffs)
    rng = np.random.default_rng(seed)
    values = np.asarray(diffs)
    means = np.concatenate([values[rng.integers(0, n, size=(min(1000, resamples - s), n))]
                            .mean(axis=1) for s in range(0, resamples, 1000)])
    low, high = (float(x) for x in np.percentile(means, [2.5, 97.5]))
    found_a = {i for i in ids if reciprocal_rank(a[i]) > 0}
    found_b = {i for i in ids if reciprocal_rank(b[i]) > 0}
    return {"n": n, "mrr_a": sum(reciprocal_rank(a[i]) for i in ids) / n,
            "mrr_b": sum(reciprocal_rank(b[i]) for i in ids) / n,
            "diff": sum(diffs) / n, "ci95": [low, high],
            "a_better": sum(1 for d in diffs if d < 0), "b_better": sum(1 for d in diffs if d > 0),
            "a_only": len(found_a - found_b), "b_only": len(found_b - found_a)}
