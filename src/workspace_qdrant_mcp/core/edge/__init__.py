"""The embedded engine that scales: Qdrant's own engine in-process (qdrant-edge) behind
the qdrant-client API, with Qdrant's alias semantics kept in a SQLite catalog."""

from .client import BrokenShard, EdgeClient
from .optimizer import OptimizePolicy

__all__ = ["BrokenShard", "EdgeClient", "OptimizePolicy"]
