"""core/migration.py in-process: plans, compare-and-swap application, auto-migration, admin ops.

Real git repositories, real embedded Qdrant and SQLite registry; the CLI journeys
over the same operations are in test_project_cli.py.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from _project_support import add_points, make_data
from conftest import git
from workspace_qdrant_mcp.core import store
from workspace_qdrant_mcp.core.collection_aliases import AliasChange
from workspace_qdrant_mcp.core.errors import (
    AliasConflict,
    AliasNotFound,
    CollectionNotFound,
    InvalidArgument,
    LastNameError,
    PreconditionFailed,
)
from workspace_qdrant_mcp.core.identity import path_collection_name
from workspace_qdrant_mcp.ops import aliases as alias_ops
from workspace_qdrant_mcp.ops import identity
from workspace_qdrant_mcp.workspace import migration
from workspace_qdrant_mcp.workspace.workspace import Workspace

#: Every test here runs on each embedded engine (conftest.engine).
pytestmark = pytest.mark.usefixtures("engine")

REMOTE = "https://github.com/user/repo.git"
REMOTE_NAME = "_github_com_user_repo"

Factory = Callable[..., Path]


@pytest.fixture
def ws(open_workspace: Callable[[], Workspace]) -> Workspace:
    """An opened in-process workspace on the test's data directory."""
    return open_workspace()


def _migrated_project(ws: Workspace, make_repo: Factory) -> tuple[Path, dict[str, Any]]:
    """A project with data under its path name that then gained a remote."""
    repo = make_repo("proj")
    data = make_data(ws, repo)
    git(repo, "remote", "add", "origin", REMOTE)
    return repo, data


def test_plan_is_json_ready_changes_nothing_and_applies(ws: Workspace, make_repo: Factory) -> None:
    repo, data = _migrated_project(ws, make_repo)
    before = store.live_aliases(ws.client)
    plan = json.loads(json.dumps(identity.plan_update_remote(ws, str(repo))))
    assert store.live_aliases(ws.client) == before
    assert plan["status"] == "ready" and plan["reason"] == "remote_added"
    assert (plan["old_name"], plan["new_name"]) == (data["name"], REMOTE_NAME)
    assert plan["physical_collection"] == data["physical"] and plan["points"] == 5
    assert plan["changes"] == [{"alias": REMOTE_NAME, "target": data["physical"],
                                "expected": None}]
    assert plan["metadata"] == {
        "project_path": str(repo), "remote": REMOTE, "canonical_remote": "github.com/user/repo",
        "reason": "remote_added", "old_name": data["name"], "new_name": REMOTE_NAME,
    }
    result = identity.apply_plan(ws, plan)
    assert result["status"] == "applied" and result["names"] == [REMOTE_NAME, data["name"]]
    alias = ws.aliases.get_alias_sync(REMOTE_NAME)
    assert alias is not None and alias.created_by == "cli" and alias.metadata == plan["metadata"]
    event = ws.aliases.history(REMOTE_NAME)[0]
    assert (event["action"], event["actor"], event["reason"]) == ("create", "cli", "remote_added")
    record = ws.state.project_by_collection(data["physical"])
    assert record is not None and record.remote_name == REMOTE_NAME
    again = identity.plan_update_remote(ws, str(repo))
    assert again["status"] == "nothing_to_do" and again["changes"] == []
    assert again["steps"][0].startswith("Nothing to do:")


def test_stale_plan_fails_and_changes_nothing(ws: Workspace, make_repo: Factory) -> None:
    repo, _ = _migrated_project(ws, make_repo)
    plan = identity.plan_update_remote(ws, str(repo))
    other = make_data(ws, make_repo("other"))
    ws.aliases.switch_sync([AliasChange(REMOTE_NAME, other["physical"])])  # another process
    before = store.live_aliases(ws.client)
    with pytest.raises(PreconditionFailed, match="another change came first"):
        identity.apply_plan(ws, plan)
    assert store.live_aliases(ws.client) == before


def test_same_change_made_first_elsewhere_is_nothing_to_do(
    ws: Workspace, make_repo: Factory
) -> None:
    repo, _ = _migrated_project(ws, make_repo)
    plan = identity.plan_update_remote(ws, str(repo))
    assert identity.apply_plan(ws, dict(plan))["status"] == "applied"
    events = len(ws.aliases.history())
    late = identity.apply_plan(ws, plan)  # the same plan, applied again by a slower process
    assert late["status"] == "nothing_to_do" and "another process" in late["steps"][0]
    assert len(ws.aliases.history()) == events
    ctx = ws.project(repo)
    assert ctx.current_reachable and ctx.notices == []
    assert migration.auto_migrate(ws, ctx) is None


def test_remote_changed_keeps_the_previous_remote_name(ws: Workspace, make_repo: Factory) -> None:
    repo = make_repo("proj", remote="git@github.com:old-owner/proj.git")
    data = make_data(ws, repo)
    assert data["name"].startswith("_github_com_old_owner_proj")
    git(repo, "remote", "set-url", "origin", "https://gitlab.com/team/proj.git")
    plan = identity.plan_update_remote(ws, str(repo))
    assert (plan["reason"], plan["old_name"], plan["old_kind"]) == (
        "remote_changed", data["name"], "remote-based")
    assert plan["new_name"] == "_gitlab_com_team_proj"
    result = identity.apply_plan(ws, plan)
    assert sorted(result["names"]) == sorted([data["name"], "_gitlab_com_team_proj"])


def test_auto_migration_through_workspace_project(ws: Workspace, make_repo: Factory) -> None:
    repo, data = _migrated_project(ws, make_repo)
    ctx = ws.project(repo)
    assert ctx.current_reachable and ctx.current_name == REMOTE_NAME
    assert len(ctx.notices) == 1 and "remote_added" in ctx.notices[0]
    assert REMOTE_NAME in ctx.notices[0] and data["name"] in ctx.notices[0]
    alias = ws.aliases.get_alias_sync(REMOTE_NAME)
    assert alias is not None and alias.created_by == "auto"
    assert alias.metadata is not None and alias.metadata["reason"] == "remote_added"
    assert alias.metadata["old_name"] == data["name"]
    assert ws.project(repo).notices == []


def test_auto_migration_respects_an_undo(ws: Workspace, make_repo: Factory) -> None:
    repo, data = _migrated_project(ws, make_repo)
    identity.apply_plan(ws, identity.plan_update_remote(ws, str(repo)))
    assert alias_ops.undo(ws, str(repo))["status"] == "undone"
    ctx = ws.project(repo)
    assert ctx.notices == [] and not ctx.current_reachable and ctx.names == [data["name"]]
    assert REMOTE_NAME not in store.live_aliases(ws.client)
    assert identity.plan_update_remote(ws, str(repo))["status"] == "ready"  # explicit still works


def test_auto_migration_never_forces_a_conflict(ws: Workspace, make_repo: Factory) -> None:
    repo, data = _migrated_project(ws, make_repo)
    ctx = ws.project(repo, auto_migrate=False)
    other = make_data(ws, make_repo("other"))
    ws.aliases.switch_sync([AliasChange(REMOTE_NAME, other["physical"])])  # raced by another
    notice = migration.auto_migrate(ws, ctx)
    assert notice is not None and notice.startswith("Automatic migration to _github_com_user_repo"
                                                    " skipped:")
    assert store.live_aliases(ws.client)[REMOTE_NAME] == other["physical"]
    assert not ctx.current_reachable and ctx.physical == data["physical"]


def test_conflict_needs_force_and_shows_both(ws: Workspace, make_repo: Factory) -> None:
    first = make_data(ws, make_repo("first", remote=REMOTE))
    repo = make_repo("second")
    mine = make_data(ws, repo)
    git(repo, "remote", "add", "origin", REMOTE)
    with pytest.raises(AliasConflict) as refused:
        identity.plan_update_remote(ws, str(repo))
    assert first["physical"] in str(refused.value) and mine["physical"] in str(refused.value)
    plan = identity.plan_update_remote(ws, str(repo), force=True)
    assert plan["force"] and plan["conflict"]["collection"] == first["physical"]
    assert plan["changes"][0]["expected"] == first["physical"]
    assert identity.apply_plan(ws, plan)["status"] == "applied"
    assert store.live_aliases(ws.client)[REMOTE_NAME] == mine["physical"]


def test_apply_plan_refuses_what_it_should(ws: Workspace, make_repo: Factory) -> None:
    repo, _ = _migrated_project(ws, make_repo)
    with pytest.raises(InvalidArgument):
        identity.apply_plan(ws, {"kind": "update_remote"})
    plan = identity.plan_update_remote(ws, str(repo))
    with pytest.raises(InvalidArgument):
        identity.apply_plan(ws, {**plan, "status": "whatever"})
    other = make_data(ws, make_repo("other"))
    repoint = {**plan, "changes": [{**plan["changes"][0], "expected": other["physical"]}]}
    with pytest.raises(AliasConflict, match="needs force"):
        identity.apply_plan(ws, repoint)
    git(repo, "remote", "set-url", "origin", "https://github.com/user/elsewhere.git")
    with pytest.raises(PreconditionFailed, match="not _github_com_user_repo as planned"):
        identity.apply_plan(ws, plan)


def test_no_remote_and_no_data(ws: Workspace, make_repo: Factory) -> None:
    bare = make_repo("bare")
    with pytest.raises(InvalidArgument, match="has no git remote"):
        identity.plan_update_remote(ws, str(bare))
    plan = identity.plan_update_remote(ws, str(bare), force=True)
    assert plan["status"] == "register_only" and plan["reason"] == "remote_removed"
    empty = make_repo("empty", remote=REMOTE)
    plan = identity.plan_update_remote(ws, str(empty))
    assert plan["status"] == "register_only" and plan["physical_collection"] is None
    result = identity.apply_plan(ws, plan)
    assert result["status"] == "registered" and result["names"] == [REMOTE_NAME]
    assert identity.plan_update_remote(ws, str(empty))["status"] == "nothing_to_do"


def test_update_path_finds_data_by_old_name_or_registry(
    ws: Workspace, make_repo: Factory, tmp_path: Path
) -> None:
    repo = make_repo("before", remote=REMOTE)
    data = make_data(ws, repo)  # only a remote-based name: the old path is known by the registry
    moved = tmp_path / "after"
    shutil.move(repo, moved)
    git(moved, "remote", "remove", "origin")
    plan = identity.plan_update_path(ws, str(repo), str(moved))
    assert (plan["status"], plan["reason"], plan["physical_collection"]) == (
        "ready", "path_moved", data["physical"])
    assert plan["old_name"] == path_collection_name(repo)
    assert plan["metadata"]["old_path"] == str(repo)
    result = identity.apply_plan(ws, plan)
    assert result["names"] == sorted([REMOTE_NAME, path_collection_name(moved)])
    record = ws.state.project_by_collection(data["physical"])
    assert record is not None and record.root_path == str(moved)
    with pytest.raises(CollectionNotFound, match="No data is known under the old path"):
        identity.plan_update_path(ws, str(tmp_path / "never"), str(moved))
    with pytest.raises(InvalidArgument, match="current folder"):
        identity.plan_update_path(ws, str(moved), str(moved))


def test_remove_alias_dry_run_last_name_and_force(ws: Workspace, make_repo: Factory) -> None:
    repo = make_repo("proj")
    data = make_data(ws, repo)
    with pytest.raises(LastNameError) as refused:
        alias_ops.remove_alias(ws, data["name"])
    assert str(repo) in str(refused.value) and "5 points" in str(refused.value)
    extra = "_extra_name"
    ws.aliases.switch_sync([AliasChange(extra, data["physical"])])
    before = store.live_aliases(ws.client)
    preview = alias_ops.remove_alias(ws, extra, dry_run=True)
    assert preview["status"] == "dry_run" and preview["remaining_names"] == [data["name"]]
    assert store.live_aliases(ws.client) == before
    assert alias_ops.remove_alias(ws, extra)["status"] == "removed"
    gone = alias_ops.remove_alias(ws, data["name"], force=True)
    assert gone["remaining_names"] == [] and data["name"] not in store.live_aliases(ws.client)
    with pytest.raises(AliasNotFound):
        alias_ops.get_alias(ws, data["name"])


def test_admin_ops_validate_arguments_and_filter(ws: Workspace, make_repo: Factory) -> None:
    one = make_data(ws, make_repo("one"))
    two = make_data(ws, make_repo("two"))
    add_points(ws, two["name"], 2)
    assert [a["alias_name"] for a in alias_ops.list_aliases(ws, collection=one["name"])] == [
        one["name"]]
    assert {a["alias_name"] for a in alias_ops.list_aliases(ws, all=True)} == {
        one["name"], two["name"]}
    assert [a["alias_name"] for a in alias_ops.list_aliases(ws, project_path=str(
        ws.state.project_by_collection(one["physical"]).root_path))] == [one["name"]]
    with pytest.raises(InvalidArgument):
        alias_ops.stale_aliases(ws, days=-1)
    with pytest.raises(InvalidArgument):
        alias_ops.history(ws, limit=0)
    with pytest.raises(AliasConflict, match="is a collection, not an alias"):
        alias_ops.get_alias(ws, one["physical"])
    # a project's current name is never suggested for removal, however long unused
    assert alias_ops.stale_aliases(ws, days=0) == []
    ws.aliases.switch_sync([AliasChange("_old_two", two["physical"])], actor="cli")
    stale = alias_ops.stale_aliases(ws, days=0)
    assert [(s["alias_name"], s["last_name"]) for s in stale] == [("_old_two", False)]
    assert stale[0]["remove_command"] == "wqm project remove-alias _old_two"
    assert alias_ops.doctor(ws) == {"ok": True, "problems": [], "remaining": 0}


def _indexed_files(ws: Workspace, physical: str, root: Path) -> None:
    """Record ``root``'s files as indexed into ``physical`` (what ingest records), with real hashes."""
    import hashlib

    from workspace_qdrant_mcp.core.index_registry import FileState, IndexRegistry

    states = [FileState(str(p.relative_to(root)), hashlib.sha256(p.read_bytes()).hexdigest(),
                        p.stat().st_size, p.stat().st_mtime_ns, 1, "2026-01-01T00:00:00+00:00")
              for p in sorted(root.rglob("*")) if p.is_file() and ".git" not in p.parts]
    IndexRegistry(ws.state).put_files(physical, str(root), states)


def test_a_moved_git_project_is_found_by_its_root_commit(
    ws: Workspace, make_repo: Factory, tmp_path: Path
) -> None:
    repo = make_repo("before")
    data = make_data(ws, repo)
    moved = tmp_path / "after"
    shutil.move(repo, moved)
    ctx = ws.project(moved)
    assert (ctx.physical, ctx.moved_from) == (data["physical"], str(repo))
    assert ctx.current_reachable and ctx.current_name == path_collection_name(moved)
    alias = ws.aliases.get_alias_sync(path_collection_name(moved))
    assert alias is not None and alias.created_by == "auto"
    record = ws.state.project_by_collection(data["physical"])
    assert record is not None and record.root_path == str(moved)
    # the old folder's name keeps working; undo takes the new name away again
    assert store.live_aliases(ws.client)[data["name"]] == data["physical"]


def test_a_moved_folder_outside_git_is_found_by_its_files(
    ws: Workspace, tmp_path: Path
) -> None:
    files = {f"src/m{i}.py": f"def f{i}():\n    return {i}\n" for i in range(30)}
    folder = tmp_path / "plain"
    for rel, text in files.items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_text(text)
    data = make_data(ws, folder)
    _indexed_files(ws, data["physical"], folder)
    moved = tmp_path / "plain-moved"
    shutil.move(folder, moved)
    (moved / "src/m0.py").write_text("edited after the move\n")  # a few edits do not matter
    (moved / "src/new.py").write_text("x = 1\n")
    ctx = ws.project(moved)
    assert (ctx.physical, ctx.moved_from) == (data["physical"], str(folder))
    assert ctx.current_reachable


def test_an_unrelated_folder_outside_git_is_not_taken_for_a_moved_one(
    ws: Workspace, tmp_path: Path
) -> None:
    from workspace_qdrant_mcp.workspace.routing import no_data_message

    folder = tmp_path / "plain"
    (folder / "src").mkdir(parents=True)
    for i in range(10):
        (folder / f"src/m{i}.py").write_text(f"def f{i}():\n    return {i}\n")
    data = make_data(ws, folder)
    _indexed_files(ws, data["physical"], folder)
    shutil.rmtree(folder)
    other = tmp_path / "other"
    (other / "src").mkdir(parents=True)
    for i in range(10):  # same paths, other content: not the same folder
        (other / f"src/m{i}.py").write_text(f"def g{i}():\n    return -{i}\n")
    ctx = ws.project(other)
    assert ctx.physical is None and ctx.move_candidates == [str(folder)]
    message = no_data_message(ctx)
    assert f"`wqm project update-path --old-path {folder} --project {other}`" in message
    from workspace_qdrant_mcp.ops.status import workspace_status
    assert message in workspace_status(ws, project_path=str(other))["notices"]
    assert store.live_aliases(ws.client) == {data["name"]: data["physical"]}
