"""``wqm notes delete``: remove a stored note (notes are stored by assistants, or `store`)."""

from __future__ import annotations

import typer

from .output import TEXT_FORMAT_OPTION, ProjectOption, TextFormat, client, console, print_json
from .render_project import cancelled, confirm_always

notes_app = typer.Typer(
    name="notes",
    help="Notes stored beside the project's files: delete one.",
    no_args_is_help=True,
    rich_markup_mode=None,
)


@notes_app.command("delete")
def delete(
    note_id: str = typer.Argument(..., metavar="ID", help="The note's id (as `store` gave it)."),
    project_path: ProjectOption = None,
    collection: str | None = typer.Option(None, "--collection",
                                          help="The name of the data it is in."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
    fmt: TextFormat = TEXT_FORMAT_OPTION,
) -> None:
    """Delete the note ID (all of its chunks); asks first unless --yes. Not undoable."""
    if not confirm_always(f"Delete note {note_id}? This cannot be undone.", skip=yes):
        cancelled()
    with client() as c:
        result = c.delete_note(note_id, collection=collection, project_path=project_path)
    if fmt is TextFormat.json:
        print_json(result)
        return
    console.print(f"Deleted note {result['id']} ({result['chunks']} chunks) from "
                  f"{result['collection']}.", markup=False)


def register(app: typer.Typer) -> None:
    """Add ``wqm notes`` to ``app``."""
    app.add_typer(notes_app, name="notes")
