"""Entry point named in the brief: the Edge adapter lives in the ``core.edge`` package."""

from .edge import BrokenShard, EdgeClient, OptimizePolicy

__all__ = ["BrokenShard", "EdgeClient", "OptimizePolicy"]
