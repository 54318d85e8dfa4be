"""Several processes change aliases on one data directory at once, through the workspace service.

The embedded store admits one process, so the workers are clients of the shared
service (``ServiceBackend``), each a separate process sending ``alias_switch``
requests for a bounded time (``_alias_worker.py``). The service runs them on its
thread pool; the alias lock serialises the writers. Afterwards, with the
service stopped, the stores are opened in-process and must show: the registry's
alias table equal to Qdrant's, nothing pending, exactly one audit event per
alias operation the clients saw applied (and every applied change recorded as
done with those events), every point still there and a sound SQLite file.

Bounded run: 3 processes x 10 s. ``WQM_LONG=1``: 4 processes x 60 s.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from _alias_support import event_count, new_project, upsert_random
from _project_support import opened
from workspace_qdrant_mcp.backends.service import ServiceBackend, stop_service
from workspace_qdrant_mcp.config import Settings

from ._support import Child, clean_env, integrity, run_children, world
from .conftest import scaled

pytestmark = pytest.mark.reliability

WORKER = Path(__file__).with_name("_alias_worker.py")
PROCESSES = scaled(3, 4)
SECONDS = scaled(10, 60)
PROJECTS = ("_path_c0c0c0c0c0c0", "_path_c1c1c1c1c1c1", "_path_c2c2c2c2c2c2")


@pytest.fixture
def served(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    """Three projects with points, then the service started; stopped at teardown."""
    settings = Settings(data_dir=data_dir, cache_dir=data_dir / "cache", service="auto")
    with opened(settings) as ws:
        for i, name in enumerate(PROJECTS):
            new_project(ws.aliases, name)
            upsert_random(ws.client, name, 10 + i, seed=i)
    monkeypatch.setenv("WQM_SERVICE", "auto")
    backend = ServiceBackend(settings)
    try:
        assert backend.call("ping")["ok"]
    finally:
        backend.close()
    try:
        yield settings
    finally:
        stop_service(settings)


def test_interleaved_alias_changes_from_several_processes(served: Settings,
                                                         tmp_path: Path) -> None:
    settings = served
    outs = [tmp_path / f"worker{i}.json" for i in range(PROCESSES)]
    env = clean_env(WQM_DATA_DIR=str(settings.data_dir), WQM_SERVICE="auto",
                    WQM_CACHE_DIR=str(settings.cache_dir))
    workers = [Child([sys.executable, str(WORKER), str(SECONDS), str(i), str(out), *PROJECTS], env)
               for i, out in enumerate(outs)]
    run_children(workers, parallel=PROCESSES, timeout=SECONDS + 120)
    for worker in workers:
        assert worker.returncode == 0, worker.stderr
    reports = [json.loads(out.read_text()) for out in outs]
    unexpected = [u for r in reports for u in r["unexpected"]]
    assert unexpected == [], unexpected[:5]
    applied = [a for r in reports for a in r["applied"]]
    refusals = sum((Counter(r["refusals"]) for r in reports), Counter())
    attempts = sum(r["attempts"] for r in reports)
    print(f"\n{PROCESSES} processes x {SECONDS} s: {attempts} requests, {len(applied)} changes "
          f"applied ({sum(a['operations'] for a in applied)} alias operations), "
          f"refusals {dict(refusals)}")
    assert len(applied) >= 10 * PROCESSES, "the workers hardly ran"
    assert refusals["PreconditionFailed"] > 0, "the workers never raced each other"

    stop_service(settings)  # the embedded store opens in one process at a time
    after = world(settings)
    assert after["pending"] == 0
    assert after["registry"] == after["qdrant"]
    with opened(settings) as ws:
        assert ws.aliases.reconcile_sync().ok
        state = ws.state
        setup_events = len(PROJECTS)
        # one audit event per alias operation the clients saw applied, none else
        assert event_count(ws.aliases) == setup_events + sum(a["operations"] for a in applied)
        ids = [a["change_id"] for a in applied]
        assert len(set(ids)) == len(ids), "two clients were told they made the same change"
        for item in applied:
            change = state.get_change(item["change_id"])
            assert change is not None and change.status == "done" and change.actor == "worker"
            events = state.connection.execute(
                "SELECT COUNT(*) FROM alias_events WHERE change_id = ?", (item["change_id"],)
            ).fetchone()[0]
            assert events == item["operations"] == len(change.operations)
        done_by_workers = state.connection.execute(
            "SELECT id FROM alias_changes WHERE actor = 'worker' AND status = 'done'"
        ).fetchall()
        assert sorted(row[0] for row in done_by_workers) == sorted(ids), (
            "a change was applied that no client was told about")
    for i, name in enumerate(PROJECTS):
        physical = after["qdrant"][name]
        assert after["counts"][physical] == 10 + i
    assert integrity(settings) == "ok"
