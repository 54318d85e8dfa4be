"""``wqm project`` through the real executable, on real git repositories.

Project data is made in-process (``_project_support``) and the workspace closed
before any ``wqm`` subprocess runs. Independent scenarios use separate data
directories so that their subprocesses can run in parallel.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import Any

from _project_support import (
    files_containing,
    in_parallel,
    opened,
    scenario,
    seed_project,
    snapshot,
)
from conftest import git, run_wqm
from workspace_qdrant_mcp.config import Settings
from workspace_qdrant_mcp.core import store
from workspace_qdrant_mcp.core.collection_aliases import AliasChange
from workspace_qdrant_mcp.core.identity import path_collection_name

Factory = Callable[..., Path]
REMOTE = "https://github.com/user/repo.git"
NEW = "_github_com_user_repo"
WIDE = {"COLUMNS": "200"}  # tables are for humans; keep their columns whole in assertions


def _one_error(result: Any, start: str) -> None:
    """A refusal: exit 1, nothing on stdout, one ``Error: ...`` line on stderr."""
    assert result.returncode == 1, result.stderr
    assert result.stdout == ""
    assert result.stderr.startswith(f"Error: {start}") and result.stderr.count("\n") == 1


def test_seed_examples_as_written(data_dir: Path, settings: Settings, make_repo: Factory) -> None:
    repo = make_repo("project")
    data = seed_project(settings, repo)
    old, physical, root = data["name"], data["physical"], os.path.realpath(repo)
    git(repo, "remote", "add", "origin", REMOTE)
    before = snapshot(settings)

    dry = run_wqm("project", "update-remote", "--project-path", str(repo), "--dry-run")
    assert dry.returncode == 0 and dry.stdout.endswith("Dry run: nothing was changed.\n")
    assert snapshot(settings) == before

    done = run_wqm("project", "update-remote", "--project-path", str(repo))
    assert done.returncode == 0, done.stderr
    assert done.stdout == (
        f"Checking project remote configuration: {root}\n"
        f"Remote URL: {REMOTE}\n"
        f"Old collection name (path-based): {old}\n"
        f"New collection name (remote-based): {NEW}\n"
        f"Data: {physical} (5 points; names: {old})\n"
        "Plan:\n"
        f"  1. Add {NEW} as an alias of {physical} in one atomic step: zero copy, the 5 points "
        "stay where they are.\n"
        f"  2. {old} keeps working.\n"
        f"Done: {NEW} now reaches the project's data (change 2); no data was copied.\n"
        f"The old name {old} keeps working. When nothing uses it any more, remove it with: "
        f"wqm project remove-alias {old}\n"
        "Undo with: wqm project undo\n"
    )
    assert done.stderr == ""

    again = run_wqm("project", "update-remote", "--project-path", str(repo))
    assert again.returncode == 0
    assert again.stdout.endswith(f"Nothing to do: {NEW} already reaches this project's data "
                                 f"({physical}).\n")

    listed = run_wqm("project", "list-aliases", "-p", str(repo), env=WIDE)
    assert listed.returncode == 0
    header = next(line for line in listed.stdout.splitlines() if "Alias Name" in line)
    assert header.split() == ["Alias", "Name", "Collection", "Name", "Created", "At", "Created",
                              "By", "Uses", "Last", "Used"]
    rows = [line.split() for line in listed.stdout.splitlines() if physical in line]
    assert sorted((r[0], r[1], r[4], r[5]) for r in rows) == [
        (NEW, physical, "cli", "0"), (old, physical, "ingest", "0")]
    assert f"{NEW}: canonical_remote=github.com/user/repo, new_name={NEW}, old_name={old}, " \
           f"project_path={root}, reason=remote_added, remote={REMOTE}" in listed.stdout

    removed = run_wqm("project", "remove-alias", "--old-collection", old, input="y\n")
    assert removed.returncode == 0, removed.stderr
    assert removed.stdout.startswith(f"Alias: {old} -> {physical}\n")
    assert removed.stdout.endswith(
        f"Removed alias {old} (it pointed at {physical}).\n"
        f"The data is unchanged and still reachable as: {NEW}.\n")
    assert removed.stderr == f"Remove alias {old}? [y/N]: "
    after = snapshot(settings)
    assert after["qdrant"] == after["registry"] == [(NEW, physical)]
    with opened(settings) as ws:
        assert ws.client.count(NEW).count == 5


def test_every_refusal_exits_1_with_one_line(
    data_dir: Path, settings: Settings, make_repo: Factory, tmp_path: Path
) -> None:
    """Five independent scenarios, each in its own data directory, run in parallel."""
    (s1, env1), (_, env2), (s3, env3), (s4, env4), (_, env5) = (
        scenario(settings, tmp_path / f"s{i}") for i in range(1, 6))
    bare = make_repo("bare")
    seed_project(s1, bare)
    empty = make_repo("empty", remote=REMOTE)
    seed_project(s3, make_repo("first", remote=REMOTE), points=3)
    second = make_repo("second")
    theirs = seed_project(s3, second)
    git(second, "remote", "add", "origin", REMOTE)
    lone = seed_project(s4, make_repo("lone"))
    out: dict[str, Any] = {}

    def no_remote() -> None:
        out["bare"] = run_wqm("project", "update-remote", "-p", str(bare), env=env1)
        out["bare_force"] = run_wqm("project", "update-remote", "-p", str(bare), "--force",
                                    env=env1)

    def no_data() -> None:
        out["empty"] = run_wqm("project", "update-remote", "-p", str(empty), env=env2)
        out["empty_again"] = run_wqm("project", "update-remote", "-p", str(empty), env=env2)

    def taken() -> None:
        out["taken"] = run_wqm("project", "update-remote", "-p", str(second), env=env3)
        out["taken_force"] = run_wqm("project", "update-remote", "-p", str(second), "--force",
                                     "--yes", env=env3)

    def removals() -> None:
        out["unknown"] = run_wqm("project", "remove-alias", "--old-collection", "_nope", env=env4)
        out["last"] = run_wqm("project", "remove-alias", "--old-collection", lone["name"],
                              env=env4)
        out["last_force"] = run_wqm("project", "remove-alias", "--old-collection", lone["name"],
                                    "--force", env=env4)

    def nothing_there() -> None:
        out["list"] = run_wqm("project", "list-aliases", env=env5)
        out["undo"] = run_wqm("project", "undo", env=env5)
        out["old_path"] = run_wqm("project", "update-path", "--old-path", str(tmp_path / "gone"),
                                  "-p", str(bare), env=env5)

    in_parallel(no_remote, no_data, taken, removals, nothing_there)

    _one_error(out["bare"], f"The project at {os.path.realpath(bare)} has no git remote")
    assert out["bare_force"].returncode == 0
    assert out["bare_force"].stdout.endswith("Nothing to do: there is no git remote, and the "
                                             "project's path-based name "
                                             f"{path_collection_name(bare)} already reaches its "
                                             "data.\n")

    assert out["empty"].returncode == 1
    assert out["empty"].stderr == (f"Not migrated: this project has no data yet, so {NEW} was "
                                   "registered as its name for `wqm ingest`.\n")
    assert out["empty_again"].returncode == 0 and "Nothing to do" in out["empty_again"].stdout

    _one_error(out["taken"], f"The new name {NEW} already reaches other data (")
    assert theirs["physical"] in out["taken"].stderr and "--force" in out["taken"].stderr
    assert out["taken_force"].returncode == 0, out["taken_force"].stderr
    assert f"Re-point {NEW} from " in out["taken_force"].stdout
    assert f"to this project's {theirs['physical']}" in out["taken_force"].stdout

    _one_error(out["unknown"], "No alias is named '_nope'")
    _one_error(out["last"], f"{lone['name']} is the last name of the data of the project at")
    assert "5 points" in out["last"].stderr
    assert out["last_force"].returncode == 0
    assert "reachable under no name" in out["last_force"].stdout
    assert (out["list"].returncode, out["list"].stdout) == (
        0, "No collection aliases found (`--all` lists every project's).\n")
    _one_error(out["undo"], "There is no alias change of the project at ")
    _one_error(out["old_path"], f"No data is known under the old path {tmp_path / 'gone'}")


def test_declined_confirmation_and_dry_runs_change_nothing(
    data_dir: Path, settings: Settings, make_repo: Factory, tmp_path: Path
) -> None:
    repo = make_repo("proj")
    data = seed_project(settings, repo)
    with opened(settings) as ws:
        ws.aliases.switch_sync([AliasChange("_second", data["physical"])], actor="cli")
    moved = tmp_path / "moved"
    shutil.copytree(repo, moved)
    before = snapshot(settings)

    declined = run_wqm("project", "remove-alias", "--old-collection", "_second")  # no answer
    assert declined.returncode == 1
    assert declined.stdout.startswith(f"Alias: _second -> {data['physical']}\n")
    assert declined.stderr == ("Remove alias _second? [y/N]: \n"
                               "Cancelled: nothing was changed.\n")
    path_dry = run_wqm("project", "update-path", "--old-path", str(repo), "-p", str(moved),
                       "--dry-run", "--format", "json")
    assert path_dry.returncode == 0, path_dry.stderr
    plan = json.loads(path_dry.stdout)
    assert (plan["status"], plan["reason"], plan["old_name"]) == (
        "ready", "path_moved", data["name"])
    undo_dry = run_wqm("project", "undo", "--dry-run", "-p", str(repo))
    assert undo_dry.returncode == 0
    assert undo_dry.stdout.endswith(f"  Remove _second (now reaching {data['physical']}).\n")
    assert snapshot(settings) == before


def test_token_in_remote_never_shows_and_history_undo(
    data_dir: Path, settings: Settings, make_repo: Factory
) -> None:
    secret = "ghp_SECRET123"
    repo = make_repo("proj")
    data = seed_project(settings, repo)
    git(repo, "remote", "add", "origin", f"https://user:{secret}@github.com/u/r.git")

    done = run_wqm("project", "update-remote", "-p", str(repo), "--format", "json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["status"] == "applied" and result["remote"] == "https://github.com/u/r.git"
    log = run_wqm("project", "history", "--all", "--format", "json")
    events = json.loads(log.stdout)
    assert [(e["action"], e["alias_name"], e["actor"], e["reason"]) for e in events] == [
        ("create", "_github_com_u_r", "cli", "remote_added"),
        ("create", data["name"], "ingest", "create project collection")]
    undone = run_wqm("project", "undo", "-p", str(repo))
    assert undone.returncode == 0, undone.stderr
    assert undone.stdout == (
        f"Undo change 2 of the project at {repo} "
        f"(remote_added, by cli at {events[0]['at'][:16].replace('T', ' ')}):\n"
        f"  Remove _github_com_u_r (now reaching {data['physical']}).\n"
        "Undone: change 2 was reverted by change 3 (`wqm project undo` again redoes it).\n")
    table = run_wqm("project", "history", "_github_com_u_r", env=WIDE)
    assert [line.split()[2:5] for line in table.stdout.splitlines()
            if "_github_com_u_r" in line] == [["delete", "_github_com_u_r", data["physical"]],
                                              ["create", "_github_com_u_r", "-"]]

    for output in (done, log, undone, table):
        assert secret not in output.stdout + output.stderr
        assert "user:" not in output.stdout + output.stderr
    assert files_containing(data_dir, secret.encode()) == []
    assert files_containing(data_dir, b"user:ghp") == []
    assert snapshot(settings)["qdrant"] == [(data["name"], data["physical"])]


def test_update_path_after_a_move(
    data_dir: Path, settings: Settings, make_repo: Factory, tmp_path: Path
) -> None:
    repo = make_repo("before")
    data = seed_project(settings, repo)
    moved = tmp_path / "after"
    shutil.move(repo, moved)
    new = path_collection_name(moved)

    done = run_wqm("project", "update-path", "--old-path", str(repo), "--project-path", str(moved))
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"Checking project path: {os.path.realpath(moved)}\n"
                                  f"Old path: {os.path.realpath(repo)}\n"
                                  f"Old collection name (path-based): {data['name']}\n"
                                  f"New collection name (path-based): {new}\n")
    assert f"Done: {new} now reaches the project's data" in done.stdout
    again = run_wqm("project", "update-path", "--old-path", str(repo), "--project-path",
                    str(moved))
    assert again.returncode == 0 and "Nothing to do" in again.stdout
    with opened(settings) as ws:
        alias = ws.aliases.get_alias_sync(new)
        assert alias is not None and alias.created_by == "cli"
        assert alias.metadata is not None and alias.metadata["reason"] == "path_moved"
        assert alias.metadata["old_path"] == os.path.realpath(repo)
        assert ws.client.count(new).count == 5


def test_doctor_reports_and_repairs(
    data_dir: Path, settings: Settings, make_repo: Factory
) -> None:
    repo = make_repo("proj")
    data = seed_project(settings, repo)
    with opened(settings) as ws:
        store.apply_alias_operations(ws.client, [("_only_in_qdrant", None, data["physical"])])
        ws.state.upsert_alias_row("_only_in_registry", data["physical"], "cli", None)

    found = run_wqm("project", "doctor", env=WIDE)
    assert found.returncode == 1
    assert found.stderr == ("2 problem(s) remain; `wqm project doctor --fix` repairs what can be "
                            "repaired.\n")
    kinds = {line.split()[0]: line.split()[1] for line in found.stdout.splitlines()
             if "remains" in line}
    assert kinds == {"qdrant_only": "_only_in_qdrant", "registry_only": "_only_in_registry"}

    fixed = run_wqm("project", "doctor", "--fix", "--format", "json")
    assert fixed.returncode == 0, fixed.stderr
    report = json.loads(fixed.stdout)
    assert report["ok"] and report["remaining"] == 0
    assert {(p["kind"], p["fixed"]) for p in report["problems"]} == {
        ("qdrant_only", True), ("registry_only", True)}
    after = snapshot(settings)
    assert after["registry"] == after["qdrant"]

    shutil.rmtree(repo)
    gone = run_wqm("project", "doctor", "--fix", env=WIDE)
    # A missing folder is worth knowing (moved? deleted?), not an inconsistency: doctor passes.
    assert gone.returncode == 0, gone.stderr
    line = next(x for x in gone.stdout.splitlines() if "project_root_missing" in x)
    assert line.rstrip().endswith("note") and "wqm project forget --name" in gone.stdout


def test_stale_aliases_and_auto_migration(
    data_dir: Path, settings: Settings, make_repo: Factory
) -> None:
    repo = make_repo("proj")
    data = seed_project(settings, repo)
    with opened(settings) as ws:
        store.apply_alias_operations(ws.client, [("_old_name", None, data["physical"])])
        ws.aliases.reconcile_sync(fix=True)  # registers it
        ws.aliases.record_use(data["name"])
    with closing(sqlite3.connect(settings.registry_path)) as db, db:
        db.execute("UPDATE collection_aliases SET created_at = '2020-01-01T00:00:00+00:00'")
    git(repo, "remote", "add", "origin", REMOTE)

    stale = run_wqm("project", "stale-aliases", env=WIDE)
    assert stale.returncode == 0
    assert stale.stdout.endswith("Remove with:\n"
                                 "  wqm project remove-alias _old_name\n")

    status = run_wqm("status", str(repo))  # a read: it says what the next write will do
    assert status.returncode == 0, status.stderr
    assert f"({NEW} does not reach its data yet)" in status.stderr
    searched = run_wqm("search", "chunk", "-p", str(repo), env={"WQM_AUTO_INDEX": "0"})
    assert searched.returncode == 0, searched.stderr
    assert f"{NEW} now reaches the data known as {data['name']}" in searched.stderr
    with opened(settings) as ws:
        alias = ws.aliases.get_alias_sync(NEW)
        assert alias is not None and alias.created_by == "auto"
        assert alias.metadata is not None
        assert (alias.metadata["reason"], alias.metadata["old_name"]) == (
            "remote_added", data["name"])
        assert store.live_aliases(ws.client)[NEW] == data["physical"]
