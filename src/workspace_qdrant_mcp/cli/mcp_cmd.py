"""``wqm mcp``: run the MCP server over stdio (the same server as ``workspace-qdrant-mcp``).

Both entry points exist so that a client can be pointed at whichever command
is on its PATH; they build the same server from the same settings.
"""

from __future__ import annotations

import typer

from ..config import Settings


def mcp() -> None:
    """Serve the MCP tools over stdio for an AI assistant (stdout is the protocol).

    The project is the client's first root, else WQM_PROJECT_PATH, else the
    working directory. Register it with e.g. `claude mcp add wqm -- wqm mcp`.
    """
    from ..mcp_server import serve  # the MCP SDK loads only for this command

    serve(Settings.from_env())


def register(app: typer.Typer) -> None:
    """Add ``wqm mcp`` to ``app``."""
    app.command("mcp")(mcp)
