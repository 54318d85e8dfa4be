"""Identity changes without copying data: plan, apply and undo, plus alias administration.

When a project's identity changes (a local folder gains a git remote, the
remote changes, the folder moves), its data must stay reachable under the new
name without re-indexing. Because every name is an alias of a stable physical
collection (DESIGN.md §2), a migration is one alias operation: zero copy, one
atomic Qdrant call, whatever the size of the collection.

Changes are made in two steps, a *plan* and its *application*, because a human
(or an assistant) must be able to see what will happen before it happens
(``--dry-run``, confirmation prompts) and because the plan may travel to the
shared workspace service as JSON. A plan records the current target each alias
is expected to have; ``apply_plan`` passes those as compare-and-swap
preconditions, so a plan made stale by another process fails with
``PreconditionFailed`` instead of silently doing something else. A race that
another process already won *the same way* is benign and reported as nothing
to do.

Every function here takes a ``Workspace`` and JSON-ready values and returns
JSON-ready values: they are the operations listed in ``api.OPERATIONS``.
Metadata recorded with a change holds the project path, the *sanitized* remote
URL, the reason and the old and new names, never a credential.
"""

from __future__ import annotations

import dataclasses
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import store
from .collection_aliases import AliasChange
from .errors import (
    AliasConflict,
    AliasNotFound,
    CollectionNotFound,
    InvalidArgument,
    LastNameError,
    PreconditionFailed,
)
from .identity import PATH_NAME_PREFIX, ProjectIdentity, detect_identity, path_collection_name
from .projects import ProjectContext, check_remote_binding, locate_project, register_project
from .schema import payload_indexes, sparse_vectors_config, vectors_config
from .state import ChangeRecord

if TYPE_CHECKING:
    from ..api import Workspace

ACTOR_CLI = "cli"
ACTOR_AUTO = "auto"
PLAN_KINDS = ("update_remote", "update_path")
READY, NOTHING_TO_DO, REGISTER_ONLY = "ready", "nothing_to_do", "register_only"
APPLIED, REGISTERED = "applied", "registered"

Plan = dict[str, Any]


# -- helpers ----------------------------------------------------------------------------------


def _identity(ws: Workspace, project_path: str | None) -> ProjectIdentity:
    target = project_path if project_path is not None else (ws.settings.project_path or Path.cwd())
    return detect_identity(target)


def _without_remote(ident: ProjectIdentity) -> ProjectIdentity:
    """The identity as if the project had no remote: finds data by path and by registry root."""
    return dataclasses.replace(
        ident, remote=None, remote_url_display=None, canonical_remote=None, remote_name=None
    )


def _target_of(live: dict[str, str], collections: set[str], name: str) -> str | None:
    """The physical collection ``name`` reaches now, or None."""
    return live.get(name, name if name in collections else None)


def _points(ws: Workspace, physical: str) -> int:
    """Points in a collection (display only: tells the user what a name gives access to)."""
    client = ws.client
    return store.call(
        client, f"count the points of {physical}", lambda: client.count(physical, exact=False).count
    )


def _describe_data(ws: Workspace, physical: str) -> dict[str, Any]:
    """Who owns a collection and what it holds, for plans and refusals."""
    record = ws.state.project_by_collection(physical)
    return {
        "collection": physical,
        "names": ws.aliases.names_of_collection(physical),
        "project_path": record.root_path if record else None,
        "points": _points(ws, physical),
    }


def _kind_label(name: str) -> str:
    return "path-based" if name.startswith(PATH_NAME_PREFIX) else "remote-based"


def _old_name(
    ws: Workspace, ident: ProjectIdentity, physical: str | None, names: list[str], new: str
) -> str | None:
    """The name users knew the data by: the previous remote name, else the path name."""
    others = [n for n in names if n != new]
    record = ws.state.project_by_collection(physical) if physical else None
    for candidate in (record.remote_name if record else None, ident.path_name):
        if candidate in others:
            return candidate
    return others[0] if others else None


# -- planning ---------------------------------------------------------------------------------


def _build_plan(
    ws: Workspace,
    kind: str,
    ident: ProjectIdentity,
    physical: str | None,
    new_name: str,
    force: bool,
    old_name: str | None = None,
    extra_metadata: dict[str, Any] | None = None,
) -> Plan:
    """A plan giving ``new_name`` to the data in ``physical`` (None: the project has no data)."""
    live = store.live_aliases(ws.client)
    collections = store.collection_names(ws.client)
    new_target = _target_of(live, collections, new_name)
    conflict: dict[str, Any] | None = None
    changes: list[dict[str, Any]] = []
    if physical is None:
        # No data under any earlier name: either the new name already has data (a fresh
        # clone of a known remote) or there is nothing to migrate.
        physical = new_target
        status = NOTHING_TO_DO if new_target is not None else REGISTER_ONLY
    elif new_target == physical:
        status = NOTHING_TO_DO
    else:
        if new_target is not None:
            conflict = _describe_data(ws, new_target)
            if new_name in collections:
                raise AliasConflict(
                    f"{new_name} is the name of another collection ({conflict['points']} points), "
                    "so it cannot become a name of this project's data; rename that collection."
                )
            if not force:
                raise AliasConflict(
                    f"The new name {new_name} already reaches other data ({new_target}, project "
                    f"at {conflict['project_path'] or 'unknown'}), not this project's "
                    f"{physical}; re-point it only with --force."
                )
        status = READY
        changes.append({"alias": new_name, "target": physical, "expected": new_target})
    names = ws.aliases.names_of_collection(physical) if physical else []
    if old_name is None:
        old_name = _old_name(ws, ident, physical, names, new_name)
    if kind == "update_path":
        reason = "path_moved"
    elif ident.remote_name is None:
        reason = "remote_removed"
    elif old_name is not None and not old_name.startswith(PATH_NAME_PREFIX):
        reason = "remote_changed"
    else:
        reason = "remote_added"
    plan: Plan = {
        "kind": kind,
        "status": status,
        "reason": reason,
        "project_path": str(ident.root),
        "remote": ident.remote_url_display,
        "canonical_remote": ident.canonical_remote,
        "old_name": old_name,
        "new_name": new_name,
        "old_kind": _kind_label(old_name) if old_name else None,
        "new_kind": _kind_label(new_name),
        "physical_collection": physical,
        "names": names,
        "points": _points(ws, physical) if physical else 0,
        "changes": changes,
        "conflict": conflict,
        "force": bool(force and conflict),
        "metadata": {
            "project_path": str(ident.root),
            "remote": ident.remote_url_display,
            "canonical_remote": ident.canonical_remote,
            "reason": reason,
            "old_name": old_name,
            "new_name": new_name,
            **(extra_metadata or {}),
        },
    }
    plan["steps"] = _steps(plan)
    return plan


def _steps(plan: Plan) -> list[str]:
    """The plan in words, for humans and assistants."""
    new, old, physical = plan["new_name"], plan["old_name"], plan["physical_collection"]
    if plan["status"] == REGISTER_ONLY:
        first = (
            f"This project has no data yet: register {new} as its name (an empty "
            "collection that `wqm ingest` fills); nothing to migrate."
        )
        return [first]
    if plan["status"] == NOTHING_TO_DO:
        if plan["reason"] == "remote_removed":
            first = (
                f"Nothing to do: there is no git remote, and the project's path-based "
                f"name {new} already reaches its data."
            )
        else:
            first = f"Nothing to do: {new} already reaches this project's data ({physical})."
        return [first]
    conflict = plan["conflict"]
    if conflict:
        other = conflict["collection"]
        left = [n for n in conflict["names"] if n != new]
        steps = [
            (
                f"Re-point {new} from {other} (project at {conflict['project_path'] or 'unknown'}, "
                f"{conflict['points']} points) to this project's {physical}, in one atomic step."
            ),
            (
                f"{other} stays reachable as {', '.join(left)}."
                if left
                else f"{other} will be reachable under no name (`wqm project undo` restores it)."
            ),
        ]
    else:
        steps = [
            (
                f"Add {new} as an alias of {physical} in one atomic step: zero copy, "
                f"the {plan['points']} points stay where they are."
            )
        ]
    if old:
        steps.append(f"{old} keeps working.")
    return steps


def plan_update_remote(ws: Workspace, project_path: str | None = None, force: bool = False) -> Plan:
    """Plan giving a project its remote-based name (changes nothing).

    Refuses a project without a git remote unless ``force`` (the plan then keeps
    or restores its path-based name), and a new name that already reaches
    another project's data unless ``force`` (the plan then re-points it).
    """
    ident = _identity(ws, project_path)
    if ident.remote_name is None and not force:
        raise InvalidArgument(
            f"The project at {ident.root} has no git remote, so there is no remote-based name "
            "to move to; add one (`git remote add origin URL`) or pass --force."
        )
    if ident.remote_name is not None:
        check_remote_binding(ws.state, ident.remote_name, ident.canonical_remote)
    data = locate_project(ws.aliases, _without_remote(ident))
    return _build_plan(ws, "update_remote", ident, data.physical, ident.current_name, force)


def plan_update_path(
    ws: Workspace, old_path: str, project_path: str | None = None, force: bool = False
) -> Plan:
    """Plan giving a moved project's new path-based name to the data of its old path.

    ``old_path`` need not exist any more: its path-based name, or the registry's
    record of a project at that root, finds the data.
    """
    ident = _identity(ws, project_path)
    old_root = os.path.realpath(os.path.expanduser(old_path))
    old_name = path_collection_name(Path(old_root))
    if old_name == ident.path_name:
        raise InvalidArgument(
            f"{old_root} is the project's current folder; pass the folder it was moved from."
        )
    live = store.live_aliases(ws.client)
    physical = _target_of(live, store.collection_names(ws.client), old_name)
    if physical is None:
        records = ws.state.projects_by_root(old_root)
        physical = records[0].physical_collection if records else None
    if physical is None:
        raise CollectionNotFound(
            f"No data is known under the old path {old_root} ({old_name}); "
            "`wqm project list-aliases` shows the names that exist."
        )
    return _build_plan(
        ws,
        "update_path",
        ident,
        physical,
        ident.path_name,
        force,
        old_name=old_name,
        extra_metadata={"old_path": old_root},
    )


# -- applying ---------------------------------------------------------------------------------


def _check_plan(plan: Any) -> Plan:
    """Refuse something that is not a plan made by this module (it may arrive as JSON)."""
    required = ("kind", "status", "reason", "project_path", "new_name", "changes", "metadata")
    if not isinstance(plan, dict) or any(key not in plan for key in required):
        raise InvalidArgument("That is not a migration plan; make one with plan_update_remote.")
    if plan["kind"] not in PLAN_KINDS or plan["status"] not in (
        READY,
        NOTHING_TO_DO,
        REGISTER_ONLY,
    ):
        raise InvalidArgument(f"Unknown plan kind or status: {plan['kind']}/{plan['status']}.")
    for change in plan["changes"]:
        if not isinstance(change, dict) or {"alias", "target", "expected"} - change.keys():
            raise InvalidArgument("A plan change needs alias, target and expected.")
    return plan


def _in_place(ws: Workspace, changes: list[AliasChange]) -> bool:
    live = store.live_aliases(ws.client)
    return all(live.get(c.alias) == c.target for c in changes)


def _apply(ws: Workspace, plan: Plan, ident: ProjectIdentity, force: bool, actor: str) -> Plan:
    if plan["status"] == NOTHING_TO_DO:
        return dict(plan)
    if plan["status"] == REGISTER_ONLY:
        return _register(ws, plan, ident, actor)
    changes = [
        AliasChange(c["alias"], c["target"], expected=c["expected"]) for c in plan["changes"]
    ]
    force = force or bool(plan.get("force"))
    if not force and any(c.expected not in (None, c.target) for c in changes):
        raise AliasConflict(f"This plan re-points {plan['new_name']}, which needs force.")
    if ident.remote_name == plan["new_name"]:
        check_remote_binding(ws.state, plan["new_name"], ident.canonical_remote)
    record: ChangeRecord | None = None
    try:
        record = ws.aliases.switch_sync(
            changes, actor=actor, reason=plan["reason"], metadata=plan["metadata"], force=force
        )
    except PreconditionFailed:
        if not _in_place(ws, changes):
            raise  # another process changed something else: the plan is stale
    physical = plan["physical_collection"]
    ctx = ProjectContext(
        identity=ident, physical=physical, names=ws.aliases.names_of_collection(physical)
    )
    register_project(ws.state, ctx)
    if record is None:  # another process did the same first
        steps = [
            (
                f"Nothing to do: {plan['new_name']} already reaches this project's data "
                "(another process made the change first)."
            )
        ]
        return {**plan, "status": NOTHING_TO_DO, "names": ctx.names, "steps": steps}
    return {**plan, "status": APPLIED, "change_id": record.id, "names": ctx.names}


def _register(ws: Workspace, plan: Plan, ident: ProjectIdentity, actor: str) -> Plan:
    """A project without data: give it its (empty) collection under the new name."""
    ctx = locate_project(ws.aliases, ident)
    if ctx.physical is not None:
        if ctx.current_reachable:  # another process (an ingest) did it first
            return {
                **plan,
                "status": NOTHING_TO_DO,
                "physical_collection": ctx.physical,
                "names": ctx.names,
            }
        raise PreconditionFailed(
            "The project has data now; run the command again to see the new plan."
        )
    if ident.remote_name is not None:
        check_remote_binding(ws.state, ident.remote_name, ident.canonical_remote)
    physical = ws.aliases.create_project_collection_sync(
        plan["new_name"],
        vectors_config=vectors_config(),
        sparse_vectors_config=sparse_vectors_config(),
        payload_indexes=payload_indexes(),
        actor=actor,
        metadata=plan["metadata"],
    )
    ctx = ProjectContext(identity=ident, physical=physical, names=[plan["new_name"]])
    register_project(ws.state, ctx)
    return {**plan, "status": REGISTERED, "physical_collection": physical, "names": ctx.names}


def apply_plan(ws: Workspace, plan: Plan, force: bool = False, actor: str = ACTOR_CLI) -> Plan:
    """Carry out a plan; the plan's expected targets are compare-and-swap preconditions.

    Returns the plan with ``status`` ``applied`` (plus ``change_id`` and the data's
    ``names``), ``registered`` (a project without data got its name) or
    ``nothing_to_do`` (already in place, e.g. another process did it first).
    Raises PreconditionFailed when the plan went stale in another way.
    """
    plan = _check_plan(plan)
    ident = _identity(ws, plan["project_path"])
    expected = ident.path_name if plan["kind"] == "update_path" else ident.current_name
    if expected != plan["new_name"]:
        raise PreconditionFailed(
            f"The project's name is now {expected}, not {plan['new_name']} as planned; "
            "nothing was changed: run the command again."
        )
    return _apply(ws, plan, ident, force, actor)


def auto_migrate(ws: Workspace, ctx: ProjectContext) -> str | None:
    """Give a project whose identity changed its current name, as update-remote would.

    Called by ``Workspace.project`` when the current name reaches no data but an
    earlier identity of the same root does. Updates ``ctx.names`` and returns a
    one-line notice; None when nothing needed doing (another process may have
    done it first). A conflict is not forced: the notice then says why nothing
    was done, and ``wqm project update-remote`` shows the details.

    A name whose last recorded change removed it (``remove-alias``, ``undo``) is
    not added back: that was a decision, and the next search must not reverse it.
    """
    if ctx.physical is None or ctx.current_reachable:
        return None
    ident = ctx.identity
    last = ws.aliases.history(ident.current_name, limit=1)
    if last and last[0]["action"] == "delete":
        return None
    try:
        plan = _build_plan(ws, "update_remote", ident, ctx.physical, ident.current_name, False)
        result = _apply(ws, plan, ident, False, ACTOR_AUTO)
    except (AliasConflict, PreconditionFailed) as exc:
        return f"Automatic migration to {ident.current_name} skipped: {exc}"
    ctx.names = list(result.get("names") or ctx.names)
    if result["status"] != APPLIED:
        return None
    return (
        f"The project's identity changed ({result['reason']}): {result['new_name']} now "
        f"reaches the data known as {result['old_name']} (no data copied; "
        "`wqm project undo` reverts it)."
    )


# -- administration ---------------------------------------------------------------------------


def list_aliases(ws: Workspace, collection: str | None = None) -> list[dict[str, Any]]:
    """Registered aliases, newest first; with ``collection``, only those reaching its data."""
    aliases = ws.aliases.list_aliases_sync()
    if collection is not None:
        target = ws.aliases.resolve_sync(collection)
        aliases = [a for a in aliases if a.collection_name == target]
    return [a.to_dict() for a in aliases]


def get_alias(ws: Workspace, name: str) -> dict[str, Any]:
    """One alias with what removing it would leave: the other names of its data."""
    alias = ws.aliases.get_alias_sync(name)
    live = store.live_aliases(ws.client)
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
    data = _describe_data(ws, physical) if name in live else None
    others = [n for n in (data["names"] if data else []) if n != name]
    return {
        **info,
        "collection_name": physical,
        "registered": alias is not None,
        "in_qdrant": name in live,
        "other_names": others,
        "last_name": name in live and not others,
        "project_path": data["project_path"] if data else None,
        "points": data["points"] if data else None,
    }


def remove_alias(
    ws: Workspace, name: str, force: bool = False, dry_run: bool = False, actor: str = ACTOR_CLI
) -> dict[str, Any]:
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
    result: dict[str, Any] = {
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


def history(ws: Workspace, name: str | None = None, limit: int = 200) -> list[dict[str, Any]]:
    """The audit log of alias changes, newest first, optionally for one name."""
    if limit < 1:
        raise InvalidArgument(f"The limit must be at least 1, got {limit}.")
    return ws.aliases.history(name, limit)


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


def undo(
    ws: Workspace,
    force: bool = False,
    dry_run: bool = False,
    change_id: int | None = None,
    actor: str = ACTOR_CLI,
) -> dict[str, Any]:
    """Revert the most recent alias change in one atomic switch (itself logged and undoable).

    ``dry_run`` only describes it; ``change_id`` makes the undo conditional on that
    change still being the most recent one (what a confirmation prompt showed).
    """
    last = ws.state.last_undoable_change()
    if last is None:
        raise AliasNotFound("There is no alias change to undo.")
    if change_id is not None and last.id != change_id:
        raise PreconditionFailed(
            f"The most recent change is now {last.id}, not {change_id}; "
            "nothing was undone: look again and retry."
        )
    summary = {"change": last.to_dict(), "steps": _undo_steps(last)}
    if dry_run:
        return {**summary, "status": "dry_run"}
    record = ws.aliases.undo_sync(actor=actor, force=force)
    return {**summary, "status": "undone", "undo_change": record.to_dict()}


def doctor(ws: Workspace, fix: bool = False) -> dict[str, Any]:
    """Compare registry and Qdrant; with ``fix``, repair what can be repaired.

    Returns ``{"ok", "problems", "remaining"}``; ``ok`` is False while problems remain.
    """
    report = ws.aliases.reconcile_sync(fix=fix)
    return {**report.to_dict(), "remaining": len(report.remaining)}


def stale_aliases(ws: Workspace, days: int = 30) -> list[dict[str, Any]]:
    """Aliases not used by a search for ``days`` days (never used: counted from creation)."""
    if days < 0:
        raise InvalidArgument(f"--days must be 0 or more, got {days}.")
    now = datetime.now(UTC)
    cutoff = now - timedelta(days=days)
    names: dict[str, list[str]] = {}
    stale = []
    for alias in ws.aliases.list_aliases_sync():
        last = alias.last_used_at or alias.created_at or now
        if last > cutoff:
            continue
        physical = alias.collection_name
        if physical not in names:
            names[physical] = ws.aliases.names_of_collection(physical)
        others = [n for n in names[physical] if n != alias.alias_name]
        stale.append(
            {
                **alias.to_dict(),
                "unused_days": (now - last).days,
                "last_name": not others,
                "remove_command": f"wqm project remove-alias --old-collection {alias.alias_name}"
                + ("" if others else " --force"),
            }
        )
    return stale


__all__ = [
    "apply_plan",
    "auto_migrate",
    "doctor",
    "get_alias",
    "history",
    "list_aliases",
    "plan_update_path",
    "plan_update_remote",
    "remove_alias",
    "stale_aliases",
    "undo",
]
