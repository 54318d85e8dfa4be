"""Faults around the embedded engines, with real service processes and the real ``wqm``.

- An engine move SIGKILLed at each of its named steps (``WQM_FAULT_POINT`` given
  to a service started by hand, since clients never pass it on): the next
  start serves exactly one complete engine, the old one until the new record
  is committed and the new one after, with every point, payload and alias;
  ``doctor`` names a partial copy; the move then completes.
- The service SIGKILLed while it stores notes, and while it switches alias
  batches (Edge, the default engine): every acknowledged note is there, the
  alias table is whole and the registry agrees with it.
- A second process opening the store the service holds gets one sentence.
- A shard folder deleted by hand: ``doctor`` names the collection, its project
  and the way out; the other project keeps working; ``--fix`` sets it aside and
  ``ingest`` rebuilds it.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from _alias_support import assert_stores_agree
from _project_support import make_data, opened
from conftest import git, run_wqm
from test_engine_move import POINTS_A, contents, same_contents, seed_local
from test_search import SOURCES, build_repo
from workspace_qdrant_mcp.backends.service import ServiceBackend, stop_service
from workspace_qdrant_mcp.config import Settings
from workspace_qdrant_mcp.core import engines
from workspace_qdrant_mcp.core.errors import ServiceError
from workspace_qdrant_mcp.core.runfiles import ServicePaths, read_pid_info
from workspace_qdrant_mcp.ops import aliases as alias_ops
from workspace_qdrant_mcp.ops import ingest as pipeline
from workspace_qdrant_mcp.ops.notes import retrieve
from workspace_qdrant_mcp.ops.search import search

MOVE_STEPS = ("engine_move_begun", "engine_move_copying", "engine_move_copied",
              "engine_move_verified", "engine_move_recorded", "engine_move_switched")
COMMITTED = {"engine_move_recorded", "engine_move_switched"}


def _env(data_dir: Path, cache_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WQM_", "QDRANT_"))}
    return {**env, "WQM_DATA_DIR": str(data_dir), "WQM_CACHE_DIR": str(cache_dir),
            "WQM_SERVICE": "auto", **extra}


def start_service(env: dict[str, str], settings: Settings) -> subprocess.Popen[bytes]:
    """A workspace service started by hand (so that it gets ``WQM_FAULT_POINT``), once ready."""
    proc = subprocess.Popen([sys.executable, "-m", "workspace_qdrant_mcp.service"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if read_pid_info(ServicePaths.for_settings(settings)) is not None:
            backend = ServiceBackend(settings)
            try:
                backend.call("ping")
                return proc
            except ServiceError:
                pass
            finally:
                backend.close()
        assert proc.poll() is None, "the service died while starting"
        time.sleep(0.1)
    raise AssertionError("the service did not start")


@dataclass
class MoveCrash:
    """One data directory whose move was killed at ``step``, and what was seen."""

    step: str
    settings: Settings
    env: dict[str, str]
    before: dict[str, Any]
    service_rc: int | None = None
    cli: subprocess.CompletedProcess[str] | None = None


def _crash_move(case: MoveCrash) -> MoveCrash:
    service = start_service({**case.env, "WQM_FAULT_POINT": case.step}, case.settings)
    try:
        case.cli = run_wqm("engine", "move", "--to", "edge", "--yes", env=case.env, timeout=300)
    finally:
        try:
            case.service_rc = service.wait(timeout=60)
        except subprocess.TimeoutExpired:
            service.kill()
            case.service_rc = service.wait()
    return case


@pytest.fixture(scope="module")
def move_crashes(
    tmp_path_factory: pytest.TempPathFactory, model_cache_dir: Path
) -> Iterator[dict[str, MoveCrash]]:
    """A local-mode data directory per step, its move killed there (a few at a time)."""
    cases = []
    for step in MOVE_STEPS:
        data_dir = tmp_path_factory.mktemp(f"move-{step}") / "wqm-data"
        data_dir.mkdir()
        settings = Settings(data_dir=data_dir, cache_dir=model_cache_dir, service="off")
        seed_local(settings)
        with opened(settings) as ws:
            before = contents(ws)
        cases.append(MoveCrash(step, settings, _env(data_dir, model_cache_dir), before))
    with ThreadPoolExecutor(max_workers=3) as pool:
        done = {case.step: case for case in pool.map(_crash_move, cases)}
    yield done
    for case in cases:  # whatever a failed test left running
        stop_service(case.settings, force=True)


@pytest.mark.parametrize("step", MOVE_STEPS)
def test_move_killed_at_each_step_serves_one_whole_engine(
    move_crashes: dict[str, MoveCrash], step: str
) -> None:
    case = move_crashes[step]
    assert case.service_rc == -signal.SIGKILL, f"the service was not killed at {step}"
    assert case.cli is not None and case.cli.returncode == 1
    said = case.cli.stderr.strip().splitlines()[-1]
    assert "Traceback" not in case.cli.stderr
    if step in COMMITTED:
        assert said == ("Error: The workspace service stopped while answering 'engine_move', "
                        "but it was applied; do not run it again.")
    else:
        assert said == ("Error: The workspace service stopped while running 'engine_move'; it "
                        "was not applied, so running the command again is safe.")
    stop_service(case.settings)  # the one the client started to ask what happened
    expected = "edge" if step in COMMITTED else "local"
    record = engines.read_record(case.settings.data_dir)
    assert record is not None and record.engine == expected
    with opened(case.settings) as ws:  # the next start: exactly one complete engine
        assert ws.client.engine == expected  # type: ignore[attr-defined]
        same_contents(contents(ws), case.before)
        assert_stores_agree(ws.aliases)
        report = alias_ops.doctor(ws)
        partial = [p for p in report["problems"] if p["kind"] == "partial_engine_copy"]
        assert len(partial) == (0 if step in COMMITTED else 1)
        if partial:
            assert "`wqm engine move --to edge` starts the move again" in partial[0]["detail"]
    done = run_wqm("engine", "move", "--to", "edge", "--yes", "--format", "json", env=case.env)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["status"] == ("nothing_to_do" if step in COMMITTED else "moved")
    stop_service(case.settings)
    with opened(case.settings) as ws:
        assert ws.client.engine == "edge"  # type: ignore[attr-defined]
        same_contents(contents(ws), case.before)
        assert alias_ops.doctor(ws)["ok"]


# -- the service killed mid-write on Edge --------------------------------------------------------


@pytest.fixture
def served(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    """The test's data directory served by the workspace service (Edge: a new data dir)."""
    monkeypatch.setenv("WQM_SERVICE", "auto")
    settings = Settings.from_env()
    yield settings
    stop_service(settings, force=True)


def _kill_service(settings: Settings) -> int:
    info = read_pid_info(ServicePaths.for_settings(settings))
    assert info is not None
    pid = int(info["pid"])
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while read_pid_info(ServicePaths.for_settings(settings)) is not None:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    return pid


def test_service_killed_while_storing_notes_keeps_every_acknowledged_note(
    served: Settings, make_repo: Any
) -> None:
    repo = make_repo("notes-repo")
    acked: list[str] = []
    stop = threading.Event()
    errors: list[str] = []

    def writer() -> None:
        backend = ServiceBackend(served)
        try:
            i = 0
            while not stop.is_set():
                try:
                    stored = backend.call("store_note", content=f"note number {i} " * 20,
                                          project_path=str(repo))
                except ServiceError as exc:
                    errors.append(str(exc))
                    return
                acked.append(stored["id"])
                i += 1
        finally:
            backend.close()

    thread = threading.Thread(target=writer)
    thread.start()
    deadline = time.monotonic() + 180
    while len(acked) < 15 and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    _kill_service(served)
    stop.set()
    thread.join(timeout=120)
    stop_service(served)  # the one the cut call started to ask what happened
    assert len(acked) >= 15
    assert len(errors) <= 1 and all(e.startswith("The workspace service") for e in errors)
    with opened(served.with_overrides(service="off")) as ws:
        assert ws.client.engine == "edge"  # type: ignore[attr-defined]
        for note_id in acked:  # every acknowledged write survived the kill
            got = retrieve(ws, document_id=note_id, project_path=str(repo))
            assert got["document_id"] == note_id


def test_service_killed_during_alias_batches_leaves_a_whole_alias_table(
    served: Settings, tmp_path: Path
) -> None:
    local = served.with_overrides(service="off")
    with opened(local) as ws:
        physical = [make_data(ws, build_repo(tmp_path / f"p{i}", {"a.txt": "x\n"}))["physical"]
                    for i in range(2)]
    aliases = [f"batch_alias_{i}" for i in range(4)]
    acked: list[str] = []
    stop = threading.Event()

    def switcher() -> None:
        backend = ServiceBackend(served)
        try:
            i = 0
            while not stop.is_set():
                target = physical[i % 2]
                try:
                    backend.call("alias_switch", changes=[{"alias": a, "target": target}
                                                          for a in aliases], force=True)
                except ServiceError:
                    return
                acked.append(target)
                i += 1
        finally:
            backend.close()

    thread = threading.Thread(target=switcher)
    thread.start()
    deadline = time.monotonic() + 120
    while len(acked) < 20 and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.02)
    _kill_service(served)
    stop.set()
    thread.join(timeout=120)
    stop_service(served)
    assert len(acked) >= 20
    with opened(local) as ws:
        table = assert_stores_agree(ws.aliases)  # registry == engine after settling
        assert ws.state.pending_changes() == []
        assert {table[a] for a in aliases} in ({acked[-1]}, {p for p in physical
                                                               if p != acked[-1]})


def test_a_second_process_gets_one_sentence(served: Settings, make_repo: Any) -> None:
    repo = make_repo("locked")
    backend = ServiceBackend(served)
    try:
        backend.call("status", project_path=str(repo))
        pid = read_pid_info(ServicePaths.for_settings(served))["pid"]  # type: ignore[index]
    finally:
        backend.close()
    done = run_wqm("status", str(repo), env={"WQM_SERVICE": "off"})
    assert done.returncode == 1
    assert done.stderr == (
        f"Error: The embedded store {served.edge_path} is held by the wqm workspace service "
        f"(pid {pid}); go through `wqm` or the MCP server, or stop it with `wqm service stop`.\n"
    )


# -- a shard broken by hand ----------------------------------------------------------------------


def test_doctor_names_a_broken_shard_its_project_and_the_way_out(
    settings: Settings, tmp_path: Path
) -> None:
    broken_repo = build_repo(tmp_path / "broken", SOURCES)
    good_repo = build_repo(tmp_path / "good", {"b.md": "# fine\n"})
    with opened(settings) as ws:
        pipeline.ingest(ws, project_path=str(broken_repo))
        good = make_data(ws, good_repo)
        physical = ws.project(broken_repo).physical
        entry = ws.client._collections[physical].entry  # type: ignore[attr-defined]
    shutil.rmtree(settings.edge_path / entry.shard_dir)
    with opened(settings) as ws:
        report = alias_ops.doctor(ws)
        [row] = [p for p in report["problems"] if p["kind"] == "broken_shard"]
        assert row["name"] == physical and not report["ok"]
        assert f"the project at {broken_repo.resolve()}" in row["detail"]
        assert ws.project(broken_repo).current_name in row["detail"]
        assert "restore it from a backup, or `wqm project doctor --fix` sets it aside" in row["detail"]
        assert ws.client.count(good["name"]).count == 5  # the other project is untouched
        fixed = alias_ops.doctor(ws, fix=True)
        assert [p["fixed"] for p in fixed["problems"] if p["kind"] == "broken_shard"] == [True]
        assert fixed["remaining"] == 0
        assert "its folder was missing" in fixed["problems"][0]["detail"]
        pipeline.ingest(ws, project_path=str(broken_repo))  # rebuilds the project's index
        hits = search(ws, "area of a circle", project_path=str(broken_repo))["results"]
        assert hits and hits[0]["path"] == "src/geometry.py"
        assert alias_ops.doctor(ws)["ok"]
    git(good_repo, "status")  # the repositories themselves were never touched


def test_move_counts_every_point(settings: Settings) -> None:
    """Guard for the fixture: the seeded store has the points the crash cases compare."""
    seed_local(settings)
    with opened(settings) as ws:
        total = sum(len(v) for v in contents(ws)["points"].values())
    assert total == POINTS_A + 40
