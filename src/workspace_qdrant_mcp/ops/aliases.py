"""Alias administration: list, inspect, remove, switch, audit, undo, reconcile, find stale names.

The identity operations (``ops/identity.py``) change only the names a
project's identity dictates. Administration also needs any alias change
(``alias_switch``: create, re-point or delete arbitrary aliases in one atomic
step, with compare-and-swap preconditions), the audit log, ``undo`` (revert the
latest change in one atomic step), ``doctor`` (make the registry and Qdrant
agree) and the stale-alias report. Every write goes through
``AliasManager.switch_sync`` (intent -> Qdrant -> done, one atomic Qdrant call,
one audit event per alias changed).

A change for ``alias_switch`` is ``{"alias": NAME, "target": NAME or None,
"expected": ...}``. ``target`` None removes the alias. ``expected`` is the
compare-and-swap precondition on the alias's current target: left out, there
is none; ``None``, the alias must not exist yet. Re-pointing without
``expected``, and removing a project's last name, still need ``force``.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from typing import Any

from ..core import store
from ..core.alias_types import ANY, AliasChange
from ..core.errors import (
    AliasConflict,
    AliasNotFound,
    InvalidArgument,
    LastNameError,
    RegistryDamaged,
    RegistryError,
    StoreError,
    WqmError,
)
from ..core.identity import detect_identity
from ..core.index_registry import RETIRED, IndexRegistry
from ..core.state import ChangeRecord
from ..workspace.forget import forget, forgettable, orphans
from ..workspace.migration import ACTOR_CLI, describe_data
from ..workspace.rebuild import (
    collection_bytes,
    discard_build,
    megabytes,
    settle_collections,
    undo_switch,
    unfinished_builds,
)
from ..workspace.sync import running_rebuild
from ..workspace.workspace import Workspace
from .engine import engine_move_applied, engine_problems, store_location
from .registry import operation
from .results import (
    AliasInfo,
    AliasRow,
    DoctorReport,
    HistoryEvent,
    ListedAlias,
    ProblemRow,
    RemoveResult,
    RequestOutcome,
    RetiredIndex,
    StaleAlias,
    SwitchedAlias,
    SwitchResult,
    UndoResult,
)

_KEYS = frozenset({"alias", "target", "expected"})
ACTOR_DOCTOR = "doctor"


def _parse_change(raw: Any) -> AliasChange:
    """One JSON change as an ``AliasChange``; a wrong shape is refused before anything runs."""
    if not isinstance(raw, dict) or "alias" not in raw or "target" not in raw:
        raise InvalidArgument('Each alias change needs "alias" and "target" (null removes it).')
    unknown = set(raw) - _KEYS
    if unknown:
        raise InvalidArgument(f"Unknown keys in an alias change: {', '.join(sorted(unknown))}.")
    alias, target = raw["alias"], raw["target"]
    if not isinstance(alias, str) or not (target is None or isinstance(target, str)):
        raise InvalidArgument("An alias change's alias must be text and its target text or null.")
    expected = raw.get("expected", ANY)
    if expected is not ANY and not (expected is None or isinstance(expected, str)):
        raise InvalidArgument("An alias change's expected target must be text or null.")
    return AliasChange(alias, target, expected=expected)


#: Bounds of the numbers users give (beyond them the dates and queries overflow).
MAX_DAYS = 36_500
MAX_HISTORY = 1_000_000


def _check_whole(value: object, what: str, low: int, high: int) -> None:
    """Refuse a number outside ``low``..``high`` (or not a whole number) with one sentence."""
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidArgument(f"{what} must be a whole number from {low} to {high:,}, "
                              f"got {value!r}.")


@operation()
def alias_switch(
    ws: Workspace,
    changes: list[dict[str, Any]],
    force: bool = False,
    actor: str = ACTOR_CLI,
    reason: str | None = None,
) -> SwitchResult:
    """Apply ``changes`` (create, re-point or delete aliases) in one atomic step.

    Returns ``{"status": "applied", "change_id", "operations"}`` where
    ``operations`` lists ``{"alias", "before", "after"}`` for each alias that
    changed (one audit event each), or ``{"status": "nothing_to_do", ...}`` with
    no operations when every alias already points where asked. Raises the
    alias errors of ``AliasManager.switch_sync`` (``InvalidName``,
    ``AliasConflict``, ``CollectionNotFound``, ``AliasNotFound``,
    ``PreconditionFailed``, ``LastNameError``) with nothing changed.
    """
    if not isinstance(changes, list) or not changes:
        raise InvalidArgument("alias_switch needs a non-empty list of changes.")
    parsed = [_parse_change(raw) for raw in changes]
    record = ws.aliases.switch_sync(
        parsed, actor=actor, reason=reason or "alias_switch", force=bool(force)
    )
    if record is None:
        return {"status": "nothing_to_do", "change_id": None, "operations": []}
    operations: list[SwitchedAlias] = [
        {"alias": op["alias"], "before": op["before"], "after": op["after"]}
        for op in record.operations
    ]
    return {"status": "applied", "change_id": record.id, "operations": operations}


@operation(takes_project=True, read_only=True, mcp_tool="list_aliases")
def list_aliases(
    ws: Workspace,
    collection: str | None = None,
    project_path: str | None = None,
    all: bool = False,
) -> list[ListedAlias]:
    """The project's aliases (``all``: every project's), newest first, with the project's root.

    ``collection`` keeps only the aliases reaching that collection's data.
    """
    aliases = ws.aliases.list_aliases_sync()
    if collection is not None:
        target = ws.aliases.resolve_sync(collection)
        aliases = [a for a in aliases if a.collection_name == target]
    elif not all:
        scope, _root = _project_scope(ws, project_path)
        aliases = [a for a in aliases if a.alias_name in scope or a.collection_name in scope]
    roots = _roots(ws)
    return [{**a.to_dict(), "project": roots.get(a.collection_name)} for a in aliases]


def _current_names(ws: Workspace) -> set[str]:
    """The current name of every known project whose folder exists (as it is named now)."""
    found = set()
    for project in ws.state.projects():
        if not os.path.isdir(project.root_path):
            continue
        try:
            found.add(detect_identity(project.root_path).current_name)
        except WqmError:
            continue
    return found


def _roots(ws: Workspace) -> dict[str, str]:
    """Collection -> the root of the project it belongs to (live or retired)."""
    roots = {p.physical_collection: p.root_path for p in ws.state.projects()}
    by_id = {p.id: p.root_path for p in ws.state.projects()}
    for record in IndexRegistry(ws.state).collections():
        if record.project_id in by_id:
            roots.setdefault(record.physical, by_id[record.project_id])
    return roots


@operation(read_only=True)
def get_alias(ws: Workspace, name: str) -> AliasInfo:
    """One alias with what removing it would leave: the other names of its data."""
    alias = ws.aliases.get_alias_sync(name)
    live = store.live_aliases(ws.client)
    info: AliasRow
    if alias is not None:
        info = alias.to_dict()
    elif name in live:  # made outside wqm: Qdrant knows it, the registry does not
        info = {
            "alias_name": name,
            "collection_name": live[name],
            "created_at": None,
            "created_by": "unknown",
            "metadata": {},
            "hit_count": 0,
            "last_used_at": None,
        }
    elif name in store.collection_names(ws.client):
        raise AliasConflict(f"{name} is a collection, not an alias; only aliases can be removed.")
    else:
        raise AliasNotFound(f"No alias is named {name!r}; `wqm project list-aliases` shows them.")
    physical = live.get(name, info["collection_name"])
    data = describe_data(ws, physical) if name in live else None
    others = [n for n in (data["names"] if data else []) if n != name]
    return {
        "alias_name": info["alias_name"],
        "created_at": info["created_at"],
        "created_by": info["created_by"],
        "metadata": info["metadata"],
        "hit_count": info["hit_count"],
        "last_used_at": info["last_used_at"],
        "collection_name": physical,
        "registered": alias is not None,
        "in_qdrant": name in live,
        "other_names": others,
        "last_name": name in live and not others,
        "project_path": data["project_path"] if data else None,
        "points": data["points"] if data else None,
    }


@operation(destructive=True)
def remove_alias(
    ws: Workspace, name: str, force: bool = False, dry_run: bool = False, actor: str = ACTOR_CLI
) -> RemoveResult:
    """Remove one alias; the data is untouched.

    Refuses (LastNameError) to remove the last name through which a project's
    data is reachable unless ``force``, saying what would become unreachable.
    ``dry_run`` runs every check and returns what would be removed, changing nothing
    (what a confirmation prompt shows).
    """
    info = get_alias(ws, name)
    if not info["in_qdrant"]:
        raise AliasNotFound(
            f"{name} is registered but Qdrant has no such alias; "
            "`wqm project doctor --fix` clears the stale record."
        )
    physical = info["collection_name"]
    if info["last_name"] and not force:
        where = f" of the project at {info['project_path']}" if info["project_path"] else ""
        raise LastNameError(
            f"{name} is the last name of the data{where} ({physical}, {info['points']} points); "
            "removing it would leave that data unreachable, so pass --force to do it anyway."
        )
    result: RemoveResult = {
        "removed": info,
        "collection_name": physical,
        "remaining_names": info["other_names"],
        "change_id": None,
        "status": "dry_run" if dry_run else "removed",
    }
    if not dry_run:
        record = ws.aliases.switch_sync(
            [AliasChange(name, None, expected=physical)],
            actor=actor,
            reason="remove-alias",
            force=force,
        )
        result["change_id"] = record.id if record else None
    return result


@operation(takes_project=True, read_only=True)
def history(
    ws: Workspace,
    name: str | None = None,
    limit: int = 200,
    project_path: str | None = None,
    all: bool = False,
) -> list[HistoryEvent]:
    """The audit log, newest first: the project's (``all``: every project's), or one name's."""
    _check_whole(limit, "--limit", 1, MAX_HISTORY)
    if name is not None or all:
        return ws.aliases.history(name, limit)
    scope, _root = _project_scope(ws, project_path)
    events = ws.aliases.history(None, MAX_HISTORY)
    mine = [e for e in events
            if e["alias_name"] in scope or e["before"] in scope or e["after"] in scope]
    return mine[:limit]


def _undo_steps(change: ChangeRecord) -> list[str]:
    steps = []
    for op in reversed(change.operations):
        alias, before, after = op["alias"], op["before"], op["after"]
        if before is None:
            steps.append(f"Remove {alias} (now reaching {after}).")
        elif after is None:
            steps.append(f"Restore {alias} -> {before}.")
        else:
            steps.append(f"Re-point {alias} from {after} back to {before}.")
    return steps


def _switches_a_rebuild(ws: Workspace, change: ChangeRecord) -> bool:
    """True for a rebuild's switch, or an undo of one (following the chain of undos)."""
    seen = 0
    current: ChangeRecord | None = change
    while current is not None and seen < 100:
        if current.kind == "reindex":
            return True
        if current.undo_of is None:
            return False
        current = ws.state.get_change(current.undo_of)
        seen += 1
    return False


def _project_scope(ws: Workspace, project_path: str | None) -> tuple[set[str], str]:
    """The names and collections of the project at ``project_path``, and its root for messages."""
    ctx = ws.project(project_path, auto_migrate=False)
    scope = set(ctx.names) | set(ctx.identity.names)
    if ctx.physical is not None:
        scope.add(ctx.physical)
        record = ws.state.project_by_collection(ctx.physical)
        if record is not None:
            scope.update(ws.state.names_of_project(record.id))
            scope.update(c.physical for c in IndexRegistry(ws.state).collections()
                         if c.project_id == record.id)  # collections it had before rebuilds
    return scope, str(ctx.root)


def _owner(ws: Workspace, change: ChangeRecord) -> str | None:
    """The root of the project a change belongs to, as recorded (None: not a project's)."""
    recorded = (change.metadata or {}).get("project_path")
    if isinstance(recorded, str):
        return recorded
    for op in change.operations:
        for physical in (op["before"], op["after"]):
            record = ws.state.project_by_collection(physical) if physical else None
            if record is not None:
                return record.root_path
    return None


@operation(takes_project=True)
def undo(
    ws: Workspace,
    project_path: str | None = None,
    all: bool = False,
    change_id: int | None = None,
    force: bool = False,
    dry_run: bool = False,
    actor: str = ACTOR_CLI,
) -> UndoResult:
    """Revert an alias change in one atomic switch (itself logged and undoable).

    Which change: ``change_id`` if given; else the most recent change of the
    project at ``project_path`` (a change that moved one of its names, or a name
    to or from its data); with ``all``, the most recent change of any project.
    ``dry_run`` only describes it. The result names the project the change
    belongs to, so a confirmation can say what it will touch.
    """
    scope: set[str] | None = None
    where = "any project"
    if change_id is None and not all:
        scope, root = _project_scope(ws, project_path)
        where = f"the project at {root}"
    try:
        chosen = ws.aliases.undoable(change_id, scope)
    except AliasNotFound:
        if change_id is not None:
            raise
        hint = "" if all else "; `wqm project undo --all` undoes the latest change of any project"
        raise AliasNotFound(f"There is no alias change of {where} to undo{hint}.") from None
    change, steps, owner = chosen.to_dict(), _undo_steps(chosen), _owner(ws, chosen)
    if dry_run:
        return {"change": change, "steps": steps, "status": "dry_run", "project": owner}
    if _switches_a_rebuild(ws, chosen):
        record = undo_switch(ws, chosen, actor)  # carries the notes stored since the switch
    else:
        record = ws.aliases.undo_sync(actor=actor, force=force, change_id=chosen.id)
        settle_collections(ws)
    return {"change": change, "steps": steps, "status": "undone", "project": owner,
            "undo_change": record.to_dict()}


@operation(read_only=True)
def request_outcome(ws: Workspace, request_id: str) -> RequestOutcome:
    """Whether the alias changes of request ``request_id`` were applied (after a lost reply).

    Pending changes are settled before this runs (every operation settles them),
    so the answer is final: ``applied`` when every change the request recorded
    is done, else ``not_applied`` (nothing recorded, or rolled back).
    """
    if not isinstance(request_id, str) or not request_id.strip():
        raise InvalidArgument("The request id is empty.")
    changes = ws.state.changes_of_request(request_id)
    done = [c.id for c in changes if c.status == "done"]
    applied = bool(changes) and len(done) == len(changes)
    applied = applied or (not changes and engine_move_applied(ws, request_id))
    return {"request_id": request_id, "status": "applied" if applied else "not_applied",
            "change_ids": done}


@operation(retry_safe=True, needs_open=False)
def doctor(ws: Workspace, fix: bool = False, actor: str = ACTOR_DOCTOR,
           remove_orphans: bool = False) -> DoctorReport:
    """Compare registry and Qdrant; with ``fix``, repair what can be repaired.

    Runs even when the workspace cannot open, to say why: a damaged registry
    (``fix`` moves it aside and rebuilds it from Qdrant, the routing truth) or an
    unreadable store (reported with the way out; never deleted automatically).
    Changes left pending by a crash are settled first, as by every command, and
    listed as fixed. Repairs are logged with ``actor`` (``doctor``, or ``dashboard``).
    Orphaned data (a collection no name reaches and nothing keeps) is deleted only
    with ``fix`` and ``remove_orphans`` (the CLI asks first).
    Returns ``{"ok", "problems", "remaining"}``.
    """
    found: list[ProblemRow] = []
    try:
        ws.ensure_open()
        ws.state.check_integrity()  # a damaged page deep in a table does not stop the open
    except RegistryError as exc:
        # Only a damaged file is rebuilt: one from a newer wqm, or one a read-only or full
        # disk keeps closed, is healthy and holds history Qdrant cannot give back.
        if not fix or not isinstance(exc, RegistryDamaged):
            found.append(_problem("registry_unreadable", str(ws.settings.registry_path), exc))
            return _report(found)
        kept = ws.rebuild_registry()
        found.append({"kind": "registry_unreadable", "name": str(ws.settings.registry_path),
                      "detail": f"rebuilt from Qdrant; the damaged file is kept as {kept}",
                      "fixed": True})
        try:
            ws.ensure_open()
        except StoreError as store_exc:
            found.append(_problem("store_unreadable", store_location(ws), store_exc))
            return _report(found)
    except StoreError as exc:
        found.append(_problem("store_unreadable", store_location(ws), exc))
        return _report(found)
    found.extend(p.to_dict() for p in ws.aliases.settle())
    found.extend(engine_problems(ws, fix))  # before reconcile: a dropped broken shard's names
    report = ws.aliases.reconcile_sync(fix=fix, actor=actor)
    found += report.problem_rows() + _rebuild_problems(ws, fix)
    for orphan in orphans(ws):  # data no name reaches: removed only when the user said so
        removed = fix and remove_orphans
        if removed:
            forget(ws, forgettable(ws, orphan["collection"], orphan["project"]), actor)
        where = f" (the project at {orphan['project']})" if orphan["project"] else ""
        found.append({"kind": "orphaned_data", "name": orphan["collection"],
                      "detail": f"{orphan['points']} points{where} reachable under no name",
                      "fixed": removed})
    result = _report(found)
    retired = _retired(ws)
    if retired:
        result["retired"] = retired
    return result


def _rebuild_problems(ws: Workspace, fix: bool) -> list[ProblemRow]:
    """Rebuild bookkeeping a crash cut short (always mended), and unfinished builds.

    An unfinished build that no job works on holds disk space and no name reaches
    it: `wqm reindex` (or the service, at start) resumes it, ``fix`` removes it.
    """
    rows: list[ProblemRow] = [
        {"kind": "rebuild_unrecorded", "name": physical, "detail": what, "fixed": True}
        for physical, what in settle_collections(ws)
    ]
    roots = {p.id: p.root_path for p in ws.state.projects()}
    for record in unfinished_builds(ws):
        root = roots.get(record.project_id) if record.project_id is not None else None
        if root is not None and running_rebuild(ws, root) is not None:
            continue  # being built right now
        size = collection_bytes(ws, record.physical)
        detail = (f"a rebuild of {root or 'a project no longer recorded'} stopped before its "
                  f"switch ({megabytes(size)}); the names still reach the old index")
        if fix:
            discard_build(ws, record.physical)
            rows.append({"kind": "unfinished_rebuild", "name": record.physical,
                         "detail": f"{detail}; removed", "fixed": True})
        else:
            rows.append({"kind": "unfinished_rebuild", "name": record.physical, "fixed": False,
                         "detail": f"{detail}; `wqm reindex` resumes it, --fix removes it"})
    return rows


def _retired(ws: Workspace) -> list[RetiredIndex]:
    """The indexes rebuilds replaced that still exist, with their size on disk."""
    roots = {p.id: p.root_path for p in ws.state.projects()}
    existing = store.collection_names(ws.client)
    return [
        {"collection": c.physical, "retired_at": c.retired_at, "replaced_by": c.replaced_by,
         "project_root": roots.get(c.project_id) if c.project_id is not None else None,
         "bytes": collection_bytes(ws, c.physical)}
        for c in IndexRegistry(ws.state).collections(RETIRED) if c.physical in existing
    ]


def _problem(kind: str, name: str, exc: Exception) -> ProblemRow:
    return {"kind": kind, "name": name, "detail": str(exc), "fixed": False}


def _report(problems: list[ProblemRow]) -> DoctorReport:
    remaining = sum(1 for p in problems if not p["fixed"] and not p.get("warning"))
    return {"ok": remaining == 0, "problems": problems, "remaining": remaining}


@operation(read_only=True)
def stale_aliases(ws: Workspace, days: int = 30) -> list[StaleAlias]:
    """Aliases not used by a search for ``days`` days (never used: counted from creation).

    A project's current name is never stale: it is the name its own commands use,
    so suggesting its removal would cut the project off.
    """
    _check_whole(days, "--days", 0, MAX_DAYS)
    now = datetime.now(UTC)
    cutoff = now - timedelta(days=days)
    names: dict[str, list[str]] = {}
    stale: list[StaleAlias] = []
    current = _current_names(ws)
    for alias in ws.aliases.list_aliases_sync():
        last = alias.last_used_at or alias.created_at or now
        if last > cutoff or alias.alias_name in current:
            continue
        physical = alias.collection_name
        if physical not in names:
            names[physical] = ws.aliases.names_of_collection(physical)
        others = [n for n in names[physical] if n != alias.alias_name]
        row = alias.to_dict()
        stale.append(
            {
                "alias_name": row["alias_name"],
                "collection_name": row["collection_name"],
                "created_at": row["created_at"],
                "created_by": row["created_by"],
                "metadata": row["metadata"],
                "hit_count": row["hit_count"],
                "last_used_at": row["last_used_at"],
                "unused_days": (now - last).days,
                "last_name": not others,
                "remove_command": f"wqm project remove-alias {alias.alias_name}"
                + ("" if others else " --force"),
            }
        )
    return stale
