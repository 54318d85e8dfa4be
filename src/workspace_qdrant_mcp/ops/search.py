"""Search a project's index by meaning (dense), by keyword (BM25) or both (hybrid).

Hybrid runs in Qdrant: one Query API call whose dense, sparse and symbol
prefetches are fused by their score distributions (``ops/ranking.py`` says how
and why), so it costs one round trip.

The collection name is sent to Qdrant exactly as given (any logical name, old
or new, or a physical name) and never resolved here first: Qdrant resolves an
alias atomically with any concurrent switch (DESIGN.md §2).

``path_glob`` is exact, not best-effort: the distinct indexed paths are read
with a facet on the ``path`` keyword index and matched with ``fnmatch`` here;
the matching paths become a filter, so ``limit`` hits come back whenever that
many exist. Where a filter runs (inside Qdrant, or over a widening pool of
ranked candidates on the embedded engine) is chosen by ``_plan``.
"""

from __future__ import annotations

import fnmatch
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from qdrant_client import models as qm

from ..core import schema, store
from ..core.errors import CollectionNotFound, InvalidArgument
from ..workspace.freshness import changed_files, refresh
from ..workspace.index_state import index_state, partial_notice
from ..workspace.routing import Route, choose_collection, recipe_of
from ..workspace.sync import project_job
from ..workspace.workspace import Workspace
from .ranking import hybrid_points, symbol_condition
from .registry import operation
from .results import SearchHit, SearchResult

MODES = ("hybrid", "dense", "sparse")
MAX_LIMIT = 100
#: Seconds a first search waits for the index it started to have its first keyword chunks.
AUTO_INDEX_WAIT = 5.0
#: The longest query accepted (the dense model reads about 1,000 characters of it anyway).
MAX_QUERY_CHARS = 10_000
#: Candidates each prefetch hands to the fusion, per result asked for.
PREFETCH_FACTOR = 4
MIN_PREFETCH = 40
#: Distinct paths read by the facet behind ``path_glob`` (far above any real project).
MAX_FACET_PATHS = 1_000_000
#: Embedded engine: a glob matching at most this many paths is filtered inside the query.
LOCAL_MATCH_ANY = 16
#: Embedded engine, filters applied here: first candidate pool per result asked for.
POOL_FACTOR = 10
MIN_POOL = 100
SNIPPET_LINES = 3
SNIPPET_CHARS = 240

_WORD = re.compile(r"[A-Za-z0-9]+")


def matching_paths(ws: Workspace, name: str, glob: str) -> list[str]:
    """Indexed paths of ``name`` matching ``glob`` (fnmatch: ``*`` crosses folders; ``**/``
    also matches no folder, so ``src/**/*.py`` matches ``src/a.py``). A glob that matches
    nothing from the root is tried at any depth (``sansio/*`` as ``**/sansio/*``); a
    leading ``/`` anchors it to the root (``/setup.py``), as in ``.gitignore``."""
    client = ws.client
    facet = store.call(client, f"list the paths of {name}",
                       lambda: client.facet(name, key="path", limit=MAX_FACET_PATHS, exact=True))
    paths = [str(hit.value) for hit in facet.hits]
    rooted = glob.startswith("/")
    glob = glob.lstrip("/")
    anchored = sorted(p for p in paths if any(fnmatch.fnmatchcase(p, g)
                                             for g in glob_variants(glob)))
    if anchored or rooted or glob.startswith("**/"):
        return anchored
    # Like a .gitignore pattern, a glob that matches nothing from the project root may name
    # a folder anywhere: `sansio/*` finds `src/h11/sansio/x.py`.
    anywhere = glob_variants("**/" + glob)
    return sorted(p for p in paths if any(fnmatch.fnmatchcase(p, g) for g in anywhere))


def glob_variants(glob: str) -> list[str]:
    """fnmatch patterns equivalent to ``glob`` where each ``**/`` may also match no folder."""
    variants = [glob]
    while any("**/" in v for v in variants):
        expanded: list[str] = []
        for v in variants:
            if "**/" in v:
                expanded += [v.replace("**/", "", 1), v.replace("**/", "*/", 1)]
            else:
                expanded.append(v)
        variants = expanded
    return list(dict.fromkeys(variants))


@dataclass
class _Plan:
    """How the filters run: inside Qdrant (``flt``), or over candidates here (``keep``)."""

    flt: qm.Filter | None = None
    keep: Callable[[dict[str, Any]], bool] | None = None


class _NoMatch(Exception):
    """No indexed path matches the glob: the answer is empty without asking Qdrant."""


def _plan(ws: Workspace, name: str, path_glob: str | None, language: str | None,
          symbol: str | None = None) -> _Plan:
    """Decide where each filter runs.

    A server evaluates filters on its payload indexes: everything goes into the
    query. The embedded engine evaluates a filter in Python for every point, per
    prefetch (~20 µs a point, and ``MatchAny`` multiplies that by its number of
    values), so there the filters run over a ranked candidate pool instead,
    except a glob matching only a few paths, which stays a small ``MatchAny``,
    and a symbol, which matches too few chunks for a pool to find them.
    """
    lang = language.strip().lower() if language and language.strip() else None
    paths: list[str] | None = None
    if path_glob:
        paths = matching_paths(ws, name, path_glob)
        if not paths:
            raise _NoMatch
    if lang is None and paths is None and symbol is None:
        return _Plan()
    in_query = (ws.settings.uses_server or symbol is not None
                or (paths is not None and len(paths) <= LOCAL_MATCH_ANY))
    if not in_query:
        allowed = set(paths) if paths is not None else None

        def keep(payload: dict[str, Any]) -> bool:
            return (lang is None or payload.get("language") == lang) and (
                allowed is None or payload.get("path") in allowed)

        return _Plan(keep=keep)
    conditions: list[qm.Condition] = []
    if lang is not None:
        conditions.append(qm.FieldCondition(key="language", match=qm.MatchValue(value=lang)))
    if paths is not None:
        conditions.append(qm.FieldCondition(key="path", match=qm.MatchAny(any=paths)))
    if symbol is not None:
        conditions.append(symbol_condition(symbol))
    return _Plan(flt=qm.Filter(must=conditions))


def snippet(content: str, query: str) -> str:
    """The few lines of ``content`` that share most words with ``query``, shortened."""
    lines = [line.rstrip() for line in content.splitlines()]
    if not lines:
        return ""
    terms = {w.lower() for w in _WORD.findall(query)}

    def hits(text: str) -> int:
        low = text.lower()
        return sum(1 for t in terms if t in low)

    best, best_key = 0, (-1, -1)
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        key = (hits(line), hits(" ".join(lines[i:i + SNIPPET_LINES])))
        if key > best_key:
            best, best_key = i, key
    text = " ".join(line.strip() for line in lines[best:best + SNIPPET_LINES] if line.strip())
    return text if len(text) <= SNIPPET_CHARS else text[:SNIPPET_CHARS - 1] + "…"


def _ask(
    ws: Workspace, name: str, mode: str, dense: list[float] | None,
    sparse: qm.SparseVector | None, k: int, depth: int, flt: qm.Filter | None,
) -> list[qm.ScoredPoint]:
    """One Query API call: the top ``k`` points (fused from prefetches in hybrid mode)."""
    client = ws.client
    request: dict[str, Any]
    if mode == "hybrid" and dense is not None:
        return hybrid_points(client, name, dense, sparse, k, depth, flt)
    if mode == "sparse":
        request = {"query": sparse, "using": schema.SPARSE_VECTOR, "query_filter": flt}
    else:
        request = {"query": dense, "using": schema.DENSE_VECTOR, "query_filter": flt}
    with store.guarded(client, f"search {name}"):
        response = client.query_points(name, limit=k, with_payload=True, with_vectors=False,
                                       **request)
    return list(response.points)


def _run(
    ws: Workspace, name: str, query: str, mode: str, limit: int, plan: _Plan
) -> list[qm.ScoredPoint]:
    """Embed the query, ask Qdrant, apply the filters the plan keeps here."""
    recipe = recipe_of(ws, name)
    dense: list[float] | None = (ws.models.dense(recipe).embed_query(query)
                                 if mode != "sparse" else None)
    sparse: qm.SparseVector | None = None
    if mode != "dense":
        vec = ws.models.sparse(recipe).embed_query(query)
        if vec.indices:
            sparse = qm.SparseVector(indices=list(vec.indices), values=list(vec.values))
    if mode == "sparse" and sparse is None:
        return []  # no keyword survives tokenization: nothing can match by keyword
    if plan.keep is None:
        depth = max(limit * PREFETCH_FACTOR, MIN_PREFETCH)
        return _ask(ws, name, mode, dense, sparse, limit, depth, plan.flt)
    pool = max(limit * POOL_FACTOR, MIN_POOL)
    while True:  # widen the pool until enough candidates pass, or every point was seen
        found = _ask(ws, name, mode, dense, sparse, pool, pool, plan.flt)
        kept = [p for p in found if plan.keep(p.payload or {})]
        if len(kept) >= limit or len(found) < pool:
            return kept[:limit]
        pool *= 4


@operation(takes_project=True, read_only=True, mcp_tool="search")
def search(
    ws: Workspace,
    query: str,
    project_path: str | None = None,
    collection: str | None = None,
    mode: str = "hybrid",
    limit: int = 10,
    path_glob: str | None = None,
    language: str | None = None,
    symbol: str | None = None,
) -> SearchResult:
    """Search the project's index (or ``collection``) for ``query``.

    ``mode`` is hybrid (meaning, keywords and symbol names, fused), dense or
    sparse; ``path_glob`` (fnmatch, ``*`` crosses folders), ``language`` and
    ``symbol`` (a definition's qualified name, or its last parts) filter the hits.
    """
    if not isinstance(query, str) or not query.strip():
        raise InvalidArgument("The search query is empty; give some words to search for.")
    if len(query) > MAX_QUERY_CHARS:
        raise InvalidArgument(f"The search query is {len(query):,} characters; at most "
                              f"{MAX_QUERY_CHARS:,} are read, so shorten it.")
    if mode not in MODES:
        raise InvalidArgument(f"Unknown search mode {mode!r}; use hybrid, dense or sparse.")
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise InvalidArgument(f"The limit must be a whole number from 1 to {MAX_LIMIT}, "
                              f"got {limit!r}.")
    if symbol is not None:
        symbol_condition(symbol)  # a bad symbol is refused before anything is routed
    route = _route(ws, collection, project_path)
    notices = list(route.ctx.notices) if route.ctx else []

    unmatched: list[str] = []

    def ask(name: str) -> list[qm.ScoredPoint]:
        try:
            return _run(ws, name, query.strip(), mode, limit,
                        _plan(ws, name, path_glob, language, symbol))
        except _NoMatch:
            unmatched.append(str(path_glob))
            return []

    points = route.run(ask)
    if unmatched:
        notices.append(f"No indexed file matches --path-glob {unmatched[0]!r} (from the "
                       "project root or any folder); check the pattern.")
    if not points:
        # Nothing may have reached Qdrant (no keyword survived, or a filter matched no path):
        # an unknown name must still be reported as such, not as "no results".
        route.check()
    stale: set[str] = set()
    state = None
    ctx = route.ctx
    if ctx is not None and ctx.physical is not None:
        changed = changed_files(ws, ctx, _file_versions(points))
        if changed and refresh(ws, ctx, changed):
            points = route.run(ask)  # re-indexed: answer from the files as they are now
        elif changed:
            stale = changed
            notices.append(f"{len(changed)} of the files these results come from changed since "
                           "they were indexed (their results are marked stale); they are being "
                           "re-indexed.")
        state = index_state(ws, ctx, route.name)
        partial = partial_notice(state)
        if partial:
            notices.append(partial)
    name = route.name
    ws.aliases.record_use(name)
    results: list[SearchHit] = []
    for point in points:
        payload = dict(point.payload or {})
        content = str(payload.get("content", ""))
        hit: SearchHit = {
            "score": float(point.score),
            "path": payload.get("path"),
            "start_line": payload.get("start_line"),
            "end_line": payload.get("end_line"),
            "snippet": snippet(content, query),
            "payload": payload,
            "id": str(point.id),
        }
        if isinstance(payload.get("symbol"), str):
            hit["symbol"] = payload["symbol"]
        if payload.get("path") in stale and payload.get("source") == schema.SOURCE_FILE:
            hit["stale"] = True
        results.append(hit)
    return {"collection": name, "mode": mode, "query": query, "results": results,
            "notices": notices, "index": state}


def _file_versions(points: list[qm.ScoredPoint]) -> list[tuple[str, str]]:
    """(path, content hash) of the file results (notes have no file to check)."""
    found = []
    for point in points:
        payload = point.payload or {}
        path, digest = payload.get("path"), payload.get("content_hash")
        if (payload.get("source") == schema.SOURCE_FILE and isinstance(path, str)
                and isinstance(digest, str)):
            found.append((path, digest))
    return found


def _route(ws: Workspace, collection: str | None, project_path: str | None) -> Route:
    """The project's route; a project with no index starts indexing (``WQM_AUTO_INDEX``).

    The search then answers from whatever is indexed after a short wait (the
    keyword pass of a small project takes about a second) and says that the
    index is still being built. A project too big to index is refused with the
    size-limit sentence; a project that looks moved is not indexed again (the
    error names the `update-path` command instead).
    """
    try:
        return choose_collection(ws, collection, project_path)
    except CollectionNotFound:
        if collection is not None or not ws.settings.auto_index:
            raise
        ctx = ws.project(project_path)
        if ctx.physical is not None or ctx.move_candidates:
            raise
    job = project_job(ws, ctx)  # refuses a project over the size limit, in one sentence
    deadline = time.monotonic() + AUTO_INDEX_WAIT
    while job.running and time.monotonic() < deadline and job.state.keywords_done == 0:
        time.sleep(0.05)
    if job.exception is not None:
        raise job.exception
    try:
        return choose_collection(ws, None, project_path)
    except CollectionNotFound:
        raise CollectionNotFound(
            f"The project at {ctx.root} is being indexed right now; search again in a moment."
        ) from None
