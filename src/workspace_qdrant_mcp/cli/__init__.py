"""The ``wqm`` command: a thin front end over ``workspace_qdrant_mcp.api``.

Every command parses its options, runs one library operation through a
backend and renders the result. A ``WqmError`` is caught once, here, and shown
as one ``Error: ...`` line on stderr with exit code 1 (usage errors exit 2).
"""

from __future__ import annotations

import sys
from typing import Any

import typer
from click.exceptions import ClickException
from typer.core import TyperGroup

from .. import __version__
from ..core.errors import WqmError


class WqmGroup(TyperGroup):
    """Turns library errors into click's one-line ``Error:`` message and exit code 1."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except WqmError as exc:
            raise ClickException(str(exc)) from None
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


def _register() -> None:
    from . import data, engine, mcp_cmd, project, service

    data.register(app)
    project.register(app)
    service.register(app)
    mcp_cmd.register(app)
    engine.register(app)


_register()


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except WqmError as exc:  # raised outside a command (e.g. while building settings)
        print(f"Error: {exc}", file=sys.stderr)
        sys.exit(1)
