"""Identity operations: plan and apply a project's move to a new name (zero copy).

``plan_update_remote`` and ``plan_update_path`` say what would change and
change nothing; ``apply_plan`` carries a plan out, with the plan's expected
targets as compare-and-swap preconditions. The mechanism (building a plan,
applying it, the automatic migration) is ``workspace/migration.py``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..core import store
from ..core.errors import CollectionNotFound, InvalidArgument, PreconditionFailed
from ..core.identity import path_collection_name
from ..workspace.migration import (
    ACTOR_CLI,
    NOTHING_TO_DO,
    PLAN_KINDS,
    READY,
    REGISTER_ONLY,
    Plan,
    apply,
    build_plan,
    identity_of,
    target_of,
    without_remote,
)
from ..workspace.projects import check_remote_binding, locate_project
from ..workspace.workspace import Workspace
from .registry import operation


@operation(takes_project=True, read_only=True)
def plan_update_remote(ws: Workspace, project_path: str | None = None, force: bool = False) -> Plan:
    """Plan giving a project its remote-based name (changes nothing).

    Refuses a project without a git remote unless ``force`` (the plan then keeps
    or restores its path-based name), and a new name that already reaches
    another project's data unless ``force`` (the plan then re-points it).
    """
    ident = identity_of(ws, project_path)
    if ident.remote_name is None and not force:
        raise InvalidArgument(
            f"The project at {ident.root} has no git remote, so there is no remote-based name "
            "to move to; add one (`git remote add origin URL`) or pass --force."
        )
    if ident.remote_name is not None:
        check_remote_binding(ws.state, ident.remote_name, ident.canonical_remote)
    data = locate_project(ws.aliases, without_remote(ident))
    return build_plan(ws, "update_remote", ident, data.physical, ident.current_name, force)


@operation(takes_project=True, read_only=True, path_params=("old_path",))
def plan_update_path(
    ws: Workspace, old_path: str, project_path: str | None = None, force: bool = False
) -> Plan:
    """Plan giving a moved project's new path-based name to the data of its old path.

    ``old_path`` need not exist any more: its path-based name, or the registry's
    record of a project at that root, finds the data.
    """
    ident = identity_of(ws, project_path)
    old_root = os.path.realpath(os.path.expanduser(old_path))
    old_name = path_collection_name(Path(old_root))
    if old_name == ident.path_name:
        raise InvalidArgument(
            f"{old_root} is the project's current folder; pass the folder it was moved from."
        )
    live = store.live_aliases(ws.client)
    physical = target_of(live, store.collection_names(ws.client), old_name)
    if physical is None:
        records = ws.state.projects_by_root(old_root)
        physical = records[0].physical_collection if records else None
    if physical is None:
        raise CollectionNotFound(
            f"No data is known under the old path {old_root} ({old_name}); "
            "`wqm project list-aliases` shows the names that exist."
        )
    return build_plan(
        ws,
        "update_path",
        ident,
        physical,
        ident.path_name,
        force,
        old_name=old_name,
        extra_metadata={"old_path": old_root},
    )



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



@operation()
def apply_plan(ws: Workspace, plan: Plan, force: bool = False, actor: str = ACTOR_CLI) -> Plan:
    """Carry out a plan; the plan's expected targets are compare-and-swap preconditions.

    Returns the plan with ``status`` ``applied`` (plus ``change_id`` and the data's
    ``names``), ``registered`` (a project without data got its name) or
    ``nothing_to_do`` (already in place, e.g. another process did it first).
    Raises PreconditionFailed when the plan went stale in another way.
    """
    plan = _check_plan(plan)
    ident = identity_of(ws, plan["project_path"])
    expected = ident.path_name if plan["kind"] == "update_path" else ident.current_name
    if expected != plan["new_name"]:
        raise PreconditionFailed(
            f"The project's name is now {expected}, not {plan['new_name']} as planned; "
            "nothing was changed: run the command again."
        )
    return apply(ws, plan, ident, force, actor)
