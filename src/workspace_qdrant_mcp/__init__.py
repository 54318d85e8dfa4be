"""wqm: a project-scoped knowledge workspace on Qdrant whose data survives every rename.

The public API, importable from here::

    from workspace_qdrant_mcp import open_client          # typed client (service or in-process)
    from workspace_qdrant_mcp import Workspace            # engine + registry + models, in-process
    from workspace_qdrant_mcp import QdrantWorkspaceClient, AliasManager, CollectionAlias  # seed API

Names are resolved on first use (PEP 562), so importing a submodule, as every
``wqm`` command does, does not load qdrant-client or the models.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

#: Public name -> the module that defines it.
_EXPORTS = {
    "AliasChange": "core.collection_aliases",
    "AliasManager": "core.collection_aliases",
    "CollectionAlias": "core.collection_aliases",
    "QdrantWorkspaceClient": "core.client",
    "SQLiteStateManager": "core.state",
    "Settings": "config",
    "WqmError": "core.errors",
    "Workspace": "workspace.workspace",
    "WorkspaceClient": "backends.client",
    "open_client": "backends.client",
}

__all__ = [
    "AliasChange",
    "AliasManager",
    "CollectionAlias",
    "QdrantWorkspaceClient",
    "SQLiteStateManager",
    "Settings",
    "Workspace",
    "WorkspaceClient",
    "WqmError",
    "__version__",
    "open_client",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value
