"""SIGKILL at every step of intent -> Qdrant -> done, through the real ``wqm`` executable.

``tests/test_crash_recovery.py`` kills the alias core itself (create, re-point,
delete, undo, create_project_collection) once per step. This module adds what
a user actually runs: ``wqm project update-remote --yes`` (on a project with
data: one alias added; on a project without data: a collection registered) and
``wqm project undo --yes``, each killed by ``WQM_FAULT_POINT`` at every step it
reaches. The CLI runs in-process (``WQM_SERVICE=off``) so that the process
killed is the one writing; through the service the hook is not passed on.

After each kill the data directory is re-opened (by ``wqm project doctor`` on
the first repetition, in-process otherwise) and must show: no pending change,
registry == Qdrant, the change done fully or not at all, every point still
there (exact counts per collection), no nameless collection, one audit event
for a change that happened and none for one that did not, a sound SQLite file,
and the same command working again.

Bounded run: each CLI case once (the alias-core cases run once in
test_crash_recovery.py). ``WQM_LONG=1``: every CLI case and every alias-core
case 20 times.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import test_crash_recovery as core_crash
from _alias_support import CRASH_OPS
from _project_support import opened, seed_project
from conftest import git
from workspace_qdrant_mcp.config import Settings
from workspace_qdrant_mcp.core.identity import detect_identity
from workspace_qdrant_mcp.core.naming import is_opaque_physical_name
from workspace_qdrant_mcp.ops import aliases as alias_ops
from workspace_qdrant_mcp.ops import identity

from ._support import WQM, Child, clean_env, integrity, make_repo, run_children, world
from .conftest import LONG, scaled

pytestmark = pytest.mark.reliability

REPEATS = scaled(1, 20)
POINTS = 40

#: (command, fault point, whether the change is in effect after recovery)
CLI_CASES: list[tuple[str, str, bool]] = [
    *[("update_remote", p, p != "after_intent") for p in ("after_intent", "after_qdrant",
                                                           "after_done")],
    *[("register", p, p in ("after_qdrant", "after_done")) for p in ("after_intent",
                                                                     "after_collection",
                                                                     "after_qdrant",
                                                                     "after_done")],
    *[("undo", p, p != "after_intent") for p in ("after_intent", "after_qdrant", "after_done")],
]


@dataclass
class CliCrash:
    """One prepared data directory, the killed ``wqm`` run and what to expect."""

    kind: str
    point: str
    applied: bool
    rep: int
    settings: Settings
    repo: Path
    remote_name: str
    physical: str | None
    before: dict[str, Any]
    child: Child


def _prepare_cli(base: Path, kind: str, point: str, applied: bool, rep: int) -> CliCrash:
    root = base / f"{kind}-{point}-{rep}"
    data_dir = root / "wqm-data"
    data_dir.mkdir(parents=True)
    settings = Settings(data_dir=data_dir, cache_dir=root / "cache", service="off")
    remote = f"https://github.com/acme/crash{rep}.git"
    physical: str | None = None
    if kind == "register":  # no data yet: update-remote registers a new collection
        repo = make_repo(root / "repo", remote)
    else:
        repo = make_repo(root / "repo")
        physical = seed_project(settings, repo, points=POINTS)["physical"]
        git(repo, "remote", "add", "origin", remote)
        if kind == "undo":  # the change the killed undo reverts
            with opened(settings) as ws:
                plan = identity.plan_update_remote(ws, str(repo))
                assert identity.apply_plan(ws, plan)["status"] == "applied"
    remote_name = detect_identity(repo).remote_name
    assert remote_name is not None
    argv = ([WQM, "project", "update-remote", "--yes", "-p", str(repo)] if kind != "undo"
            else [WQM, "project", "undo", "--yes"])
    env = clean_env(WQM_DATA_DIR=str(data_dir), WQM_SERVICE="off", WQM_FAULT_POINT=point)
    return CliCrash(kind, point, applied, rep, settings, repo, remote_name, physical,
                    world(settings), Child(argv, env, cwd=repo))


@pytest.fixture(scope="module")
def cli_crashes(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str, int], CliCrash]:
    """Every CLI case prepared in its own data directory, its ``wqm`` run killed."""
    base = tmp_path_factory.mktemp("cli-crash")
    cases = {(kind, point, rep): _prepare_cli(base, kind, point, applied, rep)
             for kind, point, applied in CLI_CASES for rep in range(REPEATS)}
    run_children([case.child for case in cases.values()])
    return cases


def _expected_table(case: CliCrash) -> dict[str, str]:
    table = dict(case.before["qdrant"])
    if not case.applied:
        return table
    if case.kind == "update_remote":
        assert case.physical is not None
        table[case.remote_name] = case.physical
    elif case.kind == "undo":
        del table[case.remote_name]
    return table


def _reopen_with_doctor(case: CliCrash) -> None:
    """The first repetition re-opens through ``wqm project doctor``, as a user would."""
    env = clean_env(WQM_DATA_DIR=str(case.settings.data_dir), WQM_SERVICE="off")
    doctor = Child([WQM, "project", "doctor", "--format", "json"], env, cwd=case.repo)
    run_children([doctor])
    assert doctor.returncode == 0, doctor.stdout + doctor.stderr
    report = json.loads(doctor.stdout)
    assert report["ok"] and report["remaining"] == 0, report


def _check_state(case: CliCrash) -> None:
    after = world(case.settings)  # opening the workspace finishes or undoes the change
    before = case.before
    assert after["pending"] == 0
    assert after["registry"] == after["qdrant"], "registry and Qdrant disagree"
    if case.kind == "register":
        table = dict(after["qdrant"])
        created = table.pop(case.remote_name, None)
        assert table == before["qdrant"]
        if case.applied:
            assert created is not None and is_opaque_physical_name(created)
            assert after["collections"] == before["collections"] | {created}
            assert after["counts"][created] == 0
        else:
            assert created is None, "a rolled-back registration left its name"
            assert after["collections"] == before["collections"], "an unfinished collection stayed"
    else:
        assert after["qdrant"] == _expected_table(case)
        assert after["collections"] == before["collections"]
    for collection, count in before["counts"].items():
        assert after["counts"][collection] == count, f"points lost in {collection}"
    reached = set(after["qdrant"].values())
    assert not [c for c in after["collections"]
                if is_opaque_physical_name(c) and c not in reached], "nameless collection left"
    assert after["events"] == before["events"] + (1 if case.applied else 0)
    assert after["changes"] == before["changes"] + 1
    assert integrity(case.settings) == "ok"


def _check_next_command_works(case: CliCrash) -> None:
    """The interrupted command (or its natural follow-up) now completes."""
    with opened(case.settings) as ws:
        assert ws.aliases.reconcile_sync().ok
        last = ws.state.get_change(case.before["changes"] + 1)
        assert last is not None
        assert last.status == "done" if case.applied else last.status in {"abandoned",
                                                                           "rolled_back"}
        if case.kind == "undo":
            # undone: undo again redoes it; not undone: undo now works
            done = alias_ops.undo(ws, str(case.repo))
            assert done["status"] == "undone"
            assert (case.remote_name in ws.aliases.names_of_collection(case.physical or "")) == (
                case.applied)
        else:
            plan = identity.plan_update_remote(ws, str(case.repo))
            result = identity.apply_plan(ws, plan)
            want = {"nothing_to_do"} if case.applied else {"applied", "registered"}
            assert result["status"] in want, result
            live = ws.aliases.resolve_sync(case.remote_name)
            assert live != case.remote_name  # the name reaches a collection now
            if case.physical is not None:
                assert live == case.physical


@pytest.mark.parametrize("rep", range(REPEATS))
@pytest.mark.parametrize(("kind", "point", "applied"), CLI_CASES)
def test_cli_killed_at_each_step_leaves_all_or_nothing(
    cli_crashes: dict[tuple[str, str, int], CliCrash], kind: str, point: str, applied: bool,
    rep: int,
) -> None:
    case = cli_crashes[(kind, point, rep)]
    child = case.child
    assert child.returncode == -9, (
        f"wqm was not SIGKILLed at {point} (rc={child.returncode}):\n{child.stderr}")
    pending = core_crash.pending_in_file(case.settings.registry_path)
    assert pending == (0 if point == "after_done" else 1), "the kill left no trace to recover"
    if rep == 0:
        _reopen_with_doctor(case)
    _check_state(case)
    _check_next_command_works(case)


# ---------------------------------------------------------------- alias core, repeated


ALIAS_REPEATS = 20 if LONG else 0
ALIAS_PARAMS = [
    pytest.param(op, point, applied, rep, id=f"{op}-{point}-{rep}")
    for op, point, applied in core_crash.CASES for rep in range(ALIAS_REPEATS)
] or [pytest.param(None, None, None, None, marks=pytest.mark.skip(
    reason="bounded run: tests/test_crash_recovery.py runs each alias-core case once; "
           "WQM_LONG=1 repeats each 20 times here"))]


@pytest.fixture(scope="module")
def alias_crashes(
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[tuple[str, str, int], core_crash.Crash]:
    """Every alias-core case x repetition prepared as test_crash_recovery does, then killed."""
    prepared: dict[tuple[str, str, int], core_crash.Crash] = {}
    children: list[Child] = []
    for op, point, _applied in core_crash.CASES:
        assert op in CRASH_OPS
        for rep in range(ALIAS_REPEATS):
            data_dir = tmp_path_factory.mktemp(f"alias-{op}-{point}-{rep}")
            settings = Settings(data_dir=data_dir, cache_dir=data_dir / "cache", service="off")
            crash = core_crash.Crash(settings, core_crash.prepare(settings))
            prepared[(op, point, rep)] = crash
            child = Child([sys.executable, str(core_crash.CHILD), "crash", op],
                          core_crash.child_env(data_dir, point), tags={"crash": crash})
            children.append(child)
    run_children(children)
    for child in children:
        crash = child.tags["crash"]
        crash.returncode, crash.stderr = child.returncode, child.stderr
    return prepared


@pytest.mark.parametrize(("op", "point", "applied", "rep"), ALIAS_PARAMS)
async def test_alias_core_killed_repeatedly(
    alias_crashes: dict[tuple[str, str, int], core_crash.Crash], op: str, point: str,
    applied: bool, rep: int,
) -> None:
    crash = alias_crashes[(op, point, rep)]
    # the very checks of test_crash_recovery.py, on this repetition's data directory
    await core_crash.test_killed_change_is_finished_or_undone(
        {(op, point): crash}, op, point, applied)
    assert integrity(crash.settings) == "ok"
