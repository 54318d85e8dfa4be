"""Child-process side of the reindex crash and concurrency tests (``tests/test_reindex_faults.py``).

Run as ``python _reindex_support.py reindex ROOT``: opens the workspace of
``WQM_DATA_DIR`` in this process (``WQM_SERVICE=off``), rebuilds the project at
``ROOT`` and prints the result as JSON. With ``WQM_FAULT_POINT`` armed the
process SIGKILLs itself at that step, exactly like ``kill -9``.

Also holds what the tests share: a small project's files, and the checks of
"a collection serves, one recipe, nothing lost".
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from qdrant_client import models as qm

from workspace_qdrant_mcp.config import Settings
from workspace_qdrant_mcp.core import schema, store
from workspace_qdrant_mcp.ops.reindex import reindex
from workspace_qdrant_mcp.ops.search import search
from workspace_qdrant_mcp.workspace.workspace import Workspace

_TOPICS = [
    ("billing", "invoice_total", "sum the amounts of the invoice lines"),
    ("mail", "send_welcome_email", "send the welcome email to a new user"),
    ("auth", "check_password", "compare a password with its stored hash"),
    ("cache", "evict_oldest", "drop the least recently used cache entry"),
    ("queue", "retry_later", "put a failed job back on the queue with a delay"),
    ("report", "monthly_revenue", "add up the revenue of every paid order in a month"),
    ("search", "rank_results", "order the search results by their score"),
    ("config", "load_settings", "read the settings file and apply defaults"),
]


def project_files(copies: int = 1) -> dict[str, str]:
    """A small Python project (``copies`` times the same eight modules, under other names)."""
    files: dict[str, str] = {"README.md": "# demo\n\nA demo project for the reindex tests.\n"}
    for n in range(copies):
        for module, func, doc in _TOPICS:
            body = [f'"""{module}: {doc}."""', ""]
            for k in range(3):
                body += [f"def {func}_{k}(items, limit={k + 1}):",
                         f'    """{doc.capitalize()} (variant {k} of {module} {n})."""',
                         "    total = 0",
                         "    for item in items[:limit]:",
                         "        total += item.value",
                         "    return total", ""]
            files[f"src/{module}_{n}.py" if copies > 1 else f"src/{module}.py"] = "\n".join(body)
    return files


def serving(ws: Workspace, names: list[str]) -> str:
    """The one collection every name reaches (fails if a name reaches none, or they differ)."""
    live = store.live_aliases(ws.client)
    targets = {live.get(name) for name in names}
    assert None not in targets, f"a name reaches nothing: {names} -> {live}"
    assert len(targets) == 1, f"the names reach different collections: {live}"
    target = targets.pop()
    assert target is not None and target in store.collection_names(ws.client)
    return target


def points(ws: Workspace, name: str) -> list[qm.Record]:
    """Every point reachable as ``name`` (payload only)."""
    client, found, offset = ws.client, [], None
    while True:
        with store.guarded(client, "scroll"):
            records, offset = client.scroll(name, limit=1024, offset=offset, with_payload=True,
                                            with_vectors=[schema.DENSE_VECTOR])
        found += records
        if offset is None:
            return found


def check_whole(ws: Workspace, name: str, files: dict[str, str], note_ids: set[str],
                query: str = "invoice total") -> str:
    """``name`` answers, from points of ONE recipe, holding every file and note; the recipe id."""
    held = points(ws, name)
    recipes = {str((p.payload or {}).get("recipe")) for p in held}
    assert len(recipes) == 1, f"{name} mixes recipes: {recipes}"
    paths = {(p.payload or {}).get("path") for p in held
             if (p.payload or {}).get("source") == schema.SOURCE_FILE}
    assert set(files) <= paths, f"{name} lacks files: {sorted(set(files) - paths)}"
    notes = {(p.payload or {}).get("document_id") for p in held
             if (p.payload or {}).get("source") == schema.SOURCE_NOTE}
    assert note_ids <= notes, f"{name} lacks notes: {sorted(note_ids - notes)}"
    assert all(schema.DENSE_VECTOR in (p.vector or {}) for p in held), "a point lacks meaning"
    hits = search(ws, query, collection=name)["results"]
    assert hits, f"a search through {name} came back empty"
    assert {str(h["payload"].get("recipe")) for h in hits} == recipes
    return recipes.pop()


def _main(argv: list[str]) -> int:
    if len(argv) != 3 or argv[1] != "reindex":
        print("usage: _reindex_support.py reindex ROOT", file=sys.stderr)
        return 2
    ws = Workspace(Settings.from_env()).open()
    try:
        result: Any = reindex(ws, project_path=str(Path(argv[2])))
    finally:
        ws.close()
    print(json.dumps(result, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv))
