"""``ping``: a cheap round trip that proves the workspace answers (service health checks)."""

from __future__ import annotations

from typing import Any

from ..workspace.workspace import Workspace
from .registry import operation


@operation(read_only=True)
def ping(ws: Workspace) -> dict[str, Any]:
    """A cheap round trip: the workspace is open and says where its data lives."""
    return {"ok": True, "engine": ws.settings.engine_description()}
