"""``wqm project``: move a project to a new identity without copying data, and manage its aliases.

Each command parses its options, calls one operation of ``core/migration.py``
through the backend and renders the result (``cli/render_project.py``).

Confirmation: commands that add or re-point names (``update-remote``,
``update-path``, ``undo``) ask on a terminal unless ``--yes``; off a terminal
they proceed, because every such change is logged and ``wqm project undo``
reverts it. ``remove-alias`` always asks unless ``--force`` or ``--yes``, reading
the answer from stdin off a terminal (no answer means no), because removing a
name can cut off whoever still uses it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from ..backends.client import WorkspaceClient
from . import render_project as render
from .output import (
    FORMAT_OPTION,
    TEXT_FORMAT_OPTION,
    Format,
    ProjectArgument,
    ProjectOption,
    TextFormat,
    client,
    project_of,
)

project_app = typer.Typer(
    name="project",
    help="Keep a project's data reachable when its identity changes, and manage its aliases.",
    no_args_is_help=True,
    rich_markup_mode=None,
)

DRY_RUN = typer.Option(False, "--dry-run", help="Print the plan and change nothing.")
OLD_PATH = typer.Option(..., "--old-path",
                        help="The folder the project was moved from (it need not exist any more).")
YES = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation on a terminal.")


def register(app: typer.Typer) -> None:
    """Add the ``project`` command group to ``app``."""
    app.add_typer(project_app, name="project")


def _carry_out(c: WorkspaceClient, plan: dict[str, Any], fmt: TextFormat, *, dry_run: bool,
               yes: bool, force: bool) -> None:
    """Show a plan, confirm it, apply it, show the outcome; exit 1 when nothing was migrated."""
    render.plan(plan, fmt, dry_run=dry_run)
    if plan["status"] == "nothing_to_do" or dry_run:
        return
    if not render.confirm_on_terminal("Apply this change?", yes):
        render.cancelled()
    result = c.apply_plan(plan, force=force)
    render.plan_applied(result, fmt)
    if result["status"] == "registered":
        raise typer.Exit(1)


@project_app.command("update-remote")
def update_remote(
    project_path: ProjectOption = None,
    dry_run: bool = DRY_RUN,
    yes: bool = YES,
    force: bool = typer.Option(False, "--force", help="Proceed without a git remote, or re-point "
                               "a new name that already reaches other data."),
    fmt: TextFormat = TEXT_FORMAT_OPTION,
) -> None:
    """Give the project its remote-based name as an alias of its data: zero copy, zero downtime.

    The old name keeps working. Asks first on a terminal (unless --yes); off a
    terminal it proceeds (`wqm project undo` reverts it). A second run says there
    is nothing to do (exit 0). Exit 1: no git remote (without --force), the new
    name already reaches other data (without --force), or the project has no data
    yet (its new name is then registered, nothing is migrated).
    """
    with client() as c:
        plan = c.plan_update_remote(project_path, force=force)
        _carry_out(c, plan, fmt, dry_run=dry_run, yes=yes, force=force)


@project_app.command("update-path")
def update_path(
    old_path: Path = OLD_PATH,
    project_path: ProjectOption = None,
    dry_run: bool = DRY_RUN,
    yes: bool = YES,
    force: bool = typer.Option(False, "--force",
                               help="Re-point a new name that already reaches other data."),
    fmt: TextFormat = TEXT_FORMAT_OPTION,
) -> None:
    """Give a moved project's new path-based name to the data of its old path (zero copy).

    Same rules as update-remote: asks on a terminal unless --yes, a second run
    does nothing (exit 0); exit 1 when no data is known under the old path or the
    new name already reaches other data (without --force).
    """
    with client() as c:
        plan = c.plan_update_path(old_path, project_path, force=force)
        _carry_out(c, plan, fmt, dry_run=dry_run, yes=yes, force=force)


@project_app.command("list-aliases")
def list_aliases(
    project_path: ProjectOption = None,
    all_projects: bool = typer.Option(False, "--all", help="Every project's aliases."),
    collection: str | None = typer.Option(None, "--collection", "-c", help="Only the aliases "
                                          "reaching this collection (or this name's data)."),
    fmt: Format = FORMAT_OPTION,
) -> None:
    """List the project's aliases: what each name reaches, who made it, why, and its use.

    --all lists every project's (with a Project column).
    """
    with client() as c:
        rows = c.list_aliases(collection, project_path=project_path, all=all_projects)
    render.alias_list(rows, fmt)


@project_app.command("remove-alias")
def remove_alias(
    name: str | None = typer.Argument(None, help="The alias to remove.", show_default=False),
    old_collection: str | None = typer.Option(None, "--old-collection",
                                              help="The alias to remove (the seed's spelling)."),
    force: bool = typer.Option(False, "--force", help="Do not ask, and remove even the last "
                               "name of a project's data."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
    fmt: TextFormat = TEXT_FORMAT_OPTION,
) -> None:
    """Remove an alias NAME; the data it reached is not touched.

    Shows the alias and asks unless --force or --yes (off a terminal the answer is
    read from stdin: `echo y | wqm project remove-alias NAME`; no answer means no,
    exit 1). Refuses the last name of a project's data unless --force.
    """
    alias = name if name is not None else old_collection
    if alias is None or (name is not None and old_collection not in (None, name)):
        raise typer.BadParameter("give the alias to remove once, as NAME (or --old-collection).")
    with client() as c:
        preview = c.remove_alias(alias, force=force, dry_run=True)
        if fmt is TextFormat.text:
            render.removal_preview(preview)
        if not render.confirm_always(f"Remove alias {alias}?", skip=force or yes):
            render.cancelled()
        result = c.remove_alias(alias, force=force)
    render.removed(result, fmt)


@project_app.command("history")
def history(
    name: str | None = typer.Argument(None, help="Only the changes of this name."),
    project_path: ProjectOption = None,
    all_projects: bool = typer.Option(False, "--all", help="Every project's changes."),
    limit: int = typer.Option(200, "--limit", "-n", min=1, max=1_000_000,
                              help="At most this many events."),
    fmt: Format = FORMAT_OPTION,
) -> None:
    """The project's alias changes: time, action, alias, before -> after, actor, reason.

    NAME shows one name's changes; --all every project's.
    """
    with client() as c:
        events = c.history(name, limit, project_path=project_path, all=all_projects)
    render.history(events, fmt)


@project_app.command("undo")
def undo(
    project_path: ProjectOption = None,
    all_projects: bool = typer.Option(False, "--all", help="Undo the latest change of any "
                                      "project, not only this one's."),
    change: int | None = typer.Option(None, "--change", min=1, help="Undo this change "
                                      "(its number in `wqm project history`)."),
    dry_run: bool = DRY_RUN,
    yes: bool = YES,
    force: bool = typer.Option(False, "--force", help="Undo even if that leaves data reachable "
                               "under no name."),
    fmt: TextFormat = TEXT_FORMAT_OPTION,
) -> None:
    """Revert the project's latest alias change in one atomic step (undo again redoes it).

    Acts on the current project's changes unless --all or --change N, and names
    the project before it changes anything. Asks on a terminal unless --yes; off
    a terminal it proceeds. Exit 1 when there is nothing to undo or another
    change came first.
    """
    with client() as c:
        preview = c.undo(project_path=project_path, all=all_projects, change_id=change,
                         dry_run=True)
        render.undo_preview(preview, fmt, dry_run)
        if dry_run:
            return
        if not render.confirm_on_terminal("Undo this change?", yes):
            render.cancelled()
        result = c.undo(change_id=preview["change"]["id"], force=force)
    render.undone(result, fmt)


@project_app.command("doctor")
def doctor(
    fix: bool = typer.Option(False, "--fix", help="Repair: finish or undo interrupted changes "
                             "and make the registry follow Qdrant."),
    yes: bool = typer.Option(False, "--yes", "-y", help="With --fix, delete data no name "
                             "reaches without asking."),
    fmt: TextFormat = TEXT_FORMAT_OPTION,
) -> None:
    """Check that the registry and Qdrant agree; exit 1 while problems remain.

    Finds interrupted changes, aliases in one store only, names whose collection
    is gone, projects whose folder no longer exists and data no name reaches.
    --fix repairs what can be repaired; deleting data no name reaches is asked
    first (off a terminal the answer is read from stdin) unless --yes.
    """
    with client() as c:
        report = c.doctor(fix)
        orphaned = [p for p in report["problems"] if p["kind"] == "orphaned_data"]
        if fix and orphaned:
            render.orphans(orphaned)
            if render.confirm_always(f"Delete the data of {len(orphaned)} collection(s) no name "
                                     "reaches? This cannot be undone.", skip=yes):
                report = c.doctor(fix, remove_orphans=True)
    render.doctor(report, fmt, fix)


@project_app.command("forget")
def forget(
    path: ProjectArgument = None,
    project_path: ProjectOption = None,
    name: str | None = typer.Option(None, "--name", help="Forget the project whose data this "
                                    "name reaches (e.g. one whose folder is gone)."),
    yes: bool = YES,
    fmt: TextFormat = TEXT_FORMAT_OPTION,
) -> None:
    """Delete a project's data: its names, its collections, its records. Not undoable.

    Shows how many points and notes go and asks first (off a terminal the answer
    is read from stdin; no answer means no) unless --yes. Logged in the history.
    """
    with client() as c:
        preview = c.forget(project_of(path, project_path), name=name, dry_run=True)
        render.forget_preview(preview)
        if not render.confirm_always("Delete all of it? This cannot be undone.", skip=yes):
            render.cancelled()
        result = c.forget(project_of(path, project_path), name=name)
    render.forgotten(result, fmt)


@project_app.command("stale-aliases")
def stale_aliases(
    days: int = typer.Option(30, "--days", min=0, max=36_500,
                             help="Unused for at least this many days."),
    fmt: Format = FORMAT_OPTION,
) -> None:
    """Aliases no search has used for DAYS days, with the command that removes each."""
    with client() as c:
        rows = c.stale_aliases(days)
    render.stale(rows, fmt, days)
