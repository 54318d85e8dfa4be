"""Shared set-up for the ``wqm project`` tests: project data without a model, store snapshots.

Data is made in-process through the library (the alias core and a few points with
random vectors), then the workspace is closed before any ``wqm`` subprocess runs:
the embedded store admits one process at a time.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from qdrant_client import models as qm

from workspace_qdrant_mcp.config import Settings
from workspace_qdrant_mcp.core import schema, store
from workspace_qdrant_mcp.core.identity import detect_identity
from workspace_qdrant_mcp.workspace.projects import ensure_project_collection, locate_project
from workspace_qdrant_mcp.workspace.workspace import Workspace


@contextmanager
def opened(settings: Settings) -> Iterator[Workspace]:
    """An in-process workspace, closed on exit."""
    ws = Workspace(settings).open()
    try:
        yield ws
    finally:
        ws.close()


def random_vector(rng: random.Random) -> list[float]:
    """A dense vector of the schema's size."""
    return [rng.uniform(-1.0, 1.0) for _ in range(schema.DENSE_DIM)]


def add_points(ws: Workspace, name: str, count: int, seed: int = 0) -> None:
    """Upsert ``count`` points with random dense vectors through ``name``."""
    rng = random.Random(seed)
    points = [
        qm.PointStruct(id=i, vector={schema.DENSE_VECTOR: random_vector(rng)},
                       payload={"path": f"file{i}.txt", "source": schema.SOURCE_FILE,
                                "content": f"chunk {i}"})
        for i in range(count)
    ]
    store.call(ws.client, "upsert", lambda: ws.client.upsert(name, points=points, wait=True))


def make_data(ws: Workspace, project: Path, points: int = 5) -> dict[str, Any]:
    """Give the project at ``project`` a collection under its current name, with points."""
    ctx = ensure_project_collection(ws.aliases, locate_project(ws.aliases, detect_identity(project)))
    add_points(ws, ctx.current_name, points)
    assert ctx.physical is not None
    return {"name": ctx.current_name, "physical": ctx.physical}


def seed_project(settings: Settings, project: Path, points: int = 5) -> dict[str, Any]:
    """``make_data`` in a workspace opened and closed for the purpose."""
    with opened(settings) as ws:
        return make_data(ws, project, points)


def snapshot(settings: Settings) -> dict[str, Any]:
    """Everything a change could touch: registry aliases, Qdrant aliases, collections, events."""
    with opened(settings) as ws:
        return {
            "registry": sorted((a.alias_name, a.collection_name)
                               for a in ws.aliases.list_aliases_sync()),
            "qdrant": sorted(store.live_aliases(ws.client).items()),
            "collections": sorted(store.collection_names(ws.client)),
            "events": len(ws.aliases.history()),
            "projects": sorted((p.physical_collection, p.root_path, p.remote_name)
                               for p in ws.state.projects()),
        }


def live_aliases(settings: Settings) -> dict[str, str]:
    """Qdrant's alias table now."""
    with opened(settings) as ws:
        return store.live_aliases(ws.client)


def scenario(base: Settings, root: Path) -> tuple[Settings, dict[str, str]]:
    """Settings and subprocess environment for a separate data directory under ``root``.

    Separate data directories let independent ``wqm`` runs go in parallel (one
    embedded store admits one process at a time).
    """
    data_dir = root / "wqm-data"
    data_dir.mkdir(parents=True)
    return base.with_overrides(data_dir=data_dir), {"WQM_DATA_DIR": str(data_dir)}


def in_parallel(*sequences: Callable[[], None]) -> None:
    """Run independent sequences of ``wqm`` calls concurrently (each costs ~1-2 s of start-up)."""
    with ThreadPoolExecutor(max_workers=len(sequences)) as pool:
        for future in [pool.submit(sequence) for sequence in sequences]:
            future.result()


def files_containing(root: Path, secret: bytes) -> list[Path]:
    """Every file under ``root`` whose bytes contain ``secret``."""
    return [p for p in root.rglob("*") if p.is_file() and secret in p.read_bytes()]
