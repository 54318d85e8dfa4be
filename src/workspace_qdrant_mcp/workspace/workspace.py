"""The workspace: engine, registry and models for one data directory.

A ``Workspace`` is what every operation receives. It opens the stores (through
the seed's ``QdrantWorkspaceClient``), loads the embedding models once per
process on first use, and answers "which project is this folder, and where is
its data" (``project()``), applying an identity change automatically when the
project's current name does not reach its data yet.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from qdrant_client import QdrantClient

from ..config import Settings
from ..core.client import QdrantWorkspaceClient
from ..core.collection_aliases import AliasManager
from ..core.errors import Cancelled, RegistryError
from ..core.identity import detect_identity
from ..core.state import SQLiteStateManager
from ..embed.recipes import Embedder
from ..embed.sparse import SparseEmbedder
from . import migration
from .jobs import JobManager
from .models import Models
from .projects import ProjectContext, locate_project

log = logging.getLogger(__name__)


class Workspace:
    """Engine, registry and models for one data directory."""

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or Settings.from_env()
        self.storage = QdrantWorkspaceClient(self.settings)
        self.models = Models(self.settings)
        self.jobs = JobManager()
        #: Called when a project's watching is turned on or off (the service's watcher).
        self.watch_listeners: list[Callable[[], None]] = []
        #: The project roots watched now (the service's keeper sets it; nothing watches elsewhere).
        self.watching: Callable[[], set[str]] = set
        self._announced: set[str] = set()
        self._open_lock = threading.Lock()
        self._opened = False
        #: Set when the service is stopping: long operations stop at their next step.
        self.stopping = threading.Event()

    def open(self) -> Workspace:
        """Open both stores and recover pending alias changes."""
        with self._open_lock:
            self.storage.initialize_sync()
            self._opened = True
        return self

    def ensure_open(self) -> None:
        """Open the stores unless they are open (a failed open is tried again next time)."""
        if not self._opened:
            self.open()

    def close(self) -> None:
        """Flush usage and close the stores."""
        with self._open_lock:
            self._opened = False
            self.storage.close_sync()

    def rebuild_registry(self) -> Path:
        """Move the damaged registry aside and open a fresh one; returns where the old one went."""
        with self._open_lock:
            stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
            kept = self.settings.registry_path.with_name(f"registry.db.damaged-{stamp}")
            self.storage.replace_registry(kept)
            self._opened = False
        return kept

    def settle(self, strict: bool = True) -> None:
        """Finish or roll back alias changes left pending (see ``AliasManager.settle``).

        Not ``strict`` (a read-only operation): a registry that cannot be written
        yet does not stop a read; the next write reports it.
        """
        try:
            self.aliases.settle()
        except RegistryError as exc:
            if strict:
                raise
            log.warning("pending alias changes could not be settled yet: %s", exc)

    def watch_changed(self) -> None:
        """Tell whoever watches projects (the service) to re-read which ones to watch."""
        for listener in self.watch_listeners:
            listener()

    def check_stopping(self, what: str) -> None:
        """Raise ``Cancelled`` when the service is stopping (long loops call this per step)."""
        if self.stopping.is_set():
            raise Cancelled(
                f"The workspace service is stopping, so {what} stopped early; run it again "
                "to finish: it resumes where it left off."
            )

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
        """The dense embedder of the current recipe (loaded once per process, on first use)."""
        return self.models.dense()

    @property
    def sparse(self) -> SparseEmbedder:
        """The BM25 sparse embedder."""
        return self.models.sparse()

    def project(
        self, path: str | Path | None = None, *, auto_migrate: bool | None = None
    ) -> ProjectContext:
        """The project at ``path`` (default: the configured project, else the working directory).

        When the project's current name reaches no data but an earlier identity
        of the same root does, the current name is added as an alias
        (``created_by="auto"``) unless automatic migration is off; the notice is
        attached to the context once per process and project.
        """
        target = path if path is not None else (self.settings.project_path or Path.cwd())
        ctx = locate_project(self.aliases, detect_identity(target))
        auto = self.settings.auto_migrate if auto_migrate is None else auto_migrate
        if auto and ctx.physical is not None and not ctx.current_reachable:
            notice = migration.auto_migrate(self, ctx)
            if notice and ctx.current_name not in self._announced:
                self._announced.add(ctx.current_name)
                ctx.notices.append(notice)
        return ctx
