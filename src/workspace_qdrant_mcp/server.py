"""Placeholder for the MCP server (its own issue)."""

from __future__ import annotations

import sys


def main() -> None:
    """Entry point of ``workspace-qdrant-mcp``."""
    print("workspace-qdrant-mcp: not built yet", file=sys.stderr)
    sys.exit(1)
