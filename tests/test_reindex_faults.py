"""Issue 14 with real processes: a rebuild killed at any step, concurrent use, bad input.

Every crash case starts from a copy of one prepared data directory (a real git
project indexed under the base recipe, three notes, a path name and a remote
name). A child process (``tests/_reindex_support.py``, ``WQM_SERVICE=off``)
rebuilds it under a new recipe (``WQM_RECIPE_TAG``, as a release changing the
chunker would) with ``WQM_FAULT_POINT`` armed, and SIGKILLs itself at that
step. Then the workspace is opened again in this process, and the workspace
service is started on it (its keeper resumes or finishes the rebuild): at
every moment some collection serves every name, from points of one recipe,
holding every file and note.

Also here: the service itself killed mid-rebuild; leftovers reported by
``doctor``, resumed by ``reindex``, removed by ``--fix``, discarded by a build
of another recipe; undo and redo keeping notes stored since; a disk too small,
a model that cannot load; a second ``reindex`` attaching; two clones sharing a
collection; and the concurrency scenario of ``bench/bench_reindex.py`` at a
small size (4 clients searching through both names while the service's keeper
rebuilds after an upgrade, notes and edits meanwhile, a second reindex).

Nothing is mocked: real embedded Qdrant, real SQLite, real git, real
processes. The disk that is too small is real too: a 32 MB tmpfs mounted for
the test (root only, else skipped), filled with a real file.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from _reindex_support import check_whole, project_files, serving

# The concurrency test is the benchmark's scenario at a small size.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
import bench_reindex
from conftest import GIT_ENV, git
from reliability._fault_support import mount_tmpfs, umount
from workspace_qdrant_mcp.backends.service import ServiceBackend, stop_service
from workspace_qdrant_mcp.config import Settings
from workspace_qdrant_mcp.core import store
from workspace_qdrant_mcp.core.identity import detect_identity
from workspace_qdrant_mcp.core.index_registry import BUILDING, LIVE, RETIRED, IndexRegistry
from workspace_qdrant_mcp.ops import aliases as alias_ops
from workspace_qdrant_mcp.ops.ingest import ingest
from workspace_qdrant_mcp.ops.notes import store_note
from workspace_qdrant_mcp.ops.reindex import collect, reindex
from workspace_qdrant_mcp.workspace.indexer import indexed_files
from workspace_qdrant_mcp.workspace.workspace import Workspace

CHILD = Path(__file__).with_name("_reindex_support.py")
TAG = "faults-1"
#: Steps of a rebuild, then the steps of its alias switch (the rebuild's only alias change).
REBUILD_POINTS = ["reindex_building", "reindex_catching_up", "reindex_verifying",
                  "reindex_switching", "reindex_retiring"]
SWITCH_POINTS = ["after_intent", "after_qdrant", "after_done"]
#: Whether the names have moved to the new collection when the process dies at that step.
SWITCHED = {"reindex_building": False, "reindex_catching_up": False, "reindex_verifying": False,
            "after_intent": False, "after_qdrant": True, "after_done": True,
            "reindex_switching": True, "reindex_retiring": True}


@dataclass
class Template:
    """A prepared data directory to copy, and what it holds."""

    data_dir: Path
    repo: Path
    files: dict[str, str]
    notes: set[str]
    names: list[str]
    old: str
    old_recipe: str


def _settings(data_dir: Path, cache_dir: Path, **extra: Any) -> Settings:
    return Settings(data_dir=data_dir, cache_dir=cache_dir, service="off", watch=False, **extra)


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory, model_cache_dir: Path) -> Template:
    """The project indexed under the base recipe, with notes and two names."""
    base = tmp_path_factory.mktemp("reindex-template")
    repo = base / "proj"
    repo.mkdir()
    files = project_files()
    for rel, text in files.items():
        (repo / rel).parent.mkdir(parents=True, exist_ok=True)
        (repo / rel).write_text(text)
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "initial")
    data_dir = base / "data"
    ws = Workspace(_settings(data_dir, model_cache_dir)).open()
    try:
        ingest(ws, project_path=str(repo))
        notes = {store_note(ws, f"Decision {i}: deploys happen on day {i} after the standup.",
                            title=f"decision {i}", project_path=str(repo))["id"]
                 for i in range(3)}
        git(repo, "remote", "add", "origin", "https://github.com/acme/reindex-proof.git")
        ctx = ws.project(repo)  # the automatic migration adds the remote-based name
        assert ctx.physical is not None and len(ctx.names) == 2
        old_recipe = check_whole(ws, ctx.names[0], files, notes)
        return Template(data_dir, repo, files, notes, sorted(ctx.names), ctx.physical,
                        old_recipe)
    finally:
        ws.close()


def _child_env(data_dir: Path, cache_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WQM_", "QDRANT_"))}
    return {**env, **GIT_ENV, "WQM_DATA_DIR": str(data_dir), "WQM_CACHE_DIR": str(cache_dir),
            "WQM_SERVICE": "off", "WQM_WATCH": "0", **extra}


def _copy(template: Template, tmp_path: Path) -> Path:
    data_dir = tmp_path / "data"
    shutil.copytree(template.data_dir, data_dir)
    return data_dir


def _crash(data_dir: Path, cache_dir: Path, repo: Path, point: str) -> None:
    """Run the rebuild in a child with ``point`` armed; it must die by SIGKILL."""
    done = subprocess.run(
        [sys.executable, str(CHILD), "reindex", str(repo)],
        env=_child_env(data_dir, cache_dir, WQM_FAULT_POINT=point, WQM_RECIPE_TAG=TAG),
        capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == -9, f"the child was not killed at {point}: {done.stderr[-2000:]}"


def _wait_rebuilt(backend: ServiceBackend, repo: Path, timeout: float = 180.0) -> dict[str, Any]:
    """Poll ``status`` until the project's index is of the current recipe, no rebuild running."""
    deadline = time.monotonic() + timeout
    while True:
        status = backend.call("status", project_path=str(repo))
        index = status["index"]
        rebuild = index.get("rebuild") or {}
        if index.get("recipe_current") and not rebuild.get("running"):
            return dict(status)
        assert time.monotonic() < deadline, f"no rebuild finished: {json.dumps(index)[:800]}"
        time.sleep(0.3)


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Settings]]:
    """Settings of services started by a test; each is stopped at teardown."""
    started: list[Settings] = []
    yield started
    for settings in started:
        stop_service(settings)


def _service(monkeypatch: pytest.MonkeyPatch, data_dir: Path, cache_dir: Path,
             started: list[Settings], **env: str) -> ServiceBackend:
    """A client of a fresh workspace service on ``data_dir`` (started on first call)."""
    for key, value in {"WQM_DATA_DIR": str(data_dir), "WQM_CACHE_DIR": str(cache_dir),
                       "WQM_SERVICE": "auto", **env}.items():
        monkeypatch.setenv(key, value)
    settings = Settings.from_env()
    started.append(settings)
    return ServiceBackend(settings)


# -- SIGKILL at every step, then restart ----------------------------------------------------


@pytest.mark.parametrize("point", REBUILD_POINTS + SWITCH_POINTS)
def test_killed_rebuild_leaves_one_collection_serving_and_the_service_finishes_it(
    point: str, template: Template, tmp_path: Path, model_cache_dir: Path,
    monkeypatch: pytest.MonkeyPatch, served: list[Settings],
) -> None:
    data_dir = _copy(template, tmp_path)
    _crash(data_dir, model_cache_dir, template.repo, point)

    # Open again in-process: one collection serves every name, one recipe, nothing lost.
    ws = Workspace(_settings(data_dir, model_cache_dir, recipe_tag=TAG)).open()
    try:
        target = serving(ws, template.names)
        assert (target != template.old) is SWITCHED[point]
        recipe = {n: check_whole(ws, n, template.files, template.notes)
                  for n in template.names}
        expected_recipe = ws.models.current().id if SWITCHED[point] else template.old_recipe
        assert set(recipe.values()) == {expected_recipe}
        assert ws.aliases.reconcile_sync().problems == []
        building = [c.physical for c in IndexRegistry(ws.state).collections(BUILDING)]
        # A half-built collection is never reachable by a name.
        assert not set(building) & set(store.live_aliases(ws.client).values()) or point in (
            "after_qdrant", "after_done", "reindex_switching")
    finally:
        ws.close()

    # Start the service: its keeper resumes the build (or finishes the bookkeeping).
    backend = _service(monkeypatch, data_dir, model_cache_dir, served, WQM_RECIPE_TAG=TAG)
    try:
        status = _wait_rebuilt(backend, template.repo)
    finally:
        backend.close()
    stop_service(served[-1])

    ws = Workspace(_settings(data_dir, model_cache_dir, recipe_tag=TAG)).open()
    try:
        new = serving(ws, template.names)
        assert new != template.old and status["physical_collection"] == new
        for name in template.names:
            assert check_whole(ws, name, template.files, template.notes) == \
                ws.models.current().id
        registry = IndexRegistry(ws.state)
        states = {c.physical: c.state for c in registry.collections()}
        assert states[new] == LIVE and states[template.old] == RETIRED
        assert [c for c, s in states.items() if s == BUILDING] == []
        assert ws.state.project_by_collection(new) is not None
        assert ws.state.project_by_collection(template.old) is None
        assert ws.aliases.reconcile_sync().problems == []
        # The old collection is kept for undo, and undo works.
        undone = alias_ops.undo(ws, str(template.repo))
        assert undone["change"]["kind"] == "reindex"
        assert serving(ws, template.names) == template.old
        assert registry.collection(template.old).state == LIVE  # type: ignore[union-attr]
        # gc removes only what no name reaches.
        removed = {r["collection"] for r in collect(ws, dry_run=True)["removed"]}
        assert template.old not in removed and new in removed
    finally:
        ws.close()


@pytest.mark.parametrize("point", ["after_qdrant", "reindex_switching"])
def test_killed_after_the_switch_then_used_in_process(
    point: str, template: Template, tmp_path: Path, model_cache_dir: Path
) -> None:
    """No service restarts here: the next in-process commands must mend the records."""
    data_dir = _copy(template, tmp_path)
    _crash(data_dir, model_cache_dir, template.repo, point)
    ws = Workspace(_settings(data_dir, model_cache_dir, recipe_tag=TAG)).open()
    try:
        new = serving(ws, template.names)
        assert new != template.old
        note = store_note(ws, "The cache is flushed every night.", project_path=str(template.repo))
        ingest(ws, project_path=str(template.repo))
        assert len(ws.state.projects_by_root(str(template.repo))) == 1
        registry = IndexRegistry(ws.state)
        assert registry.collection(new).state == LIVE  # type: ignore[union-attr]
        again = reindex(ws, project_path=str(template.repo))
        newest = again["new_collection"]
        assert again["old_collection"] == new and newest not in (new, template.old)
        assert serving(ws, template.names) == newest
        for name in template.names:
            check_whole(ws, name, template.files, template.notes | {note["id"]})
        states = {c.physical: c.state for c in registry.collections()}
        assert states == {template.old: RETIRED, new: RETIRED, newest: LIVE}
        assert len(ws.state.projects_by_root(str(template.repo))) == 1
        assert ws.aliases.reconcile_sync().problems == []
    finally:
        ws.close()


# -- leftovers: reported, resumed, discarded, removed ---------------------------------------


def test_an_interrupted_build_is_reported_then_resumed_by_reindex(
    template: Template, tmp_path: Path, model_cache_dir: Path
) -> None:
    data_dir = _copy(template, tmp_path)
    _crash(data_dir, model_cache_dir, template.repo, "reindex_catching_up")
    # The real `wqm` executable, in-process store (no service): doctor names the leftover.
    env = _child_env(data_dir, model_cache_dir, WQM_RECIPE_TAG=TAG)
    found = subprocess.run([str(Path(sys.executable).with_name("wqm")), "project", "doctor",
                            "--format", "json"], env=env, capture_output=True, text=True,
                           timeout=300, check=False)
    assert found.returncode == 1, found.stderr
    problems = json.loads(found.stdout)["problems"]
    assert [p["kind"] for p in problems] == ["unfinished_rebuild"]
    building = problems[0]["name"]
    assert "`wqm reindex` resumes it" in problems[0]["detail"] and " MB)" in problems[0]["detail"]

    ws = Workspace(_settings(data_dir, model_cache_dir, recipe_tag=TAG)).open()
    try:
        result = reindex(ws, project_path=str(template.repo))
        assert result["new_collection"] == building  # resumed, not started over
        assert serving(ws, template.names) == building
        report = alias_ops.doctor(ws)
        assert report["ok"] and report["problems"] == []
        [kept] = report["retired"]
        assert kept["collection"] == template.old and kept["bytes"] > 0
        assert kept["project_root"] == str(template.repo) and kept["replaced_by"] == building
    finally:
        ws.close()


def test_doctor_fix_removes_a_leftover_and_a_newer_recipe_discards_an_older_build(
    template: Template, tmp_path: Path, model_cache_dir: Path
) -> None:
    data_dir = _copy(template, tmp_path)
    _crash(data_dir, model_cache_dir, template.repo, "reindex_building")
    ws = Workspace(_settings(data_dir, model_cache_dir, recipe_tag=TAG)).open()
    try:
        [first] = IndexRegistry(ws.state).collections(BUILDING)
        fixed = alias_ops.doctor(ws, fix=True)
        assert [(p["kind"], p["name"], p["fixed"]) for p in fixed["problems"]] == [
            ("unfinished_rebuild", first.physical, True)]
        assert first.physical not in store.collection_names(ws.client)
        assert IndexRegistry(ws.state).collections(BUILDING) == []
        assert serving(ws, template.names) == template.old  # the live index untouched
        check_whole(ws, template.names[0], template.files, template.notes)
    finally:
        ws.close()

    _crash(data_dir, model_cache_dir, template.repo, "reindex_building")  # again, recipe TAG
    ws = Workspace(_settings(data_dir, model_cache_dir, recipe_tag=TAG + "-next")).open()
    try:
        [stale] = IndexRegistry(ws.state).collections(BUILDING)
        result = reindex(ws, project_path=str(template.repo))  # another recipe: a fresh build
        assert result["new_collection"] != stale.physical
        assert stale.physical not in store.collection_names(ws.client)
        assert IndexRegistry(ws.state).collection(stale.physical) is None
        assert alias_ops.doctor(ws)["ok"]
    finally:
        ws.close()


def test_undo_and_redo_of_a_rebuild_keep_the_notes_stored_since(
    template: Template, tmp_path: Path, model_cache_dir: Path
) -> None:
    data_dir = _copy(template, tmp_path)
    ws = Workspace(_settings(data_dir, model_cache_dir, recipe_tag=TAG)).open()
    try:
        new = reindex(ws, project_path=str(template.repo))["new_collection"]
        after_switch = store_note(ws, "Backups run at noon.", project_path=str(template.repo))
        alias_ops.undo(ws, str(template.repo))
        assert serving(ws, template.names) == template.old
        notes = template.notes | {after_switch["id"]}
        for name in template.names:
            assert check_whole(ws, name, template.files, notes) == template.old_recipe
        after_undo = store_note(ws, "Releases are tagged on Fridays.",
                                project_path=str(template.repo))
        alias_ops.undo(ws, str(template.repo))  # redo: the rebuilt index is back
        assert serving(ws, template.names) == new
        for name in template.names:
            assert check_whole(ws, name, template.files, notes | {after_undo["id"]}) \
                == ws.models.current().id
    finally:
        ws.close()


# -- refused before anything is built ------------------------------------------------------


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 320 MB tmpfs (an Edge rebuild's working set, and the 64 MB it keeps free): root only."""
    mount = tmp_path / "disk"
    mount_tmpfs(mount, "320m")  # skips the test where a tmpfs cannot be mounted
    try:
        yield mount
    finally:
        umount(mount)


def _nothing_built(ws: Workspace, before: set[str], template: Template) -> None:
    assert store.collection_names(ws.client) == before
    assert IndexRegistry(ws.state).collections(BUILDING) == []
    assert serving(ws, template.names) == template.old


def test_a_disk_too_small_for_two_copies_is_refused_up_front(
    template: Template, small_disk: Path, model_cache_dir: Path
) -> None:
    from workspace_qdrant_mcp.workspace.rebuild import (
        SPACE_MARGIN,
        RebuildRefused,
        collection_bytes,
    )

    data_dir = small_disk / "data"
    # Sparse files stay sparse (an Edge shard maps far more than it writes).
    subprocess.run(["cp", "-a", "--sparse=always", str(template.data_dir), str(data_dir)],
                   check=True)
    ws = Workspace(_settings(data_dir, model_cache_dir, recipe_tag=TAG)).open()
    filler = small_disk / "filler"
    try:
        size = collection_bytes(ws, template.old)
        assert size > 0
        needed = int(size * SPACE_MARGIN)
        with filler.open("wb") as handle:  # leave half of what a second copy needs
            while shutil.disk_usage(small_disk).free > needed // 2 + (1 << 20):
                handle.write(b"\0" * (1 << 20))
            handle.write(b"\0" * max(0, shutil.disk_usage(small_disk).free - needed // 2))
        assert shutil.disk_usage(small_disk).free < needed
        before = store.collection_names(ws.client)
        with pytest.raises(RebuildRefused) as refused:
            reindex(ws, project_path=str(template.repo))
        message = str(refused.value)
        assert message.startswith("Rebuilding needs about ") and f"{data_dir} has " in message
        assert f"{needed / 1e6:,.1f} MB free beside the current index" in message
        _nothing_built(ws, before, template)
        filler.unlink()  # with the space back, the same rebuild goes through
        assert reindex(ws, project_path=str(template.repo))["status"] == "switched"
    finally:
        ws.close()


def test_a_recipe_whose_model_cannot_be_loaded_is_refused_before_anything_is_built(
    template: Template, tmp_path: Path, model_cache_dir: Path
) -> None:
    from workspace_qdrant_mcp.workspace.rebuild import RebuildRefused

    data_dir = _copy(template, tmp_path)
    empty = tmp_path / "no-model"
    empty.mkdir()
    ws = Workspace(_settings(data_dir, model_cache_dir, recipe_tag=TAG, model_path=empty)).open()
    try:
        before = store.collection_names(ws.client)
        unusable = r"embedding model is unusable: .*config\.json is missing.* Nothing was rebuilt\."
        with pytest.raises(RebuildRefused, match=unusable):
            reindex(ws, project_path=str(template.repo))
        _nothing_built(ws, before, template)
    finally:
        ws.close()


# -- one job per project; every checkout --------------------------------------------------


def test_a_second_reindex_attaches_to_the_running_one(
    template: Template, tmp_path: Path, model_cache_dir: Path
) -> None:
    """The rebuild is held at its last round (the test holds the write gate), so the second
    caller is sure to arrive while it runs."""
    import threading

    from workspace_qdrant_mcp.workspace.gates import write_gate
    from workspace_qdrant_mcp.workspace.sync import running_rebuild

    data_dir = _copy(template, tmp_path)
    ws = Workspace(_settings(data_dir, model_cache_dir, recipe_tag=TAG)).open()
    results: list[dict[str, Any]] = []
    try:
        before = store.collection_names(ws.client)
        gate = write_gate(template.old)
        with gate:
            callers = [threading.Thread(target=lambda: results.append(
                dict(reindex(ws, project_path=str(template.repo))))) for _ in range(2)]
            callers[0].start()
            deadline = time.monotonic() + 60
            while running_rebuild(ws, str(template.repo)) is None:
                assert time.monotonic() < deadline
                time.sleep(0.05)
            job = running_rebuild(ws, str(template.repo))
            callers[1].start()
            time.sleep(2.0)  # the second caller reaches the job; the first waits at the gate
            assert job is not None and job.running
        for caller in callers:
            caller.join(120)
        assert len(results) == 2
        assert results[0]["new_collection"] == results[1]["new_collection"]
        assert results[0]["change_id"] == results[1]["change_id"]
        assert results[0]["job"]["started_at"] == results[1]["job"]["started_at"]
        assert store.collection_names(ws.client) - before == {results[0]["new_collection"]}
    finally:
        ws.close()


def test_a_rebuild_keeps_the_files_of_every_clone_sharing_the_collection(
    make_repo: Any, settings: Settings
) -> None:
    remote = "https://github.com/acme/two-clones.git"
    first = make_repo("first", files=project_files(), remote=remote)
    second = first.parent / "second"
    git(first.parent, "clone", "-q", str(first), str(second))
    git(second, "remote", "set-url", "origin", remote)
    (second / "src" / "only_here.py").write_text("def only_in_the_second_clone():\n    pass\n")
    git(second, "add", "-A")
    git(second, "commit", "-q", "-m", "a file only this clone has")
    ws = Workspace(settings).open()
    try:
        ingest(ws, project_path=str(first))
        ingest(ws, project_path=str(second))
        assert ws.project(first).physical == ws.project(second).physical
    finally:
        ws.close()
    tagged = Workspace(settings.with_overrides(recipe_tag=TAG)).open()
    try:
        result = reindex(tagged, project_path=str(first))
        name = detect_identity(first).current_name
        files = {**project_files(), "src/only_here.py": ""}
        assert check_whole(tagged, name, files, set(), query="only in the second clone") \
            == tagged.models.current().id
        assert serving(tagged, [name]) == result["new_collection"]
    finally:
        tagged.close()


@pytest.mark.parametrize("point", ["reindex_catching_up", "reindex_switching"])
def test_the_service_killed_mid_rebuild_resumes_it_when_started_again(
    point: str, template: Template, tmp_path: Path, model_cache_dir: Path,
    monkeypatch: pytest.MonkeyPatch, served: list[Settings],
) -> None:
    """The service itself, started on an upgraded recipe, rebuilds in the background and dies."""
    data_dir = _copy(template, tmp_path)
    env = _child_env(data_dir, model_cache_dir, WQM_SERVICE="auto", WQM_RECIPE_TAG=TAG,
                     WQM_FAULT_POINT=point)
    service = subprocess.run([sys.executable, "-m", "workspace_qdrant_mcp.service"], env=env,
                             capture_output=True, text=True, timeout=300, check=False)
    assert service.returncode == -9, service.stderr[-2000:]
    backend = _service(monkeypatch, data_dir, model_cache_dir, served, WQM_RECIPE_TAG=TAG)
    try:
        status = _wait_rebuilt(backend, template.repo)
        assert status["physical_collection"] != template.old
    finally:
        backend.close()
    stop_service(served[-1])
    ws = Workspace(_settings(data_dir, model_cache_dir, recipe_tag=TAG)).open()
    try:
        new = serving(ws, template.names)
        assert new == status["physical_collection"]
        for name in template.names:
            check_whole(ws, name, template.files, template.notes)
        assert {c.state for c in IndexRegistry(ws.state).collections()} == {LIVE, RETIRED}
    finally:
        ws.close()


# -- concurrency: searches and writes during an upgrade's rebuild ----------------------------


def test_searches_and_writes_during_an_upgrade_rebuild(
    tmp_path: Path, model_cache_dir: Path, monkeypatch: pytest.MonkeyPatch,
    served: list[Settings],
) -> None:
    """The service starts under a new recipe and rebuilds in the background (its keeper);
    4 clients search through the old (path) and new (remote) names, a writer stores notes and
    edits files, and a second ``reindex`` attaches (``bench/bench_reindex.py``, small)."""
    repo = tmp_path / "repo"
    texts = bench_reindex.write_project(repo, files=6)
    data_dir = tmp_path / "data"
    ws = Workspace(_settings(data_dir, model_cache_dir)).open()
    try:
        ingest(ws, project_path=str(repo))
        git(repo, "remote", "add", "origin", "https://github.com/acme/under-load.git")
        ctx = ws.project(repo)
        assert ctx.physical is not None and len(ctx.names) == 2
        old = ctx.physical
    finally:
        ws.close()
    ident = detect_identity(repo)
    names = {"old": ident.path_name, "new": str(ident.remote_name)}
    for key, value in {"WQM_DATA_DIR": str(data_dir), "WQM_CACHE_DIR": str(model_cache_dir),
                       "WQM_SERVICE": "auto", "WQM_RECIPE_TAG": TAG, "WQM_WATCH": "1"}.items():
        monkeypatch.setenv(key, value)
    settings = Settings.from_env()
    served.append(settings)
    figures = bench_reindex.scenario(settings, repo, names, old, clients=4, notes=24, edits=6,
                                     pause_s=0.05, timeout_s=150)

    searches = figures["searches"]
    assert searches["failed"] == 0, searches["first_errors"]
    assert searches["empty"] == 0 and searches["mixed"] == 0 and searches["back_to_old"] == 0
    assert len(searches["recipes_seen"]) == 2 and searches["during_rebuild"] > 0
    assert searches["old_name"] > 0 and searches["new_name"] > 0
    assert figures["writer_error"] is None
    assert figures["notes"]["during_build"] > 0 and figures["edits"]["during_build"] > 0, figures
    assert figures["edits"]["all_searchable_s_after_switch"] is not None, "an edit never arrived"
    attach = figures["attach"]
    assert attach["called_during"] and attach["error"] is None, attach
    assert attach["new_collection"] == figures["new_collection"]

    writes = figures["raw"]["writes"]
    ws = Workspace(_settings(data_dir, model_cache_dir, recipe_tag=TAG)).open()
    try:
        new = serving(ws, list(names.values()))
        assert new == figures["new_collection"] != old
        recipe = ws.models.current().id
        for name in names.values():
            assert check_whole(ws, name, texts, {n["id"] for n in writes["notes"]}) == recipe
        held = indexed_files(ws, names["new"])
        for item in writes["edits"]:
            assert set(held[item["path"]].counts) == {(item["sha256"], recipe)}, item
        states = {c.physical: c.state for c in IndexRegistry(ws.state).collections()}
        assert states == {old: RETIRED, new: LIVE}  # one rebuild: the second call attached
    finally:
        ws.close()
