"""QdrantWorkspaceClient: one engine (embedded or server), one registry, one alias manager.

The seed's contract: ``QdrantWorkspaceClient()`` with ``.client`` (a
qdrant-client ``QdrantClient``), ``.state_manager`` (the SQLite registry) and
``await initialize()``. Both stores open lazily, so ``client.client`` works
before ``initialize()`` as the seed's example expects.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any, cast

from qdrant_client import QdrantClient

from ..config import Settings, display_url
from . import engines, faults, local_accel
from .collection_aliases import AliasManager
from .disk import disk_trouble, way_out
from .edge import EdgeClient
from .errors import ConfigError, RegistryError, StoreError, StoreLocked
from .runfiles import ServicePaths, file_in_the_way, read_pid_info
from .state import SQLiteStateManager
from .switchable import SwitchableEngine


def open_qdrant(settings: Settings) -> QdrantClient:
    """Open the engine the settings name: a server URL, else the data directory's embedded store.

    The embedded engine is the one the data directory records (``core/engines.py``;
    recorded on first open). It is handed out behind a ``SwitchableEngine`` so
    that an engine move can replace it for every holder in one step.
    """
    if settings.qdrant_url:
        try:
            return QdrantClient(url=settings.qdrant_url, api_key=settings.qdrant_api_key)
        except Exception as exc:  # noqa: BLE001 - any failure means the URL is unusable
            raise StoreError(
                f"Cannot use the Qdrant server at {display_url(settings.qdrant_url)}: "
                f"{type(exc).__name__}; check QDRANT_URL."
            ) from None
    try:
        record = engines.ensure_recorded(settings.data_dir, settings.engine)
    except OSError as exc:
        raise StoreError(
            f"Cannot record the engine of {settings.data_dir} ({exc.strerror or exc}); wqm needs "
            "a writable data directory."
        ) from None
    marker = None
    if record.other is not None and record.other.state == "kept":
        data_dir = settings.data_dir

        def marker() -> None:
            engines.mark_other_stale(data_dir)

    engine = SwitchableEngine(open_store(settings, record.engine), record.engine, marker)
    return cast(QdrantClient, engine)


def open_store(settings: Settings, engine: str) -> Any:
    """The raw embedded store of ``engine`` in the data directory (``local`` or ``edge``)."""
    if engine == "edge":
        return open_edge(settings)
    return open_local(settings)


def open_local(settings: Settings) -> QdrantClient:
    """qdrant-client's local mode on ``<data dir>/qdrant``, with wqm's sparse accelerator."""
    _make_dir(settings.qdrant_path, "the Qdrant storage folder")
    local_accel.install()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return QdrantClient(path=str(settings.qdrant_path))
    except RuntimeError as exc:
        if "already accessed" in str(exc):
            holder = read_pid_info(ServicePaths.for_settings(settings))
            if holder is not None:
                raise StoreLocked(
                    f"The embedded store {settings.qdrant_path} is held by the wqm workspace "
                    f"service (pid {holder.get('pid', '?')}); go through `wqm` or the MCP server, "
                    "or stop it with `wqm service stop`."
                ) from None
            raise StoreLocked(
                f"The embedded store {settings.qdrant_path} is open in another process; "
                "use the wqm CLI or MCP server (they share it through the workspace service), "
                "or stop that process."
            ) from None
        raise _unreadable(settings, exc) from None
    except Exception as exc:  # noqa: BLE001 - a damaged store fails in many ways (JSON, pickle)
        raise _unreadable(settings, exc) from None


def _unreadable(settings: Settings, exc: BaseException) -> StoreError:
    """One sentence for an embedded store that cannot be opened, with the way out."""
    trouble = disk_trouble(settings.qdrant_path)
    if trouble is not None:  # not damage: moving the store away would lose notes for nothing
        return StoreError(
            f"Cannot open the embedded store {settings.qdrant_path}: {trouble}; {way_out(trouble)}."
        )
    detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return StoreError(
        f"Cannot open the embedded store {settings.qdrant_path} ({type(exc).__name__}: "
        f"{detail[:200]}); it is damaged: move it away (the index is rebuilt by `wqm ingest`, "
        "notes stored in it are lost) or restore it from a backup."
    )


def open_edge(settings: Settings) -> QdrantClient:
    """Open the Edge store: qdrant-edge shards behind the client API.

    ``EdgeClient`` offers the part of ``QdrantClient`` wqm calls, with the same
    ``models`` types in and out; it is not a subclass, hence the cast.
    """
    _make_dir(settings.edge_path, "the Edge store folder")  # a file there: say so, once
    try:
        return cast(QdrantClient, EdgeClient(settings.edge_path))
    except StoreLocked:
        holder = read_pid_info(ServicePaths.for_settings(settings))
        if holder is None:
            raise
        raise StoreLocked(
            f"The embedded store {settings.edge_path} is held by the wqm workspace "
            f"service (pid {holder.get('pid', '?')}); go through `wqm` or the MCP server, "
            "or stop it with `wqm service stop`."
        ) from None


def _make_dir(path: Path, what: str, mode: int = 0o777) -> None:
    """Create the folder ``path`` (``what`` names it), or say in one sentence why it cannot be."""
    try:
        path.mkdir(parents=True, exist_ok=True, mode=mode)
    except OSError as exc:
        blocker = file_in_the_way(path)
        if blocker is not None:
            inside = "" if blocker == path else f" {path}"
            raise ConfigError(
                f"{blocker} is a file where wqm keeps {what}{inside}; move it away, "
                "or set WQM_DATA_DIR to another folder."
            ) from None
        raise ConfigError(
            f"Cannot create {what} {path} ({exc.strerror or type(exc).__name__}); "
            "fix its permissions or free space, or set WQM_DATA_DIR to another folder."
        ) from None


class QdrantWorkspaceClient:
    """The workspace's storage: Qdrant for data and routing, SQLite for intent and history."""

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or Settings.from_env()
        faults.arm(self.settings.fault_point)
        # The registry names every project folder and remote: keep a new data dir private.
        _make_dir(self.settings.data_dir, "its data folder", mode=0o700)
        self.state_manager = SQLiteStateManager(self.settings.registry_path)
        self._client: QdrantClient | None = None
        self._aliases: AliasManager | None = None
        self.initialized = False

    @property
    def client(self) -> QdrantClient:
        """The qdrant-client object (opened on first use)."""
        if self._client is None:
            self._client = open_qdrant(self.settings)
        return self._client

    @property
    def aliases(self) -> AliasManager:
        """The alias manager bound to this client and registry."""
        if self._aliases is None:
            self._aliases = AliasManager(self.client, self.state_manager)
        return self._aliases

    async def initialize(self) -> None:
        """Open both stores, migrate the registry and recover any change left pending."""
        self.initialize_sync()

    def initialize_sync(self) -> None:
        """Synchronous twin of ``initialize``."""
        self.state_manager.initialize_sync()
        self.aliases.initialize_sync()
        self.initialized = True

    def engine_description(self) -> str:
        """Where the data lives (never includes a key)."""
        return self.settings.engine_description()

    def replace_registry(self, keep_as: Path) -> None:
        """Move a damaged registry file aside (to ``keep_as``) and start an empty one in its place.

        Qdrant is the routing truth, so ``reconcile(fix=True)`` then adopts every
        alias it holds; the audit history and usage counts stay in the old file.
        """
        self.state_manager.close_quietly()
        path = self.settings.registry_path
        for suffix in ("", "-wal", "-shm"):
            source = path.with_name(path.name + suffix)
            if source.exists():
                try:
                    source.replace(keep_as.with_name(keep_as.name + suffix))
                except OSError as exc:
                    raise RegistryError(
                        f"Cannot move the damaged registry {source} aside "
                        f"({exc.strerror or type(exc).__name__}); make its folder writable "
                        "and run `wqm project doctor --fix` again."
                    ) from None
        self.state_manager = SQLiteStateManager(path)
        self._aliases = None

    async def close(self) -> None:
        """Flush usage counts and close both stores."""
        self.close_sync()

    def close_sync(self) -> None:
        """Synchronous twin of ``close``."""
        self.state_manager.close()
        if self._client is not None:
            try:
                self._client.close()
            finally:
                self._client = None
                self._aliases = None
