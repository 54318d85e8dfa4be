"""How hybrid search ranks: three prefetches fused by their score distributions, in Qdrant.

A hybrid query is one Query API call: the query's dense vector against the
chunks' dense vectors, its BM25 vector against theirs, and the same dense
vector against the chunks' symbol vectors (the definition's name and
signature, ``ingest/symbols.py``), each prefetching ``depth`` candidates, fused
by Qdrant's distribution-based score fusion (DBSF: each list's scores are
scaled by their mean +- 3 standard deviations, then summed). Measured on the
search-quality sets (docs/ARCHITECTURE.md, "Ranking"): the symbol signal and
score fusion together lift hybrid MRR@10 from 0.545 to 0.615 on the dev set
and from 0.577 to 0.617 on the check set; RRF with any constant or weight,
deeper prefetches, per-file or per-symbol caps, a file prior and query-side
stopwords did not help on both.

A collection built before the symbol vector existed has none: the query is
then sent with the two other prefetches (found out from Qdrant's answer and
remembered for ``NO_SYMBOL_TTL`` seconds per name, so a name re-pointed to a
rebuilt collection gets the third signal again soon).

Also here: the ``symbol`` filter (a chunk holding a definition whose qualified
name is NAME or ends with ``.NAME``, through the ``symbol_names`` keyword list).
"""

from __future__ import annotations

import threading
import time
import weakref
from typing import Any

from qdrant_client import QdrantClient
from qdrant_client import models as qm

from ..core import schema, store
from ..core.errors import InvalidArgument, StoreError

__all__ = ["FUSION", "MAX_SYMBOL_CHARS", "NO_SYMBOL_TTL", "hybrid_points", "symbol_condition"]

#: Score fusion of the prefetches (RRF ranked worse on the dev and check sets).
FUSION = qm.Fusion.DBSF
#: Seconds a name found without a symbol vector is queried without one.
NO_SYMBOL_TTL = 30.0
MAX_SYMBOL_CHARS = 1000

_lacking: weakref.WeakKeyDictionary[QdrantClient, dict[str, float]] = weakref.WeakKeyDictionary()
_lacking_lock = threading.Lock()


def _known_lacking(client: QdrantClient, name: str) -> bool:
    with _lacking_lock:
        until = _lacking.get(client, {}).get(name)
        return until is not None and until > time.monotonic()


def _remember_lacking(client: QdrantClient, name: str) -> None:
    with _lacking_lock:
        _lacking.setdefault(client, {})[name] = time.monotonic() + NO_SYMBOL_TTL


def _has_symbol_vector(client: QdrantClient, name: str) -> bool | None:
    """Whether ``name``'s collection has the symbol vector (None: Qdrant did not say)."""
    try:
        info = store.call(client, f"read the vectors of {name}",
                          lambda: client.get_collection(name))
    except StoreError:
        return None
    vectors = info.config.params.vectors
    return isinstance(vectors, dict) and schema.SYMBOL_VECTOR in vectors


def _request(dense: list[float] | None, sparse: qm.SparseVector | None, depth: int,
             flt: qm.Filter | None, symbol: bool) -> dict[str, Any]:
    prefetch: list[qm.Prefetch] = []
    # The filter sits in the prefetches only: what they pass on already satisfies it.
    if dense is not None:
        prefetch.append(qm.Prefetch(query=dense, using=schema.DENSE_VECTOR, limit=depth,
                                    filter=flt))
    if sparse is not None:
        prefetch.append(qm.Prefetch(query=sparse, using=schema.SPARSE_VECTOR, limit=depth,
                                    filter=flt))
    if symbol and dense is not None:
        prefetch.append(qm.Prefetch(query=dense, using=schema.SYMBOL_VECTOR, limit=depth,
                                    filter=flt))
    return {"prefetch": prefetch, "query": qm.FusionQuery(fusion=FUSION)}


def hybrid_points(
    client: QdrantClient, name: str, dense: list[float] | None, sparse: qm.SparseVector | None,
    k: int, depth: int, flt: qm.Filter | None,
) -> list[qm.ScoredPoint]:
    """The top ``k`` points of ``name`` for a hybrid query: one fused Query API call.

    ``sparse`` is None when no keyword of the query survives tokenization; the
    dense signals then rank alone.
    """
    symbol = not _known_lacking(client, name)

    def ask(with_symbol: bool) -> list[qm.ScoredPoint]:
        request = _request(dense, sparse, depth, flt, with_symbol)
        with store.guarded(client, f"search {name}"):
            response = client.query_points(name, limit=k, with_payload=True,
                                           with_vectors=False, **request)
        return list(response.points)

    if not symbol:
        return ask(False)
    try:
        return ask(True)
    except StoreError:
        if dense is None or _has_symbol_vector(client, name) is not False:
            raise
    _remember_lacking(client, name)  # an index built before the symbol vector existed
    return ask(False)


def symbol_condition(symbol: str) -> qm.FieldCondition:
    """The filter condition of ``symbol``: a qualified name, or its last parts."""
    if not isinstance(symbol, str) or not symbol.strip():
        raise InvalidArgument("The symbol to filter on is empty; give a name such as "
                              "`get_user` or `Client.get_user`.")
    name = symbol.strip()
    if len(name) > MAX_SYMBOL_CHARS:
        raise InvalidArgument(f"The symbol is {len(name):,} characters; give at most "
                              f"{MAX_SYMBOL_CHARS:,}.")
    return qm.FieldCondition(key="symbol_names", match=qm.MatchValue(value=name))
