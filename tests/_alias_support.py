"""Helpers shared by the alias tests, and the child process they drive.

Imported by the tests (``from _alias_support import ...``) for small checks
of both stores, and run as a script (``python tests/_alias_support.py MODE``)
as a *separate process* on the same data directory:

- ``crash OP``: open the workspace (``WQM_FAULT_POINT`` armed by the caller's
  environment), perform one alias operation and get SIGKILLed by the fault hook.
  Exits 0 only if the armed step was never reached (a test failure).
- ``serve``: open the workspace and obey one command per stdin line
  (``repoint ALIAS TARGET``, ``delete ALIAS``, ``undo``, ``qdrant-delete ALIAS`` (behind
  the registry's back), ``reconcile`` (with fix), ``quit``), answering ``ok`` or
  ``error: ...`` on stdout. Used for cache coherence across processes.

Nothing here is a mock: both modes use the real embedded Qdrant store and the
real SQLite registry under ``WQM_DATA_DIR``.
"""

from __future__ import annotations

import os
import random
import sys
from typing import Any

from qdrant_client import QdrantClient
from qdrant_client import models as qm

from workspace_qdrant_mcp.core import schema, store
from workspace_qdrant_mcp.core.collection_aliases import AliasManager
from workspace_qdrant_mcp.core.naming import is_opaque_physical_name

#: Logical names used by the crash scenarios (set up by the test before the child runs).
PROJECT_A = "_path_aaaaaaaaaaaa"
PROJECT_B = "_path_bbbbbbbbbbbb"
NEW_PROJECT = "_path_cccccccccccc"


def registry_table(aliases: AliasManager) -> dict[str, str]:
    """The registry's alias table: alias -> collection."""
    return {a.alias_name: a.collection_name for a in aliases.list_aliases_sync()}


def qdrant_table(client: QdrantClient) -> dict[str, str]:
    """Qdrant's own alias table, read straight from qdrant-client."""
    return {a.alias_name: a.collection_name for a in client.get_aliases().aliases}


def assert_stores_agree(aliases: AliasManager) -> dict[str, str]:
    """Registry alias table == Qdrant alias table; returns it."""
    registry = registry_table(aliases)
    live = qdrant_table(aliases.qdrant_client)
    assert registry == live, f"registry {registry} != qdrant {live}"
    return live


def event_count(aliases: AliasManager) -> int:
    """Rows in the append-only audit log."""
    row = aliases.state_manager.connection.execute("SELECT COUNT(*) FROM alias_events").fetchone()
    return int(row[0])


def change_count(aliases: AliasManager) -> int:
    """Rows in the intent table (every change ever begun)."""
    row = aliases.state_manager.connection.execute("SELECT COUNT(*) FROM alias_changes").fetchone()
    return int(row[0])


def orphan_collections(client: QdrantClient) -> list[str]:
    """Opaque physical collections that no alias reaches (data without a name)."""
    reached = set(qdrant_table(client).values())
    return sorted(
        c for c in store.collection_names(client) if is_opaque_physical_name(c) and c not in reached
    )


def new_project(aliases: AliasManager, logical_name: str) -> str:
    """A project collection of the real schema (dense + BM25), reachable as ``logical_name``."""
    physical: str = aliases.create_project_collection_sync(
        logical_name,
        vectors_config=schema.vectors_config(),
        sparse_vectors_config=schema.sparse_vectors_config(),
    )
    return physical


def upsert_random(client: QdrantClient, name: str, count: int, seed: int = 0) -> None:
    """Write ``count`` points with random dense vectors through ``name`` (alias or collection)."""
    rng = random.Random(seed)
    client.upsert(
        name,
        points=[
            qm.PointStruct(
                id=i,
                vector={schema.DENSE_VECTOR: [rng.uniform(-1, 1) for _ in range(schema.DENSE_DIM)]},
                payload={"path": f"file{i}.py", "source": schema.SOURCE_FILE},
            )
            for i in range(count)
        ],
        wait=True,
    )


def point_count(client: QdrantClient, name: str) -> int:
    """Exact number of points reachable through ``name``."""
    return client.count(name, exact=True).count


# ---------------------------------------------------------------------- child process


CRASH_OPS = ("create", "repoint", "delete", "undo", "create_project_collection")


def _crash(op: str) -> None:
    import asyncio

    if op not in CRASH_OPS:
        raise SystemExit(f"unknown op {op!r}")

    from workspace_qdrant_mcp.core.client import QdrantWorkspaceClient

    async def main() -> None:
        ws = QdrantWorkspaceClient()  # WQM_DATA_DIR and WQM_FAULT_POINT from the environment
        await ws.initialize()
        aliases = ws.aliases
        if op == "create":
            await aliases.create_alias("fresh_alias", PROJECT_A)
        elif op == "repoint":
            await aliases.create_alias("moving", PROJECT_B, force=True)
        elif op == "delete":
            await aliases.delete_alias("extra")
        elif op == "undo":
            await aliases.undo()
        elif op == "create_project_collection":
            await aliases.create_project_collection(
                NEW_PROJECT,
                vectors_config=schema.vectors_config(),
                sparse_vectors_config=schema.sparse_vectors_config(),
                payload_indexes=schema.payload_indexes(),
            )
        else:
            raise SystemExit(f"unknown op {op!r}")
        await ws.close()

    asyncio.run(main())


def _serve() -> None:
    from workspace_qdrant_mcp.core.client import QdrantWorkspaceClient
    from workspace_qdrant_mcp.core.errors import WqmError

    ws = QdrantWorkspaceClient()
    ws.initialize_sync()
    print("ready", flush=True)
    for line in sys.stdin:
        words = line.split()
        if not words:
            continue
        try:
            if words[0] == "quit":
                break
            if words[0] == "repoint":
                ws.aliases.switch_sync([_change(words[1], words[2])], force=True)
            elif words[0] == "delete":
                ws.aliases.switch_sync([_change(words[1], None)], force=True)
            elif words[0] == "undo":
                ws.aliases.undo_sync(force=True)
            elif words[0] == "qdrant-delete":
                ws.client.update_collection_aliases(
                    change_aliases_operations=[
                        qm.DeleteAliasOperation(delete_alias=qm.DeleteAlias(alias_name=words[1]))
                    ]
                )
            elif words[0] == "reconcile":
                if not ws.aliases.reconcile_sync(fix=True).ok:
                    raise SystemExit("reconcile could not fix everything")
            else:
                raise SystemExit(f"unknown command {words[0]!r}")
            print("ok", flush=True)
        except WqmError as exc:
            print(f"error: {exc}", flush=True)
    ws.close_sync()
    print("bye", flush=True)


def _change(alias: str, target: str | None) -> Any:
    from workspace_qdrant_mcp.core.collection_aliases import AliasChange

    return AliasChange(alias, target)


if __name__ == "__main__":
    if not os.environ.get("WQM_DATA_DIR"):  # never touch a real user's data directory
        raise SystemExit("set WQM_DATA_DIR to the test's data directory")
    mode = sys.argv[1]
    if mode == "crash":
        _crash(sys.argv[2])
    elif mode == "serve":
        _serve()
    else:
        raise SystemExit(f"unknown mode {mode!r}")
