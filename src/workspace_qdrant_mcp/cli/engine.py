"""``wqm engine``: which embedded engine holds the store; move it (zero downtime); prune the old one.

These commands act on whatever the data directory holds, so they ignore
``WQM_ENGINE`` (the setting that may have sent the user here) and start the
workspace service without it. ``move`` asks on a terminal unless ``--yes`` and
proceeds off a terminal (the old store is kept: moving back is one command);
``prune`` ends that undo window, so it always asks unless ``--yes`` (off a
terminal the answer is read from stdin; no answer means no).
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import typer

from ..backends.client import WorkspaceClient, open_client
from ..config import Settings
from ..ops.results import EngineMoveResult, EnginePruneResult, EngineStatus
from .output import TEXT_FORMAT_OPTION, TextFormat, console, notice, print_json
from .render_project import cancelled, confirm_always, confirm_on_terminal

engine_app = typer.Typer(
    name="engine",
    help="The embedded engine holding the store: see it, move it to the other engine, prune.",
    no_args_is_help=True,
    rich_markup_mode=None,
)

YES = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation.")


def register(app: typer.Typer) -> None:
    """Add the ``engine`` command group to ``app``."""
    app.add_typer(engine_app, name="engine")


def _client() -> WorkspaceClient:
    """A client for the data directory as it is (``WQM_ENGINE`` is what these commands change)."""
    return open_client(dataclasses.replace(Settings.from_env(), engine=None))


def _size(count: int) -> str:
    value = float(count)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GB"  # pragma: no cover - the loop returns


class MoveProgress:
    """Plain progress lines on stderr, at most one every few seconds."""

    def __init__(self) -> None:
        self.last = 0.0

    def __call__(self, event: dict[str, Any]) -> None:
        now = time.monotonic()
        if event.get("phase") == "switch":
            notice("Copied; replaying the last writes, checking the copy and switching.")
        elif event.get("phase") == "copy" and (now - self.last >= 5 or not event.get("done")):
            notice(f"copied {event.get('done', 0)}/{event.get('total', 0)} points")
            self.last = now


@engine_app.command("status")
def status(fmt: TextFormat = TEXT_FORMAT_OPTION) -> None:
    """Show the engine holding the store, its folder and size, and the other store if kept."""
    with _client() as c:
        result = c.engine_status()
    render_status(result, fmt)


@engine_app.command("move")
def move(
    to: str = typer.Option(..., "--to", help="The engine to move to: edge or local."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Say what would be copied and how "
                                 "big it is; change nothing."),
    yes: bool = YES,
    fmt: TextFormat = TEXT_FORMAT_OPTION,
) -> None:
    """Move the store to the other engine while searches go on; the old store is kept.

    Every collection (points with their vectors and payloads, payload indexes,
    aliases) is copied beside the old store by the workspace service, writes
    made meanwhile are replayed, the copy is checked, then the service switches
    in one step. `wqm engine move --to <old engine>` switches back (without a
    copy while no write happened since); `wqm engine prune` removes the old store.
    """
    with _client() as c:
        plan = c.engine_move(to, dry_run=True)
        if dry_run or plan["status"] == "nothing_to_do":
            render_plan(plan, fmt)
            return
        if fmt is TextFormat.text:
            render_plan(plan, fmt)
        if not confirm_on_terminal(f"Move the store to {to}?", yes):
            cancelled()
        result = c.engine_move(to, progress=MoveProgress())
    render_moved(result, fmt)


@engine_app.command("prune")
def prune(
    dry_run: bool = typer.Option(False, "--dry-run", help="Say what would be removed."),
    yes: bool = YES,
    fmt: TextFormat = TEXT_FORMAT_OPTION,
) -> None:
    """Remove the other engine's store: the one kept after a move, or a partial copy.

    After this, moving back needs a full copy. Asks unless --yes (off a terminal
    the answer is read from stdin; no answer means no, exit 1).
    """
    with _client() as c:
        preview = c.engine_prune(dry_run=True)
        if preview["status"] == "nothing_to_do" or dry_run:
            render_pruned(preview, fmt)
            return
        if fmt is TextFormat.text:
            render_pruned(preview, fmt)
        if not confirm_always(f"Remove the {preview['engine']} store?", skip=yes):
            cancelled()
        result = c.engine_prune()
    render_pruned(result, fmt)


# -- rendering ----------------------------------------------------------------------------------


def render_status(result: EngineStatus, fmt: TextFormat) -> None:
    """``engine status`` as text or JSON."""
    if fmt is TextFormat.json:
        print_json(result)
        return
    if result["engine"] == "server":
        console.print("Engine: a Qdrant server (QDRANT_URL); nothing embedded to move.")
        return
    console.print(f"Engine: {result['engine']} ({result['store']}, "
                  f"{_size(result['store_bytes'])})", markup=False)
    other = result["other"]
    if other is None:
        console.print("Other store: none")
    else:
        what = {"kept": "kept from the last move; `wqm engine move --to {e}` switches back "
                        "without a copy",
                "stale": "kept from the last move, behind the live store; moving back copies",
                "partial": "left by an interrupted move; never opened"}[other["state"]]
        console.print(f"Other store: {other['engine']} ({other['store']}, "
                      f"{_size(other['store_bytes'])}): {what.format(e=other['engine'])}",
                      markup=False)
    if result["move_running"]:
        console.print("A move is running now.")


def render_plan(plan: EngineMoveResult, fmt: TextFormat) -> None:
    """What a move would do."""
    if fmt is TextFormat.json:
        print_json(plan)
        return
    if plan["status"] == "nothing_to_do":
        console.print(f"The store is already on {plan['to_engine']}; nothing to do.")
        return
    what = ("copy " if plan["copy"] else "switch back without a copy (the kept store matches): ")
    console.print(
        f"Move from {plan['from_engine']} to {plan['to_engine']}: {what}{plan['collections']} "
        f"collections, {plan['points']} points; the {plan['from_engine']} store takes "
        f"{_size(plan['store_bytes'])}, {_size(plan['free_bytes'])} free.", markup=False)


def render_moved(result: EngineMoveResult, fmt: TextFormat) -> None:
    """The outcome of a move."""
    if fmt is TextFormat.json:
        print_json(result)
        return
    verb = "Switched back" if result["status"] == "switched_back" else "Moved"
    console.print(
        f"{verb} to {result['to_engine']} in {result['seconds']:.1f} s ({result['points']} "
        f"points, {result['replayed']} writes replayed, calls waited "
        f"{result['blocked_ms']:.0f} ms at the switch). The {result['from_engine']} store is "
        f"kept in {result['kept']}: `wqm engine move --to {result['from_engine']}` switches "
        "back, `wqm engine prune` removes it.", markup=False)


def render_pruned(result: EnginePruneResult, fmt: TextFormat) -> None:
    """What prune removed (or would remove)."""
    if fmt is TextFormat.json:
        print_json(result)
        return
    if result["status"] == "nothing_to_do":
        console.print("No other store to remove.")
        return
    verb = "Removed" if result["status"] == "pruned" else "Would remove"
    console.print(f"{verb} the {result['state']} {result['engine']} store {result['store']} "
                  f"({_size(result['freed_bytes'])}).", markup=False)
