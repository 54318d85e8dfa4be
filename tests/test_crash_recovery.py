"""A process SIGKILLed in the middle of an alias change leaves nothing that ``initialize()`` cannot mend.

For each operation and each step of intent -> Qdrant -> done, a child process
(``tests/_alias_support.py crash OP``) opens the workspace with
``WQM_FAULT_POINT`` armed and is killed by the fault hook with SIGKILL, exactly
like ``kill -9`` or a power cut. The test process then re-opens the same data
directory (real embedded Qdrant, real SQLite registry), calls ``initialize()``
and checks: no pending change is left; registry and Qdrant alias tables are
equal; the change happened fully (killed after Qdrant was switched) or not at
all (killed before); point counts are unchanged; no physical collection is left
without a name; and the next change works.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from _alias_support import (
    NEW_PROJECT,
    PROJECT_A,
    PROJECT_B,
    assert_stores_agree,
    event_count,
    new_project,
    orphan_collections,
    point_count,
    qdrant_table,
    upsert_random,
)
from workspace_qdrant_mcp.config import Settings
from workspace_qdrant_mcp.core import store
from workspace_qdrant_mcp.core.client import QdrantWorkspaceClient
from workspace_qdrant_mcp.core.collection_aliases import AliasChange
from workspace_qdrant_mcp.core.naming import is_opaque_physical_name

#: Every test here runs on each embedded engine (conftest.engine).
pytestmark = pytest.mark.usefixtures("engine")

CHILD = Path(__file__).with_name("_alias_support.py")

#: (operation, fault point, whether the change must be in effect after recovery)
CASES = [
    *[
        (op, point, point != "after_intent")
        for op in ("create", "repoint", "delete", "undo")
        for point in ("after_intent", "after_qdrant", "after_done")
    ],
    ("create_project_collection", "after_intent", False),
    ("create_project_collection", "after_collection", False),
    ("create_project_collection", "after_qdrant", True),
    ("create_project_collection", "after_done", True),
]


def prepare(settings: Settings) -> dict[str, Any]:
    """Two projects holding points, spare aliases, and ``to_undo`` as the last change."""
    ws = QdrantWorkspaceClient(settings)
    ws.initialize_sync()
    try:
        am = ws.aliases
        phys_a = new_project(am, PROJECT_A)
        phys_b = new_project(am, PROJECT_B)
        upsert_random(ws.client, PROJECT_A, 5, seed=1)
        upsert_random(ws.client, PROJECT_B, 3, seed=2)
        am.switch_sync([AliasChange("moving", PROJECT_A), AliasChange("extra", PROJECT_A)])
        am.switch_sync([AliasChange("to_undo", PROJECT_B)])
        return {
            "phys_a": phys_a,
            "phys_b": phys_b,
            "table": assert_stores_agree(am),
            "collections": store.collection_names(ws.client),
            "events": event_count(am),
            "counts": {phys_a: 5, phys_b: 3},
        }
    finally:
        ws.close_sync()


def expected_table(op: str, before: dict[str, str], phys_a: str, phys_b: str) -> dict[str, str]:
    """The alias table once ``op`` has fully happened (create_project_collection aside)."""
    table = dict(before)
    if op == "create":
        table["fresh_alias"] = phys_a
    elif op == "repoint":
        table["moving"] = phys_b
    elif op == "delete":
        del table["extra"]
    elif op == "undo":
        del table["to_undo"]
    return table


def pending_in_file(registry: Path) -> int:
    """Pending changes as another process reads them straight from the file."""
    with sqlite3.connect(str(registry)) as conn:
        return int(
            conn.execute("SELECT COUNT(*) FROM alias_changes WHERE status='pending'").fetchone()[0]
        )


def child_env(data_dir: Path, point: str) -> dict[str, str]:
    """The child's environment: this one without WQM_*/QDRANT_*, plus its data dir and fault."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WQM_", "QDRANT_"))}
    return {**env, "WQM_DATA_DIR": str(data_dir), "WQM_SERVICE": "off", "WQM_FAULT_POINT": point}


@dataclass
class Crash:
    """One prepared data dir, and how its child process ended."""

    settings: Settings
    world: dict[str, Any]
    returncode: int | None = None
    stderr: str = ""


@pytest.fixture(scope="module")
def crashes(
    tmp_path_factory: pytest.TempPathFactory, module_engine: str
) -> dict[tuple[str, str], Crash]:
    """Every case prepared in its own data dir, its child run and killed.

    The children are independent (one data dir each), so they run a few at a
    time: the cost of a case is mostly the child's Python start-up.
    """
    prepared: dict[tuple[str, str], Crash] = {}
    for op, point, _ in CASES:
        data_dir = tmp_path_factory.mktemp(f"crash-{op}-{point}")
        settings = Settings(data_dir=data_dir, cache_dir=data_dir / "cache", service="off",
                            engine=module_engine)
        prepared[(op, point)] = Crash(settings, prepare(settings))
    waiting = list(prepared.items())
    running: list[tuple[Crash, subprocess.Popen[str]]] = []
    while waiting or running:
        while waiting and len(running) < 4:
            (op, point), crash = waiting.pop(0)
            proc = subprocess.Popen(
                [sys.executable, str(CHILD), "crash", op],
                env=child_env(crash.settings.data_dir, point),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
            )
            running.append((crash, proc))
        crash, proc = running.pop(0)
        _, crash.stderr = proc.communicate(timeout=120)
        crash.returncode = proc.returncode
    return prepared


@pytest.mark.parametrize(("op", "point", "applied"), CASES)
async def test_killed_change_is_finished_or_undone(
    crashes: dict[tuple[str, str], Crash], op: str, point: str, applied: bool
) -> None:
    crash = crashes[(op, point)]
    settings, world = crash.settings, crash.world
    phys_a, phys_b = world["phys_a"], world["phys_b"]
    assert crash.returncode == -9, (
        f"child was not SIGKILLed at {point} (rc={crash.returncode}):\n{crash.stderr}"
    )
    # the crash really left a change half-done (or, after "done", nothing to mend)
    assert pending_in_file(settings.registry_path) == (0 if point == "after_done" else 1)

    ws = QdrantWorkspaceClient(settings)
    await ws.initialize()
    try:
        am = ws.aliases
        assert am.state_manager.pending_changes() == []
        live = assert_stores_agree(am)

        if op == "create_project_collection":
            created = live.pop(NEW_PROJECT, None)
            assert live == world["table"]
            if applied:
                assert created is not None and is_opaque_physical_name(created)
                assert created not in world["collections"]
                assert point_count(ws.client, NEW_PROJECT) == 0
            else:
                assert created is None
                assert store.collection_names(ws.client) == world["collections"]
        else:
            want = expected_table(op, world["table"], phys_a, phys_b) if applied else world["table"]
            assert live == want
            assert store.collection_names(ws.client) == world["collections"]

        for physical, count in world["counts"].items():
            assert point_count(ws.client, physical) == count
        assert orphan_collections(ws.client) == []

        # the audit log: one event for the change that happened, none for one that did not
        assert event_count(am) == world["events"] + (1 if applied else 0)
        last = am.state_manager.get_change(
            am.state_manager.connection.execute("SELECT MAX(id) FROM alias_changes").fetchone()[0]
        )
        assert last is not None
        assert last.status == "done" if applied else last.status in {"abandoned", "rolled_back"}
        if op == "undo" and applied:
            assert last.kind == "undo"
            original = am.state_manager.get_change(last.undo_of or 0)
            assert original is not None and original.undone_by == last.id

        assert (await am.reconcile()).ok
        await am.create_alias("after_crash", PROJECT_A)  # the lock and the stores are usable
        assert qdrant_table(ws.client)["after_crash"] == phys_a
        assert_stores_agree(am)
    finally:
        await ws.close()


def test_doctor_reports_then_repairs_a_crash_and_recovery_is_idempotent(
    settings: Settings,
) -> None:
    """``reconcile()`` (what ``doctor`` runs) sees the crash before ``initialize()`` mends it."""
    world = prepare(settings)
    child = subprocess.run(
        [sys.executable, str(CHILD), "crash", "repoint"],
        env={**os.environ, "WQM_FAULT_POINT": "after_qdrant"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert child.returncode == -9, child.stderr

    ws = QdrantWorkspaceClient(settings)  # not initialized: nothing mended yet
    try:
        report = ws.aliases.reconcile_sync()
        assert not report.ok
        assert {p.kind for p in report.problems} == {"pending_change", "target_mismatch"}
        assert pending_in_file(settings.registry_path) == 1
        fixed = ws.aliases.reconcile_sync(fix=True)
        assert fixed.ok
        assert assert_stores_agree(ws.aliases)["moving"] == world["phys_b"]
        assert event_count(ws.aliases) == world["events"] + 1
    finally:
        ws.close_sync()

    for _ in range(2):  # opening again, and initializing twice, changes nothing more
        ws = QdrantWorkspaceClient(settings)
        ws.initialize_sync()
        ws.initialize_sync()
        try:
            assert assert_stores_agree(ws.aliases)["moving"] == world["phys_b"]
            assert event_count(ws.aliases) == world["events"] + 1
            assert ws.state_manager.pending_changes() == []
        finally:
            ws.close_sync()
