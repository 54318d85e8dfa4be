"""The ``wqm`` command: a thin front end over ``workspace_qdrant_mcp.api``.

Every command parses its options, runs one library operation through a
backend and renders the result. A ``WqmError`` is caught once, here, and shown
as one ``Error: ...`` line on stderr with exit code 1 (usage errors exit 2).
"""

from __future__ import annotations

import difflib
import sys
from typing import Annotated, Any

import click
import typer
from click.exceptions import ClickException, UsageError
from typer.core import TyperGroup

from .. import __version__
from ..core.errors import WqmError
from .output import printable


class WqmGroup(TyperGroup):
    """Turns library errors into click's one-line ``Error:`` message and exit code 1.

    A mistyped command gets one suggestion line (click and typer each add their
    own otherwise), and exits 2 like every usage error.
    """

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        name = args[0] if args else ""
        if name and not name.startswith("-") and self.get_command(ctx, name) is None:
            close = difflib.get_close_matches(name, self.list_commands(ctx), n=2, cutoff=0.6)
            hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
            raise UsageError(f"No such command {name!r}.{hint} `wqm --help` lists them.", ctx)
        return super().resolve_command(ctx, args)

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except WqmError as exc:
            raise ClickException(printable(str(exc))) from None
        except KeyboardInterrupt:
            print(
                "Interrupted; nothing was left half-done. Re-run the command to finish.",
                file=sys.stderr,
            )
            raise typer.Exit(130) from None


app = typer.Typer(
    cls=WqmGroup,
    name="wqm",
    help="A project-scoped knowledge workspace on Qdrant: every name a project has had keeps working.",
    no_args_is_help=True,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"wqm {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Show the version and exit."
    ),
) -> None:
    """wqm: search your project by meaning and keyword, under any name it has had."""


CommandWords = Annotated[list[str] | None, typer.Argument(
    help="The command to explain, e.g. project undo.", show_default=False)]


@app.command("help")
def help_command(command: CommandWords = None) -> None:
    """Show the help of wqm, or of COMMAND (`wqm help project undo`)."""
    root = typer.main.get_command(app)
    context = click.Context(root, info_name="wqm", help_option_names=["-h", "--help"])
    target: Any = root
    words = command or []
    for word in words:
        nxt = target.get_command(context, word) if hasattr(target, "get_command") else None
        if nxt is None:
            raise UsageError(f"No such command {' '.join(words)!r}; `wqm --help` lists them.")
        context = click.Context(nxt, info_name=word, parent=context)
        target = nxt
    typer.echo(target.get_help(context))


def _register() -> None:
    from . import dashboard, data, engine, maintenance, mcp_cmd, models, notes, project, service

    data.register(app)
    maintenance.register(app)
    models.register(app)
    notes.register(app)
    project.register(app)
    service.register(app)
    mcp_cmd.register(app)
    dashboard.register(app)
    engine.register(app)


_register()


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except WqmError as exc:  # raised outside a command (e.g. while building settings)
        print(f"Error: {exc}", file=sys.stderr)
        sys.exit(1)
