"""Rendering helpers shared by every command: formats, JSON, tables, notices.

Only data goes to stdout (so ``--format json`` output can be piped); notices,
progress and errors go to stderr.
"""

from __future__ import annotations

import json
import os
import re
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console

from ..backends.client import WorkspaceClient, open_client
from ..config import Settings

console = Console(highlight=False, soft_wrap=True)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)
T = TypeVar("T")


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


#: The one spelling of "which project": ``--project``/``-p`` on every command that takes one
#: (``--project-path`` is the seed's spelling, kept working). ingest, status, watch and
#: reindex also take the folder as their argument.
ProjectOption = Annotated[Path | None, typer.Option(
    "--project", "-p", "--project-path",
    help="Project folder (default: the current directory).", show_default=False)]
ProjectArgument = Annotated[Path | None, typer.Argument(
    help="Project folder (default: the current directory; same as --project).",
    show_default=False)]


def project_of(argument: Path | None, option: Path | None) -> Path | None:
    """The project a command names, as argument or option (both: they must agree)."""
    if argument is not None and option is not None and (
            os.path.abspath(argument) != os.path.abspath(option)):
        raise typer.BadParameter(f"the folder {argument} and --project {option} differ; "
                                 "give one of them.")
    return option if option is not None else argument


def client() -> WorkspaceClient:
    """The workspace client for this command (settings from the environment)."""
    return open_client(Settings.from_env())


#: Characters that can drive a terminal or reorder what it shows: C0/C1 controls and the
#: bidirectional overrides and isolates (U+202A-U+202E, U+2066-U+2069, marks U+200E/F).
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def printable(text: object, keep_newlines: bool = False) -> str:
    """``text`` safe to print to a terminal: every unsafe character shown as an escape.

    Human output only (JSON stays exact): file contents, paths and names come
    from files nobody vetted, and an ESC sequence or U+202E in them must not
    recolour, move or reorder what the user reads. Tabs and (one-line fields)
    newlines are escaped too, so a field never spills into the next.
    """
    value = str(text)

    def escape(match: re.Match[str]) -> str:
        char = match.group(0)
        if keep_newlines and char == "\n":
            return char
        code = ord(char)
        return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"

    return _UNSAFE.sub(escape, value)


def safe(data: T) -> T:
    """A copy of a result with every string made ``printable`` (for human renderers only)."""
    if isinstance(data, str):
        return printable(data)  # type: ignore[return-value]
    if isinstance(data, dict):
        return {key: safe(value) for key, value in data.items()}  # type: ignore[return-value]
    if isinstance(data, list):
        return [safe(item) for item in data]  # type: ignore[return-value]
    return data


def print_json(data: Any) -> None:
    """Write ``data`` as indented JSON to stdout."""
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")
    sys.stdout.flush()


def notice(message: str) -> None:
    """A one-line message for humans on stderr."""
    err_console.print(printable(message), markup=False)


def notices(result: Any) -> None:
    """Print the ``notices`` a result carries (e.g. an automatic migration), once."""
    if isinstance(result, dict):
        for message in result.get("notices") or []:
            notice(message)


def is_terminal() -> bool:
    """True when stdin and stdout are a terminal (prompts and progress bars make sense)."""
    return sys.stdin.isatty() and sys.stdout.isatty()
