"""Identity changes without copying data: the plan and its application.

When a project's identity changes (a local folder gains a git remote, the
remote changes, the folder moves), its data must stay reachable under the new
name without re-indexing. Because every name is an alias of a stable physical
collection (DESIGN.md §2), a migration is one alias operation: zero copy, one
atomic Qdrant call, whatever the size of the collection.

Changes are made in two steps, a *plan* and its *application*, because a human
(or an assistant) must be able to see what will happen before it happens
(``--dry-run``, confirmation prompts) and because the plan may travel to the
shared workspace service as JSON. A plan records the current target each alias
is expected to have; ``apply`` passes those as compare-and-swap
preconditions, so a plan made stale by another process fails with
``PreconditionFailed`` instead of silently doing something else. A race that
another process already won *the same way* is benign and reported as nothing
to do.

This module is the mechanism; the user-facing operations that make and apply
plans are in ``ops/identity.py``, and ``Workspace.project`` calls
``auto_migrate`` here. Metadata recorded with a change holds the project path,
the *sanitized* remote URL, the reason and the old and new names, never a
credential.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..core import store
from ..core.alias_types import AliasChange
from ..core.collection_aliases import registry_cause
from ..core.errors import AliasConflict, PreconditionFailed, RegistryError
from ..core.identity import (
    PATH_NAME_PREFIX,
    ProjectIdentity,
    detect_identity,
    path_collection_name,
)
from ..core.schema import payload_indexes, sparse_vectors_config, vectors_config
from ..core.state import ChangeRecord
from .projects import ProjectContext, check_remote_binding, locate_project, register_project

if TYPE_CHECKING:
    from .workspace import Workspace

ACTOR_CLI = "cli"
ACTOR_AUTO = "auto"
PLAN_KINDS = ("update_remote", "update_path")
READY, NOTHING_TO_DO, REGISTER_ONLY = "ready", "nothing_to_do", "register_only"
APPLIED, REGISTERED = "applied", "registered"

Plan = dict[str, Any]


# -- helpers ----------------------------------------------------------------------------------


def identity_of(ws: Workspace, project_path: str | None) -> ProjectIdentity:
    target = project_path if project_path is not None else (ws.settings.project_path or Path.cwd())
    return detect_identity(target)


def without_remote(ident: ProjectIdentity) -> ProjectIdentity:
    """The identity as if the project had no remote: finds data by path and by registry root."""
    return dataclasses.replace(
        ident, remote=None, remote_url_display=None, canonical_remote=None, remote_name=None
    )


def target_of(live: dict[str, str], collections: set[str], name: str) -> str | None:
    """The physical collection ``name`` reaches now, or None."""
    return live.get(name, name if name in collections else None)


def count_points(ws: Workspace, physical: str) -> int:
    """Points in a collection (display only: tells the user what a name gives access to)."""
    client = ws.client
    return store.call(
        client, f"count the points of {physical}", lambda: client.count(physical, exact=False).count
    )


def describe_data(ws: Workspace, physical: str) -> dict[str, Any]:
    """Who owns a collection and what it holds, for plans and refusals."""
    record = ws.state.project_by_collection(physical)
    return {
        "collection": physical,
        "names": ws.aliases.names_of_collection(physical),
        "project_path": record.root_path if record else None,
        "points": count_points(ws, physical),
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


def build_plan(
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
    new_target = target_of(live, collections, new_name)
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
            conflict = describe_data(ws, new_target)
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
        "points": count_points(ws, physical) if physical else 0,
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


# -- applying ---------------------------------------------------------------------------------


def _in_place(ws: Workspace, changes: list[AliasChange]) -> bool:
    live = store.live_aliases(ws.client)
    return all(live.get(c.alias) == c.target for c in changes)


def apply(ws: Workspace, plan: Plan, ident: ProjectIdentity, force: bool, actor: str) -> Plan:
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
    try:
        register_project(ws.state, ctx)
    except RegistryError as exc:
        if record is None:
            raise
        # The names already moved; "retry" would mislead, so say what holds (the next
        # ingest records the project again, and nothing else depends on this row).
        raise RegistryError(
            f"Change {record.id} was applied: {plan['new_name']} now reaches the project's "
            f"data, but the registry could not record the project ({registry_cause(exc)}); once it "
            "can be written again (free some disk space), the next ingest records it: "
            "there is nothing to redo."
        ) from None
    ws.watch_changed()  # a project that moved is watched at its new root from now on
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
        if ctx.moved_from is not None:  # the same repository, found by its root commits
            old_name = path_collection_name(Path(ctx.moved_from))
            plan = build_plan(ws, "update_path", ident, ctx.physical, ident.current_name, False,
                              old_name=old_name if old_name in ctx.names else None,
                              extra_metadata={"old_path": ctx.moved_from})
        else:
            plan = build_plan(ws, "update_remote", ident, ctx.physical, ident.current_name, False)
        result = apply(ws, plan, ident, False, ACTOR_AUTO)
    except (AliasConflict, PreconditionFailed) as exc:
        return f"Automatic migration to {ident.current_name} skipped: {exc}"
    ctx.names = list(result.get("names") or ctx.names)
    if result["status"] != APPLIED:
        return None
    moved = f" from {ctx.moved_from}" if ctx.moved_from else ""
    return (
        f"The project's identity changed ({result['reason']}{moved}): {result['new_name']} "
        f"now reaches the data known as {result['old_name']} (no data copied; "
        "`wqm project undo` reverts it)."
    )


