"""The in-process backend: this process opens the workspace itself (``WQM_SERVICE=off``)."""

from __future__ import annotations

import os
import threading
from typing import Any

from ..config import Settings
from ..ops import registry
from ..workspace.workspace import Workspace
from .base import Progress


class LocalBackend:
    """Runs operations in this process on a workspace it opens on first use."""

    def __init__(
        self, settings: Settings | None = None, workspace: Workspace | None = None
    ) -> None:
        self.workspace = workspace or Workspace(settings)
        self._lock = threading.RLock()

    def call(self, op: str, progress: Progress | None = None, **params: Any) -> Any:
        """Run ``op`` in-process (calls are serialised: the embedded store is not thread-safe)."""
        info = registry.get(op).describe()
        with self._lock:
            settings = self.workspace.settings
            params = registry.prepare_params(info, params, os.getcwd(), settings.project_path)
            return registry.run(self.workspace, op, params, progress)

    def operations(self) -> dict[str, dict[str, Any]]:
        """The operation table of this process."""
        return registry.describe()

    def close(self) -> None:
        """Close the workspace."""
        with self._lock:
            self.workspace.close()
