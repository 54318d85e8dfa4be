"""``rebuild_models``: the way out of every model error (a missing, damaged or stale file).

Verifies the weights (re-fetching the hash-pinned copy when the cached one is
damaged) and rebuilds the derived files (ONNX graphs, int8 graph, static table)
of the configured embedding recipe (``embed/recipes.py``). It needs no store,
so it runs even when the workspace cannot open.
"""

from __future__ import annotations

from typing import Any

from ..embed.recipes import rebuild_models as rebuild
from ..workspace.workspace import Workspace
from .registry import operation


@operation(retry_safe=True, timeout="long", needs_open=False)
def rebuild_models(ws: Workspace) -> dict[str, Any]:
    """Verify the model weights and rebuild the derived model files; what was done."""
    return rebuild(ws.settings)
