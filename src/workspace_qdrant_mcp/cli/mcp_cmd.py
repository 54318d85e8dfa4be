"""Placeholder until its issue lands: registers no commands yet."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
