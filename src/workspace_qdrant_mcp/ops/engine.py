"""Engine operations: which embedded engine holds the store, moving it, pruning the old one.

``engine_move`` runs inside the process that owns the store (the workspace
service, normally), so searches keep being answered during the copy; the steps
and the crash argument are in ``workspace/engine_move.py``. ``engine_problems``
is what ``doctor`` adds for the engine: broken Edge shards (with the project
each belonged to) and a partial copy left by an interrupted move.
"""

from __future__ import annotations

from typing import Any, cast

from ..core import engines
from ..core.errors import InvalidArgument, StoreError
from ..workspace import engine_move as mover
from ..workspace.workspace import Workspace
from .registry import operation
from .results import EngineMoveResult, EnginePruneResult, EngineStatus, ProblemRow

Progress = Any


@operation(read_only=True, needs_open=False)
def engine_status(ws: Workspace) -> EngineStatus:
    """Which engine holds the store, its folder and size, and the other store (kept or partial)."""
    return cast(EngineStatus, mover.status(ws))


@operation(timeout="long")
def engine_move(
    ws: Workspace, to: str, dry_run: bool = False, progress: Progress = None
) -> EngineMoveResult:
    """Move the store to engine ``to`` (``edge`` or ``local``) while searches go on.

    Copies every collection (points with their vectors and payloads, payload
    indexes, aliases) into the other engine's store, replays the writes made
    meanwhile, checks the copy, then switches in one step and keeps the old
    store (``engine_prune`` removes it). Within the undo window (no write
    since the move) a move back switches without copying. ``dry_run`` says
    what would be copied and how big it is.
    """
    if to not in engines.ENGINES:
        raise InvalidArgument(f"Unknown engine {to!r}; use local or edge.")
    if dry_run:
        base = mover.plan(ws, to)
        status = "nothing_to_do" if base["from_engine"] == to else "dry_run"
        return cast(EngineMoveResult, {**base, "status": status, "replayed": 0,
                                       "blocked_ms": 0.0, "seconds": 0.0, "kept": None})
    return cast(EngineMoveResult, mover.move(ws, to, progress))


@operation(destructive=True)
def engine_prune(ws: Workspace, dry_run: bool = False) -> EnginePruneResult:
    """Remove the other engine's store: kept after a move (ends the undo window) or partial."""
    return cast(EnginePruneResult, mover.prune(ws, dry_run=dry_run))


def engine_move_applied(ws: Workspace, request_id: str) -> bool:
    """True when request ``request_id`` was an engine move that committed (``request_outcome``)."""
    return not ws.settings.uses_server and mover.applied_by(ws, request_id)


def store_location(ws: Workspace) -> str:
    """The folder of the store in use (for messages about it)."""
    settings = ws.settings
    if settings.uses_server:
        return settings.engine_description()
    return str(engines.store_path(settings.data_dir,
                                  engines.current(settings.data_dir, settings.engine)))


def engine_problems(ws: Workspace, fix: bool = False) -> list[ProblemRow]:
    """Broken Edge shards and a partial copy from an interrupted move; ``fix`` repairs them.

    A broken shard's data cannot be read; ``fix`` moves its folder to
    ``edge/damaged/`` and drops the collection (its names go with it), so the
    project's next ``wqm ingest`` rebuilds it. A partial copy is never opened;
    ``fix`` removes it.
    """
    if ws.settings.uses_server:
        return []
    found: list[ProblemRow] = []
    record = engines.read_record(ws.settings.data_dir)
    client: Any = ws.client
    if getattr(client, "engine", None) == "edge":
        for broken in client.broken_shards():
            found.append(_broken_row(ws, client, broken, fix))
    other = record.other if record else None
    if (other is not None and other.state == "partial"
            and not mover.move_running(ws.settings.data_dir)):
        path = engines.store_path(ws.settings.data_dir, other.engine)
        row: ProblemRow = {
            "kind": "partial_engine_copy", "name": str(path), "fixed": False,
            "detail": f"an interrupted engine move left a partial {other.engine} copy in {path}; "
                      f"it is never opened: `wqm engine move --to {other.engine}` starts the move "
                      "again and `wqm engine prune` removes it",
        }
        if fix:
            mover.prune(ws)
            row["fixed"] = True
        found.append(row)
    return found


def _broken_row(ws: Workspace, client: Any, broken: Any, fix: bool) -> ProblemRow:
    project = ws.state.project_by_collection(broken.collection)
    owner = f"the project at {project.root_path}" if project else "no known project"
    names = ", ".join(broken.aliases) or "no name"
    row: ProblemRow = {
        "kind": "broken_shard", "name": broken.collection, "fixed": False,
        "detail": (
            f"the Edge shard folder {broken.shard_dir} of {broken.collection} ({owner}; "
            f"names: {names}) cannot be opened: restore it from a backup, or `wqm project "
            "doctor --fix` sets it aside and drops the collection, then `wqm ingest` in that "
            "project rebuilds it (notes stored there are lost)"
        ),
    }
    if fix:
        try:
            aside = client.set_aside_broken(broken.collection)
        except StoreError as exc:
            row["detail"] += f"; setting it aside failed: {exc}"
        else:
            row["fixed"] = True
            kept = f"its folder is kept in {aside}" if aside else "its folder was missing"
            row["detail"] = (f"{broken.collection} ({owner}) was broken: {kept} and the "
                             "collection is dropped; `wqm ingest` in that project rebuilds it")
    return row
