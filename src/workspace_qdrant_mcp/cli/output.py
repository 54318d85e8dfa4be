"""Rendering helpers shared by every command: formats, JSON, tables, notices.

Only data goes to stdout (so ``--format json`` output can be piped); notices,
progress and errors go to stderr.
"""

from __future__ import annotations

import json
import sys
from enum import Enum
from typing import Any

import typer
from rich.console import Console

from ..backends.client import WorkspaceClient, open_client
from ..config import Settings

console = Console(highlight=False, soft_wrap=True)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)


class Format(str, Enum):
    """Output formats of read commands."""

    table = "table"
    json = "json"
    simple = "simple"


class TextFormat(str, Enum):
    """Output formats of change commands."""

    text = "text"
    json = "json"


FORMAT_OPTION = typer.Option(
    Format.table,
    "--format",
    "-f",
    help="Output format: table, json or simple.",
    case_sensitive=False,
)
TEXT_FORMAT_OPTION = typer.Option(
    TextFormat.text, "--format", "-f", help="Output format: text or json.", case_sensitive=False
)


def client() -> WorkspaceClient:
    """The workspace client for this command (settings from the environment)."""
    return open_client(Settings.from_env())


def print_json(data: Any) -> None:
    """Write ``data`` as indented JSON to stdout."""
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")
    sys.stdout.flush()


def notice(message: str) -> None:
    """A one-line message for humans on stderr."""
    err_console.print(message, markup=False)


def notices(result: Any) -> None:
    """Print the ``notices`` a result carries (e.g. an automatic migration), once."""
    if isinstance(result, dict):
        for message in result.get("notices") or []:
            notice(message)


def is_terminal() -> bool:
    """True when stdin and stdout are a terminal (prompts and progress bars make sense)."""
    return sys.stdin.isatty() and sys.stdout.isatty()
