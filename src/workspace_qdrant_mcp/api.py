"""The one library API the CLI, the MCP server and the workspace service share.

A ``Workspace`` owns the engine (embedded Qdrant or a server), the registry and
the embedding models. Operations are plain functions ``op(ws, **params)`` that
take and return JSON-ready values, listed by name in ``OPERATIONS``; that is
what lets the same call run in-process (``LocalBackend``) or inside the shared
workspace service (``service.client.ServiceBackend``) unchanged.
"""

from __future__ import annotations

import importlib
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from .config import Settings
from .core.errors import InvalidArgument

if TYPE_CHECKING:  # heavy imports stay out of the CLI's start-up path (it talks to the service)
    from qdrant_client import QdrantClient

    from .core.collection_aliases import AliasManager
    from .core.projects import ProjectContext
    from .core.state import SQLiteStateManager
    from .embed.recipes import Embedder
    from .embed.sparse import SparseEmbedder

Progress = Callable[[dict[str, Any]], None]


class Workspace:
    """Engine, registry and models for one data directory."""

    def __init__(self, settings: Settings | None = None) -> None:
        from .core.client import QdrantWorkspaceClient

        self.settings = settings or Settings.from_env()
        self.storage = QdrantWorkspaceClient(self.settings)
        self._dense: Embedder | None = None
        self._sparse: SparseEmbedder | None = None
        self._models_lock = threading.Lock()
        self._announced: set[str] = set()

    def open(self) -> Workspace:
        """Open both stores and recover pending alias changes."""
        self.storage.initialize_sync()
        return self

    def close(self) -> None:
        """Flush usage and close the stores."""
        self.storage.close_sync()

    @property
    def client(self) -> QdrantClient:
        """The qdrant-client object."""
        return self.storage.client

    @property
    def state(self) -> SQLiteStateManager:
        """The SQLite registry."""
        return self.storage.state_manager

    @property
    def aliases(self) -> AliasManager:
        """The alias manager."""
        return self.storage.aliases

    @property
    def dense(self) -> Embedder:
        """The dense embedder of the configured recipe (loads once per process, on first use)."""
        with self._models_lock:
            if self._dense is None:
                from .embed.recipes import get_embedder

                self._dense = get_embedder(self.settings)
            return self._dense

    @property
    def sparse(self) -> SparseEmbedder:
        """The BM25 sparse embedder."""
        with self._models_lock:
            if self._sparse is None:
                from .embed.sparse import SparseEmbedder

                self._sparse = SparseEmbedder()
            return self._sparse

    def project(
        self, path: str | Path | None = None, *, auto_migrate: bool | None = None
    ) -> ProjectContext:
        """The project at ``path`` (default: the configured project, else the working directory).

        When the project's current name reaches no data but an earlier identity
        of the same root does, the current name is added as an alias
        (``created_by="auto"``) unless automatic migration is off; the notice is
        attached to the context once per process and project.
        """
        from .core.identity import detect_identity
        from .core.projects import locate_project

        target = path if path is not None else (self.settings.project_path or Path.cwd())
        ctx = locate_project(self.aliases, detect_identity(target))
        auto = self.settings.auto_migrate if auto_migrate is None else auto_migrate
        if auto and ctx.physical is not None and not ctx.current_reachable:
            from .core.migration import auto_migrate as migrate

            notice = migrate(self, ctx)
            if notice and ctx.current_name not in self._announced:
                self._announced.add(ctx.current_name)
                ctx.notices.append(notice)
        return ctx


#: Operation name -> "module:function". Each function is ``fn(ws, **params)`` returning JSON.
OPERATIONS: dict[str, str] = {
    "status": "workspace_qdrant_mcp.status:workspace_status",
    "ingest": "workspace_qdrant_mcp.ingest.pipeline:ingest",
    "search": "workspace_qdrant_mcp.search:search",
    "store_note": "workspace_qdrant_mcp.notes:store_note",
    "retrieve": "workspace_qdrant_mcp.notes:retrieve",
    "list_aliases": "workspace_qdrant_mcp.core.migration:list_aliases",
    "get_alias": "workspace_qdrant_mcp.core.migration:get_alias",
    "plan_update_remote": "workspace_qdrant_mcp.core.migration:plan_update_remote",
    "plan_update_path": "workspace_qdrant_mcp.core.migration:plan_update_path",
    "apply_plan": "workspace_qdrant_mcp.core.migration:apply_plan",
    "remove_alias": "workspace_qdrant_mcp.core.migration:remove_alias",
    "alias_switch": "workspace_qdrant_mcp.core.alias_ops:alias_switch",
    "history": "workspace_qdrant_mcp.core.migration:history",
    "undo": "workspace_qdrant_mcp.core.migration:undo",
    "doctor": "workspace_qdrant_mcp.core.migration:doctor",
    "stale_aliases": "workspace_qdrant_mcp.core.migration:stale_aliases",
    "ping": "workspace_qdrant_mcp.api:ping",
}

_resolved: dict[str, Callable[..., Any]] = {}


def resolve_operation(name: str) -> Callable[..., Any]:
    """The function behind an operation name."""
    if name not in OPERATIONS:
        raise InvalidArgument(f"Unknown operation {name!r}.")
    fn = _resolved.get(name)
    if fn is None:
        module_name, attr = OPERATIONS[name].split(":")
        fn = getattr(importlib.import_module(module_name), attr)
        _resolved[name] = fn
    return fn


def ping(ws: Workspace) -> dict[str, Any]:
    """A cheap round trip (service health checks)."""
    return {"ok": True, "engine": ws.settings.engine_description()}


#: Operations that act on "the project": the workspace service runs elsewhere (cwd "/"),
#: so the caller's own working directory travels with the call, as an absolute path.
PROJECT_OPS = frozenset(
    {
        "status",
        "ingest",
        "search",
        "store_note",
        "retrieve",
        "plan_update_remote",
        "plan_update_path",
    }
)

def absolute_paths(op: str, params: dict[str, Any], settings: Settings) -> dict[str, Any]:
    """Path parameters made absolute in the caller's terms, whichever backend runs the op."""
    fixed = dict(params)
    if op in PROJECT_OPS and fixed.get("project_path") is None:
        fixed["project_path"] = str(settings.project_path or Path.cwd())
    for key in ("project_path", "old_path"):
        if fixed.get(key) is not None:
            fixed[key] = os.path.abspath(os.path.expanduser(str(fixed[key])))
    return fixed


class Backend(Protocol):
    """Something that runs operations: in-process or through the workspace service."""

    def call(self, op: str, progress: Progress | None = None, **params: Any) -> Any:
        """Run operation ``op`` with ``params``; ``progress`` receives progress events."""
        ...

    def close(self) -> None:
        """Release the backend."""
        ...


class LocalBackend:
    """Runs operations in this process on a workspace it opens itself."""

    def __init__(
        self, settings: Settings | None = None, workspace: Workspace | None = None
    ) -> None:
        self.workspace = workspace or Workspace(settings)
        self._opened = False
        self._lock = threading.RLock()

    def call(self, op: str, progress: Progress | None = None, **params: Any) -> Any:
        """Run ``op`` in-process (calls are serialised: the embedded store is not thread-safe)."""
        fn = resolve_operation(op)
        with self._lock:
            if not self._opened:
                self.workspace.open()
                self._opened = True
            params = absolute_paths(op, params, self.workspace.settings)
            if progress is not None:
                params["progress"] = progress
            return fn(self.workspace, **params)

    def close(self) -> None:
        """Close the workspace."""
        with self._lock:
            if self._opened:
                self.workspace.close()
                self._opened = False


def open_backend(settings: Settings | None = None) -> Backend:
    """The backend front ends should use for these settings."""
    resolved = settings or Settings.from_env()
    if resolved.service == "auto":
        from .service.client import ServiceBackend

        return ServiceBackend(resolved)
    return LocalBackend(resolved)
