"""Rendering and confirmation for ``wqm project``: everything the commands show.

Kept apart from ``cli/project.py`` so that each command stays a short
parse -> call -> render function. Only data goes to stdout; prompts, notices and
refusals go to stderr, so ``--format json`` output can be piped.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

import typer
from rich import box
from rich.table import Table
from rich.text import Text

from ..ops.results import (
    DoctorReport,
    Forgotten,
    HistoryEvent,
    ListedAlias,
    ProblemRow,
    RemoveResult,
    StaleAlias,
    UndoResult,
)
from .output import Format, TextFormat, console, is_terminal, notice, print_json, safe

_ACTOR_STYLES = {"cli": "blue", "auto": "magenta", "external": "red", "unknown": "red",
                 "doctor": "red"}


def cancelled() -> NoReturn:
    """Stop after a declined confirmation: nothing changed, exit 1."""
    notice("Cancelled: nothing was changed.")
    raise typer.Exit(1)


def _ask(question: str) -> bool:
    """Ask on stderr and read one line from stdin (click's prompt writes to stdout)."""
    sys.stderr.write(f"{question} [y/N]: ")
    sys.stderr.flush()
    answer = sys.stdin.readline()
    if not answer:  # end of input: no answer
        sys.stderr.write("\n")
    return answer.strip().lower() in ("y", "yes")


def confirm_on_terminal(question: str, yes: bool) -> bool:
    """Ask on a terminal unless ``yes``; off a terminal, proceed (the change is undoable)."""
    return yes or not is_terminal() or _ask(question)


def confirm_always(question: str, skip: bool) -> bool:
    """Ask unless ``skip``; off a terminal the answer is read from stdin, no answer means no."""
    return skip or _ask(question)


def _when(text: str | None) -> str:
    """A stored UTC time as ``YYYY-MM-DD HH:MM`` (wraps at the space in a narrow table)."""
    return text[:16].replace("T", " ") if text else "never"


def _table(title: str) -> Table:
    """A table that stays readable in 80 columns (a pipe or CI log)."""
    return Table(title=title, box=box.SIMPLE_HEAD, pad_edge=False)


def _actor(actor: str) -> Text:
    return Text(actor, style=_ACTOR_STYLES.get(actor, "yellow"))


def _metadata_line(metadata: dict[str, Any] | None) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted((metadata or {}).items()) if v is not None)


# -- plans ------------------------------------------------------------------------------------


def _listed_plainly(
    rows: Sequence[Any], fmt: Format, empty: str, line: Callable[[Any], str]
) -> bool:
    """JSON, the ``empty`` message, or one ``line`` per row; False when a table is wanted."""
    if fmt is Format.json:
        print_json(rows)
    elif not rows:
        console.print(empty, markup=False)
    elif fmt is Format.simple:
        for row in safe(list(rows)):
            console.print(line(row), markup=False)
    else:
        return False
    return True


def plan_header(plan: dict[str, Any]) -> None:
    """The seed's description of a migration: where, which remote, old and new names."""
    plan = safe(plan)
    if plan["kind"] == "update_path":
        console.print(f"Checking project path: {plan['project_path']}", markup=False)
        console.print(f"Old path: {plan['metadata'].get('old_path')}", markup=False)
    else:
        console.print(f"Checking project remote configuration: {plan['project_path']}",
                      markup=False)
        console.print(f"Remote URL: {plan['remote'] or '(none)'}", markup=False)
    if plan["old_name"]:
        console.print(f"Old collection name ({plan['old_kind']}): {plan['old_name']}",
                      markup=False)
    console.print(f"New collection name ({plan['new_kind']}): {plan['new_name']}", markup=False)
    if plan["physical_collection"]:
        console.print(f"Data: {plan['physical_collection']} ({plan['points']} points; names: "
                      f"{', '.join(plan['names']) or 'none'})", markup=False)


def plan(plan: dict[str, Any], fmt: TextFormat, *, dry_run: bool) -> None:
    """A plan before it is applied: header and steps; a plan that will not be applied whole."""
    text, idle = fmt is TextFormat.text, plan["status"] == "nothing_to_do"
    if text:
        plan_header(plan)
        _steps(safe(plan["steps"]), heading=None if idle else "Plan:")
    if idle or dry_run:
        if not text:
            print_json(plan)
        elif not idle:
            console.print("Dry run: nothing was changed.")


def plan_applied(result: dict[str, Any], fmt: TextFormat) -> None:
    """What applying a plan did."""
    if fmt is TextFormat.text:
        _outcome(result)
    else:
        print_json(result)
    if result["status"] == "registered":
        notice(f"Not migrated: this project has no data yet, so {result['new_name']} was "
               "registered as its name for `wqm ingest`.")


def _steps(steps: list[str], heading: str | None) -> None:
    if heading is None:
        for step in steps:
            console.print(step, markup=False)
        return
    console.print(heading)
    for number, step in enumerate(steps, 1):
        console.print(f"  {number}. {step}", markup=False)


def _outcome(result: dict[str, Any]) -> None:
    result = safe(result)
    new, old = result["new_name"], result["old_name"]
    if result["status"] == "nothing_to_do":
        _steps(result["steps"], heading=None)
    elif result["status"] == "registered":
        console.print(f"Registered {new} as the project's name ({result['physical_collection']}).",
                      markup=False)
    else:
        console.print(f"Done: {new} now reaches the project's data (change "
                      f"{result['change_id']}); no data was copied.", markup=False)
        if old:
            console.print(f"The old name {old} keeps working. When nothing uses it any more, "
                          f"remove it with: wqm project remove-alias {old}",
                          markup=False)
        console.print("Undo with: wqm project undo")


# -- aliases ----------------------------------------------------------------------------------


def alias_list(rows: Sequence[ListedAlias], fmt: Format) -> None:
    """list-aliases: a colour-coded table with metadata, JSON, or ``alias -> collection`` lines."""
    if _listed_plainly(rows, fmt, "No collection aliases found (`--all` lists every "
                       "project's).",
                       lambda row: f"{row['alias_name']} -> {row['collection_name']}"):
        return
    rows = safe(rows)
    several = len({row.get("project") for row in rows}) > 1
    table = _table("Collection aliases")
    table.add_column("Alias Name", style="cyan", no_wrap=True)
    table.add_column("Collection Name", style="green", no_wrap=True)
    table.add_column("Created At", min_width=10)
    table.add_column("Created By")
    table.add_column("Uses", justify="right")
    table.add_column("Last Used", min_width=10)
    if several:
        table.add_column("Project", overflow="fold")
    for row in rows:
        uses = row["hit_count"]
        cells: list[str | Text] = [row["alias_name"], row["collection_name"],
                                   _when(row["created_at"]),
                                   _actor(row["created_by"]),
                                   Text(str(uses), style="bold" if uses else "dim"),
                                   Text(_when(row["last_used_at"]),
                                        style="" if row["last_used_at"] else "dim")]
        if several:
            cells.append(row.get("project") or "-")
        table.add_row(*cells)
    console.print(table)
    with_metadata = [row for row in rows if _metadata_line(row["metadata"])]
    if with_metadata:
        console.print("Metadata:", style="bold")
        for row in with_metadata:
            console.print(Text.assemble((row["alias_name"], "cyan"), ": ",
                                        (_metadata_line(row["metadata"]), "dim")))


def removal_preview(preview: RemoveResult) -> None:
    """What remove-alias is about to remove and what stays reachable."""
    preview = safe(preview)
    info = preview["removed"]
    console.print(f"Alias: {info['alias_name']} -> {info['collection_name']}", markup=False)
    console.print(f"  Created by {info['created_by']} at {_when(info['created_at'])}; used "
                  f"{info['hit_count']} times, last {_when(info['last_used_at'])}", markup=False)
    if _metadata_line(info["metadata"]):
        console.print(f"  Metadata: {_metadata_line(info['metadata'])}", markup=False)
    if info["other_names"]:
        console.print(f"  The data stays reachable as: {', '.join(info['other_names'])}",
                      markup=False)
    else:
        console.print(f"  This is the LAST name of that data ({info['points']} points): it "
                      "becomes unreachable.", style="red", markup=False)


def removed(result: RemoveResult, fmt: TextFormat) -> None:
    """remove-alias outcome: what went, and that the data did not change."""
    if fmt is TextFormat.json:
        print_json(result)
        return
    result = safe(result)
    alias, physical = result["removed"]["alias_name"], result["collection_name"]
    console.print(f"Removed alias {alias} (it pointed at {physical}).", markup=False)
    if result["remaining_names"]:
        console.print(f"The data is unchanged and still reachable as: "
                      f"{', '.join(result['remaining_names'])}.", markup=False)
    else:
        console.print(f"The data in {physical} is unchanged but reachable under no name; "
                      f"`wqm project undo` restores {alias}.", markup=False)


# -- history, undo, doctor, stale -------------------------------------------------------------


def history(events: list[HistoryEvent], fmt: Format) -> None:
    """The audit log: time, action, alias, before -> after, actor, reason."""
    if _listed_plainly(
        events, fmt, "No alias changes recorded.",
        lambda e: f"{e['at']} {e['action']} {e['alias_name']} {e['before'] or '-'} -> "
                  f"{e['after'] or '-'} {e['actor']} {e['reason'] or ''}".rstrip(),
    ):
        return
    events = safe(events)
    table = _table("Alias history (newest first)")
    for column in ("Time", "Action", "Alias", "Before -> After", "Actor", "Reason"):
        table.add_column(column, min_width=10 if column == "Time" else None,
                         no_wrap=column in ("Action", "Alias"), overflow="fold")
    for e in events:
        table.add_row(_when(e["at"]), e["action"], Text(e["alias_name"], style="cyan"),
                      f"{e['before'] or '-'} -> {e['after'] or '-'}", _actor(e["actor"]),
                      e["reason"] or "")
    console.print(table)


def undo_preview(preview: UndoResult, fmt: TextFormat, dry_run: bool) -> None:
    """The change undo is about to revert (JSON only for a dry run: it is the whole answer)."""
    if fmt is TextFormat.json:
        if dry_run:
            print_json(preview)
        return
    preview = safe(preview)
    change = preview["change"]
    owner = f" of the project at {preview['project']}" if preview.get("project") else ""
    console.print(f"Undo change {change['id']}{owner} ({change['reason'] or change['kind']}, "
                  f"by {change['actor']} at {_when(change['created_at'])}):", markup=False)
    for step in preview["steps"]:
        console.print(f"  {step}", markup=False)


def undone(result: UndoResult, fmt: TextFormat) -> None:
    """undo outcome."""
    if fmt is TextFormat.json:
        print_json(result)
        return
    result = safe(result)
    console.print(f"Undone: change {result['change']['id']} was reverted by change "
                  f"{result['undo_change']['id']} (`wqm project undo` again redoes it).",
                  markup=False)


def doctor(report: DoctorReport, fmt: TextFormat, fix: bool) -> None:
    """The reconcile report; exit 1 while problems remain."""
    if fmt is TextFormat.json:
        print_json(report)
    elif not report["problems"]:
        console.print("No problems: the registry and Qdrant agree.")
    else:
        table = _table("Registry and Qdrant")
        for column in ("Problem", "Name", "Detail", "State"):
            table.add_column(column)
        for p in safe(report["problems"]):
            state = (Text("fixed", style="green") if p["fixed"]
                     else Text("note", style="yellow") if p.get("warning")
                     else Text("remains", style="red"))
            table.add_row(p["kind"], p["name"], p["detail"], state)
        console.print(table)
    if fmt is not TextFormat.json and report.get("retired"):
        kept = _table("Retired indexes (kept for `wqm project undo`; `wqm gc` removes them)")
        for column in ("Collection", "Project", "Retired", "Size"):
            kept.add_column(column)
        for r in safe(report.get("retired", [])):
            kept.add_row(r["collection"], r["project_root"] or "?",
                         str(r["retired_at"] or "?")[:16].replace("T", " "),
                         f"{r['bytes'] / 1e6:,.1f} MB")
        console.print(kept)
    if report["remaining"]:
        hint = "" if fix else "; `wqm project doctor --fix` repairs what can be repaired"
        notice(f"{report['remaining']} problem(s) remain{hint}.")
        raise typer.Exit(1)


def orphans(problems: list[ProblemRow]) -> None:
    """The data no name reaches, before asking whether to delete it (stderr: a prompt)."""
    for problem in safe(problems):
        notice(f"{problem['name']}: {problem['detail']}")


def forget_preview(preview: Forgotten) -> None:
    """What forgetting a project deletes (stderr: it precedes a prompt)."""
    preview = safe(preview)
    where = preview["project"] or "an unknown folder"
    notice(f"Forget the project at {where}: {preview['points']} points ({preview['notes']} "
           f"notes) in {', '.join(preview['collections'])}, and the names "
           f"{', '.join(preview['names']) or '(none)'}.")


def forgotten(result: Forgotten, fmt: TextFormat) -> None:
    """forget outcome."""
    if fmt is TextFormat.json:
        print_json(result)
        return
    result = safe(result)
    console.print(f"Forgot the project at {result['project'] or 'an unknown folder'}: "
                  f"{result['points']} points ({result['notes']} notes) deleted, names "
                  f"{', '.join(result['names']) or '(none)'} removed"
                  + (f" (change {result['change_id']}, not undoable)." if result["change_id"]
                     else "."), markup=False)


def stale(rows: list[StaleAlias], fmt: Format, days: int) -> None:
    """Aliases unused for ``days`` days, with the command that removes each."""
    if _listed_plainly(rows, fmt, f"No aliases unused for {days} days.",
                       lambda row: str(row["remove_command"])):
        return
    rows = safe(rows)
    table = _table(f"Aliases unused for {days} days or more")
    table.add_column("Alias Name", style="cyan", no_wrap=True)
    table.add_column("Collection Name", style="green", no_wrap=True)
    table.add_column("Uses", justify="right")
    table.add_column("Last Used")
    table.add_column("Unused (days)", justify="right")
    for row in rows:
        table.add_row(row["alias_name"], row["collection_name"], str(row["hit_count"]),
                      _when(row["last_used_at"]), str(row["unused_days"]))
    console.print(table)
    console.print("Remove with:")
    for row in rows:
        note = "   # last name of its data" if row["last_name"] else ""
        console.print(f"  {row['remove_command']}{note}", markup=False)
