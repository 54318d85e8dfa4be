"""The only module of the quality benchmark that imports wqm: re-point it when modules move.

It runs wqm's real code path in-process: ``Settings.from_env`` on the variant's
variables (never the process environment, so a run is what its command line
says) with a temporary data directory and the service off, a ``Workspace``,
and the library's ``ingest`` and ``search`` operations, exactly as the CLI
calls them through the in-process backend.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from workspace_qdrant_mcp.config import ENVIRONMENT_VARIABLES, Settings
from workspace_qdrant_mcp.embed.dense import get_dense_embedder
from workspace_qdrant_mcp.ops.ingest import ingest
from workspace_qdrant_mcp.ops.search import search
from workspace_qdrant_mcp.workspace.workspace import Workspace

Span = tuple[str, int, int]
SRC = Path(__file__).resolve().parents[2] / "src"


def describe(env: Mapping[str, str]) -> dict[str, Any]:
    """Which wqm ran, and which of the variant's variables this wqm does not know (no effect)."""
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=SRC, text=True,
                                capture_output=True, check=False).stdout.strip()
        dirty = bool(subprocess.run(["git", "status", "--porcelain", "--", "."], cwd=SRC,
                                    text=True, capture_output=True, check=False).stdout.strip())
    except OSError:
        commit, dirty = "", False
    import workspace_qdrant_mcp

    return {"wqm_version": metadata.version("wqm"), "wqm_commit": commit + ("+dirty" * dirty),
            "wqm_source": str(Path(workspace_qdrant_mcp.__file__).parent),
            "unknown_variables": sorted(k for k in env if k not in ENVIRONMENT_VARIABLES)}


def baseline_embed() -> Callable[[list[str]], np.ndarray]:
    """wqm's default dense model (whatever a variant sets), for the naive baseline."""
    default = Settings.from_env({})
    embedder = get_dense_embedder(default.model_path, device=default.device,
                                  backend=default.embed_backend,
                                  cache_dir=default.model_cache_dir)
    return embedder.embed


class WqmRun:
    """One workspace in ``data_dir`` configured by ``env`` (``WQM_*`` variables)."""

    def __init__(self, data_dir: Path, env: Mapping[str, str]) -> None:
        settings = Settings.from_env(dict(env), data_dir=data_dir, service="off")
        self.ws = Workspace(settings).open()
        self.collections: dict[Path, str] = {}

    def warm(self) -> None:
        """Load both models, so the first ingest is not charged with loading them."""
        self.ws.dense.embed(["warm up"])
        self.ws.sparse.embed_documents(["warm up"])

    def ingest(self, repo: Path) -> dict[str, Any]:
        """Index ``repo`` from scratch; seconds and chunks as wqm reports them."""
        started = time.perf_counter()
        result = ingest(self.ws, project_path=str(repo))
        seconds = time.perf_counter() - started
        self.collections[repo] = str(result["collection"])
        return {"seconds": seconds, "chunks": int(result["chunks_written"]),
                "files": int(result["files_indexed"]), "skipped": int(result["files_skipped"])}

    def search(self, repo: Path, query: str, mode: str, limit: int) -> list[Span]:
        """The ranked results of one library ``search`` on ``repo``'s collection."""
        found = search(self.ws, query, collection=self.collections[repo], mode=mode, limit=limit)
        return [(str(r["path"]), int(r["start_line"]), int(r["end_line"]))
                for r in found["results"]]

    def close(self) -> None:
        """Close the stores."""
        self.ws.close()
