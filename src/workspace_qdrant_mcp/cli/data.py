"""``wqm ingest``, ``wqm search``, ``wqm status``: the data commands.

Each command parses its options, makes one backend call and renders the
result (cli/render_data.py); the work itself lives in the library
(ingest/pipeline.py, search.py, status.py) so the MCP server does the same.
"""

from __future__ import annotations

from enum import Enum
from typing import Annotated

import typer

from .output import (
    FORMAT_OPTION,
    TEXT_FORMAT_OPTION,
    Format,
    ProjectArgument,
    ProjectOption,
    TextFormat,
    client,
    notices,
    project_of,
)
from .render_data import (
    IngestProgress,
    render_index_started,
    render_ingest,
    render_search,
    render_status,
    render_watch,
)


class Mode(str, Enum):
    """Search modes."""

    hybrid = "hybrid"
    dense = "dense"
    sparse = "sparse"


def ingest(
    path: ProjectArgument = None,
    project: ProjectOption = None,
    detach: Annotated[bool, typer.Option(
        "--detach", help="Start indexing in the background and return at once.")] = False,
    fmt: TextFormat = TEXT_FORMAT_OPTION,
) -> None:
    """Index the project at PATH: new and changed files are embedded, deleted ones removed.

    Only what git would not ignore is read. The index is searchable by keyword
    within seconds and complete (meaning too) at the end; --detach returns at
    once and `wqm status` shows the progress.
    """
    path = project_of(path, project)
    with client() as c:
        if detach:
            started = c.index(path)
            notices(started)
            render_index_started(started, fmt)
            return
        with IngestProgress() as progress:
            result = c.ingest(path, progress=progress)
    notices(result)
    render_ingest(result, fmt)


class Switch(str, Enum):
    """on or off."""

    on = "on"
    off = "off"


def watch(
    state: Annotated[Switch, typer.Argument(help="on or off.", case_sensitive=False)],
    path: ProjectArgument = None,
    project: ProjectOption = None,
    fmt: TextFormat = TEXT_FORMAT_OPTION,
) -> None:
    """Turn watching of the project's folder on or off (on: saved files are re-indexed).

    The workspace service watches every indexed project by default and
    re-indexes a saved file within seconds; off stops that for this project
    (`wqm ingest` still brings its index up to date).
    """
    with client() as c:
        result = c.watch(state is Switch.on, project_of(path, project))
    render_watch(result, fmt)


def search(
    query: Annotated[str, typer.Argument(help="What to look for, in words or identifiers.")],
    project: ProjectOption = None,
    collection: Annotated[str | None, typer.Option(
        "--collection", help="Search this name (any name of the project, old or new).")] = None,
    mode: Annotated[Mode, typer.Option(
        "--mode", help="hybrid (meaning + keywords), dense or sparse.",
        case_sensitive=False)] = Mode.hybrid,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, max=100,
                                       help="Number of results (1-100).")] = 10,
    path_glob: Annotated[str | None, typer.Option(
        "--path-glob", help="Only paths matching this glob ('*' crosses folders).")] = None,
    language: Annotated[str | None, typer.Option(
        "--language", help="Only this language (e.g. python).")] = None,
    symbol: Annotated[str | None, typer.Option(
        "--symbol", help=("Only chunks of this definition: its qualified name or its last "
                          "parts (get_user, Client.get_user)."))] = None,
    fmt: Format = FORMAT_OPTION,
) -> None:
    """Search the project's files and notes by meaning, keyword and symbol name."""
    with client() as c:
        result = c.search(query, project_path=project, collection=collection, mode=mode.value,
                          limit=limit, path_glob=path_glob, language=language, symbol=symbol)
    notices(result)
    render_search(result, fmt)


def status(path: ProjectArgument = None, project: ProjectOption = None,
           fmt: Format = FORMAT_OPTION) -> None:
    """Show the project's names, its collection, what is indexed and where the data lives."""
    with client() as c:
        result = c.status(project_of(path, project))
    notices(result)
    render_status(result, fmt)


def register(app: typer.Typer) -> None:
    """Add ``ingest``, ``search`` and ``status`` to ``app``."""
    app.command("ingest")(ingest)
    app.command("search")(search)
    app.command("status")(status)
    app.command("watch")(watch)
