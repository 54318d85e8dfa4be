"""``ping``: a cheap round trip that proves the workspace answers (service health checks)."""

from __future__ import annotations

from ..workspace.workspace import Workspace
from .registry import operation
from .results import Ping


@operation(read_only=True)
def ping(ws: Workspace) -> Ping:
    """A cheap round trip: the workspace is open and says where its data lives."""
    return {"ok": True, "engine": ws.settings.engine_description()}
