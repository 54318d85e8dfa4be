"""What a backend is: something that runs operations by name, in-process or elsewhere."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

Progress = Callable[[dict[str, Any]], None]


class Backend(Protocol):
    """Runs operations: in this process (``LocalBackend``) or in the workspace service."""

    def call(self, op: str, progress: Progress | None = None, **params: Any) -> Any:
        """Run operation ``op`` with ``params``; ``progress`` receives progress events."""
        ...

    def operations(self) -> dict[str, dict[str, Any]]:
        """The operation table (``ops.registry.describe()``) of whatever runs the calls."""
        ...

    def close(self) -> None:
        """Release the backend."""
        ...
