"""``wqm reindex`` and ``wqm gc``: rebuild an index without downtime, remove retired ones.

Each command parses its options, makes one call and renders the result
(``cli/render_data.py``); the rebuild itself is ``workspace/rebuild.py``.
"""

from __future__ import annotations

from typing import Annotated

import typer

from .output import (
    TEXT_FORMAT_OPTION,
    ProjectArgument,
    ProjectOption,
    TextFormat,
    client,
    notices,
    project_of,
)
from .render_data import IngestProgress, render_gc, render_reindex
from .render_project import cancelled, confirm_always


def reindex(
    path: ProjectArgument = None,
    project: ProjectOption = None,
    detach: Annotated[bool, typer.Option(
        "--detach", help="Start the rebuild in the background and return at once.")] = False,
    fmt: TextFormat = TEXT_FORMAT_OPTION,
) -> None:
    """Rebuild the project's index beside the old one, then move every name to it at once.

    Searches keep answering from the old index until the switch; notes and
    edits made meanwhile reach the new one. The old index is kept, so `wqm
    project undo` switches back; `wqm gc` removes it later. Refused before
    anything is built when there is no index or not enough disk space.
    """
    path = project_of(path, project)
    with client() as c:
        if detach:
            result = c.reindex(path, detach=True)
        else:
            with IngestProgress() as progress:
                result = c.reindex(path, progress=progress)
    notices(result)
    render_reindex(result, fmt)


def gc(
    dry_run: Annotated[bool, typer.Option(
        "--dry-run", help="List what would be removed; remove nothing.")] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    fmt: TextFormat = TEXT_FORMAT_OPTION,
) -> None:
    """Remove the indexes rebuilds replaced (kept for undo); never one a name still reaches.

    Asks first unless --yes (off a terminal the answer is read from stdin; no
    answer means no). Removed indexes cannot be brought back by undo.
    """
    with client() as c:
        preview = c.gc(dry_run=True)
        if dry_run or not preview["removed"]:
            render_gc(preview, fmt)
            return
        if fmt is TextFormat.text:
            render_gc(preview, fmt)
        if not confirm_always(f"Remove {len(preview['removed'])} retired index(es)?", skip=yes):
            cancelled()
        result = c.gc()
    render_gc(result, fmt)


def register(app: typer.Typer) -> None:
    """Add ``reindex`` and ``gc`` to ``app``."""
    app.command("reindex")(reindex)
    app.command("gc")(gc)
