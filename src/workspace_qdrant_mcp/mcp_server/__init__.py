"""The MCP front end: the assistant's view of the workspace, over stdio (``server.py``).

``render.py`` shapes results for an assistant: compact, each fact once.
"""

from __future__ import annotations

from .server import SERVER_NAME, WorkspaceTools, build_server, main, serve, tool_table

__all__ = ["SERVER_NAME", "WorkspaceTools", "build_server", "main", "serve", "tool_table"]
