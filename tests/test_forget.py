"""Removing data on purpose, through the real ``wqm``: forget a project, orphaned data, notes.

Project data is seeded in-process (``_project_support``: a few points, no model)
and the workspace closed before each ``wqm`` subprocess runs.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

from _project_support import opened, seed_project, snapshot
from conftest import git, run_wqm
from workspace_qdrant_mcp.config import Settings
from workspace_qdrant_mcp.core import schema, store
from workspace_qdrant_mcp.core.naming import new_physical_name

Factory = Callable[..., Path]
REMOTE = "https://github.com/user/repo.git"
NEW = "_github_com_user_repo"


def test_forget_asks_then_removes_every_name_collection_and_record(
    data_dir: Path, settings: Settings, make_repo: Factory
) -> None:
    repo = make_repo("proj")
    other = make_repo("other")
    data = seed_project(settings, repo, points=7)
    kept = seed_project(settings, other, points=3)
    git(repo, "remote", "add", "origin", REMOTE)
    assert run_wqm("project", "update-remote", "-p", str(repo)).returncode == 0
    before = snapshot(settings)

    declined = run_wqm("project", "forget", str(repo), input="n\n")
    assert declined.returncode == 1 and declined.stdout == ""
    assert f"7 points (0 notes) in {data['physical']}" in declined.stderr
    assert f"the names {NEW}, {data['name']}" in declined.stderr
    assert declined.stderr.endswith("Cancelled: nothing was changed.\n")
    assert snapshot(settings) == before
    no_answer = run_wqm("project", "forget", str(repo), input="")  # end of input means no
    assert no_answer.returncode == 1 and snapshot(settings) == before

    done = run_wqm("project", "forget", "-p", str(repo), "--yes", "--format", "json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["status"] == "forgotten" and result["points"] == 7
    assert result["collections"] == [data["physical"]]
    assert sorted(result["names"]) == sorted([NEW, data["name"]])

    after = snapshot(settings)
    assert after["collections"] == [kept["physical"]]
    assert after["qdrant"] == [(kept["name"], kept["physical"])]
    assert after["registry"] == after["qdrant"]
    assert [p[0] for p in after["projects"]] == [kept["physical"]]

    history = json.loads(run_wqm("project", "history", "--all", "--format", "json").stdout)
    forgot = [e for e in history if e["change_id"] == result["change_id"]]
    assert sorted((e["alias_name"], e["after"]) for e in forgot) == sorted(
        [(NEW, None), (data["name"], None)])
    assert all(e["reason"] == f"forget the project at {repo.resolve()}" for e in forgot)
    undo = run_wqm("project", "undo", "--change", str(result["change_id"]), "--yes")
    assert undo.returncode == 1 and "cannot be undone" in undo.stderr

    again = run_wqm("project", "forget", str(repo), "--yes")
    assert again.returncode == 1 and again.stdout == ""
    assert again.stderr.count("\n") == 1 and "has no data" in again.stderr
    doctor = run_wqm("project", "doctor")
    assert doctor.returncode == 0, doctor.stdout + doctor.stderr


def test_forget_by_name_when_the_folder_is_gone(
    data_dir: Path, settings: Settings, make_repo: Factory
) -> None:
    repo = make_repo("gone")
    data = seed_project(settings, repo)
    shutil.rmtree(repo)

    unknown = run_wqm("project", "forget", "--name", "_no_such_name", "--yes")
    assert unknown.returncode == 1 and unknown.stderr.startswith("Error: No collection or alias")

    done = run_wqm("project", "forget", "--name", data["name"], "--yes")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"Forgot the project at {repo.resolve()}: 5 points")
    assert snapshot(settings)["collections"] == []
    assert snapshot(settings)["projects"] == []


def test_doctor_lists_orphaned_data_and_deletes_it_only_when_told(
    data_dir: Path, settings: Settings, make_repo: Factory
) -> None:
    repo = make_repo("proj")
    data = seed_project(settings, repo)
    orphan = new_physical_name()
    with opened(settings) as ws:  # a collection of wqm's that no name reaches
        store.call(ws.client, "create", lambda: ws.client.create_collection(
            orphan, vectors_config=schema.vectors_config(),
            sparse_vectors_config=schema.sparse_vectors_config()))

    report = run_wqm("project", "doctor", "--format", "json")
    assert report.returncode == 1
    found = json.loads(report.stdout)["problems"]
    assert [(p["kind"], p["name"], p["fixed"]) for p in found] == [
        ("orphaned_data", orphan, False)]

    declined = run_wqm("project", "doctor", "--fix", input="n\n")
    assert declined.returncode == 1
    assert f"{orphan}: 0 points reachable under no name" in declined.stderr
    assert orphan in snapshot(settings)["collections"]

    fixed = run_wqm("project", "doctor", "--fix", "--yes")
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    assert snapshot(settings)["collections"] == [data["physical"]]  # the project's data stays
    assert run_wqm("project", "doctor").returncode == 0


def test_notes_delete_refusals_change_nothing(
    data_dir: Path, settings: Settings, make_repo: Factory
) -> None:
    repo = make_repo("proj")
    seed_project(settings, repo)
    before = snapshot(settings)
    missing = run_wqm("notes", "delete", "no-such-note", "-p", str(repo), "--yes")
    assert missing.returncode == 1 and missing.stdout == ""
    assert missing.stderr == (
        "Error: No note with id 'no-such-note' is in "
        f"{before['registry'][0][0]}; nothing was deleted.\n")
    declined = run_wqm("notes", "delete", "abc", "-p", str(repo), input="n\n")
    assert declined.returncode == 1 and declined.stderr.endswith("Cancelled: nothing was changed.\n")
    assert snapshot(settings) == before


def test_status_is_a_read_and_names_a_pending_rename(
    data_dir: Path, settings: Settings, make_repo: Factory
) -> None:
    repo = make_repo("proj")
    data = seed_project(settings, repo)
    git(repo, "remote", "add", "origin", REMOTE)
    before = snapshot(settings)

    shown = run_wqm("status", "-p", str(repo), "--format", "json")
    assert shown.returncode == 0, shown.stderr
    status = json.loads(shown.stdout)
    assert status["current_name"] == NEW
    assert any(f"{NEW} does not reach its data yet" in n and "wqm project update-remote" in n
               for n in status["notices"])
    assert snapshot(settings) == before  # status changed nothing

    assert run_wqm("project", "update-remote", "-p", str(repo)).returncode == 0
    now = json.loads(run_wqm("status", "-p", str(repo), "--format", "json").stdout)
    assert not any("does not reach" in n for n in now["notices"])
    assert {(n["name"], n["reachable"]) for n in now["names"]} == {(data["name"], True), (NEW, True)}
