"""Engine per data directory (engine.json) and the zero-downtime engine move, in-process.

The record: a new data directory is recorded as Edge, one whose ``qdrant/``
holds collections as local mode, and a ``WQM_ENGINE`` that disagrees is
refused with one sentence naming ``wqm engine move``. The move: a local-mode
store with two projects (one reachable under two names), moved to Edge while
threads search and write through the same workspace; afterwards every point
(ids, payloads, vectors), every alias, the payload indexes (facets) and every
write acknowledged during the move are in the new store, no search failed or
came back empty, and the old store is kept. Switching back within the undo
window needs no copy; after a write it copies again. Real engines, nothing
mocked; the crash cases run real service processes in test_engine_faults.py.
"""

from __future__ import annotations

import json
import math
import random
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from qdrant_client import models as qm
from typer.testing import CliRunner

from _project_support import add_points, opened, random_vector
from workspace_qdrant_mcp.cli import app
from workspace_qdrant_mcp.config import Settings
from workspace_qdrant_mcp.core import engines, schema, store
from workspace_qdrant_mcp.core.client import open_store
from workspace_qdrant_mcp.core.collection_aliases import AliasChange
from workspace_qdrant_mcp.core.errors import ConfigError
from workspace_qdrant_mcp.ops import engine as engine_ops
from workspace_qdrant_mcp.workspace.workspace import Workspace

PROJECT_A = "_path_aaaaaaaaaaaa"
PROJECT_B = "_path_bbbbbbbbbbbb"
POINTS_A = 1500  # six pages: writes and searches land between them


# -- the record --------------------------------------------------------------------------------


def test_a_new_data_directory_is_recorded_as_edge(settings: Settings) -> None:
    with opened(settings):
        pass
    record = engines.read_record(settings.data_dir)
    assert record is not None and (record.engine, record.other) == ("edge", None)
    assert settings.engine_description() == f"embedded (edge) {settings.edge_path}"


def test_an_existing_local_mode_directory_stays_local(settings: Settings) -> None:
    with opened(settings.with_overrides(engine="local")) as ws:
        ws.aliases.create_project_collection_sync(
            PROJECT_A, vectors_config=schema.vectors_config())
    engines.record_path(settings.data_dir).unlink()  # as written before the record existed
    assert engines.resolve(settings.data_dir, None) == ("local", None)
    with opened(settings) as ws:
        assert ws.client.engine == "local"  # type: ignore[attr-defined]
    assert engines.read_record(settings.data_dir).engine == "local"  # type: ignore[union-attr]


def test_a_disagreeing_setting_is_refused_with_the_way_out(settings: Settings) -> None:
    with opened(settings):
        pass
    asked = settings.with_overrides(engine="local")
    message = (f"WQM_ENGINE=local, but the store of the data directory {settings.data_dir} is on "
               "the edge engine; move it with `wqm engine move --to local` (or unset WQM_ENGINE).")
    with pytest.raises(ConfigError) as refused:
        Workspace(asked).open()
    assert str(refused.value) == message
    result = CliRunner().invoke(app, ["status"], env={"WQM_ENGINE": "local"})
    assert (result.exit_code, result.stderr) == (1, f"Error: {message}\n")
    assert not settings.qdrant_path.exists()  # nothing was opened, no empty store made


def test_a_new_data_directory_takes_the_engine_asked_for(settings: Settings) -> None:
    with opened(settings.with_overrides(engine="local")) as ws:
        assert ws.client.engine == "local"  # type: ignore[attr-defined]
    assert engines.read_record(settings.data_dir).engine == "local"  # type: ignore[union-attr]
    with opened(settings) as ws:  # unset from then on: what the data directory recorded
        assert ws.client.engine == "local"  # type: ignore[attr-defined]


def test_a_damaged_record_is_one_sentence(settings: Settings) -> None:
    settings.data_dir.mkdir(exist_ok=True)
    engines.record_path(settings.data_dir).write_text("{not json")
    with pytest.raises(ConfigError, match="cannot be read .*delete it and wqm infers"):
        Workspace(settings).open()


# -- the move ----------------------------------------------------------------------------------


def seed_local(settings: Settings) -> Settings:
    """A local-mode data directory: two projects with points, one with a second name."""
    local = settings.with_overrides(engine="local")
    with opened(local) as ws:
        for name, count in ((PROJECT_A, POINTS_A), (PROJECT_B, 40)):
            ws.aliases.create_project_collection_sync(
                name, vectors_config=schema.vectors_config(),
                sparse_vectors_config=schema.sparse_vectors_config(),
                payload_indexes=schema.payload_indexes())
            add_points(ws, name, count, seed=len(name))
        ws.aliases.switch_sync([AliasChange("_github_com_u_a", PROJECT_A)])
    return settings  # engine unset from here: the data directory says local


def contents(source: Any) -> dict[str, Any]:
    """Every collection's points (id -> payload, unit dense vector), and the aliases.

    ``source``: a workspace, or an engine client.
    """
    client: Any = getattr(source, "client", source)
    points: dict[str, dict[str, Any]] = {}
    for name in sorted(store.collection_names(client)):
        seen: dict[str, Any] = {}
        offset = None
        while True:
            records, offset = client.scroll(name, limit=500, offset=offset, with_payload=True,
                                            with_vectors=True)
            for r in records:
                # cosine: the server and Edge store the unit vector; reopened local mode
                # returns the vector as written, so compare directions
                dense = r.vector[schema.DENSE_VECTOR]
                norm = math.sqrt(sum(v * v for v in dense)) or 1.0
                seen[str(r.id)] = (r.payload, [round(v / norm, 4) for v in dense])
            if offset is None:
                break
        points[name] = seen
    return {"points": points, "aliases": store.live_aliases(client)}


def same_contents(got: dict[str, Any], want: dict[str, Any]) -> None:
    """Assert two ``contents`` agree: aliases, ids and payloads exactly, directions closely."""
    assert got["aliases"] == want["aliases"]
    assert got["points"].keys() == want["points"].keys()
    for name, points in want["points"].items():
        have = got["points"][name]
        assert have.keys() == points.keys(), name
        for key, (payload, dense) in points.items():
            assert have[key][0] == payload, (name, key)
            assert max(abs(a - b) for a, b in zip(dense, have[key][1], strict=True)) < 2e-4


def _search(ws: Workspace, name: str, rng: random.Random) -> int:
    client: Any = ws.client
    return len(store.call(client, "search", lambda: client.query_points(
        name, query=random_vector(rng), using=schema.DENSE_VECTOR, limit=5)).points)


def test_move_to_edge_copies_everything_while_searches_and_writes_go_on(
    settings: Settings,
) -> None:
    seed_local(settings)
    ws = Workspace(settings).open()
    try:
        assert ws.client.engine == "local"  # type: ignore[attr-defined]
        before = contents(ws)
        stop = threading.Event()
        answers: list[int] = []
        failures: list[str] = []
        written: list[int] = []

        def search() -> None:
            rng = random.Random(1)
            while not stop.is_set():
                try:
                    answers.append(_search(ws, rng.choice([PROJECT_A, "_github_com_u_a"]), rng))
                except Exception as exc:  # noqa: BLE001 - counted, reported below
                    failures.append(repr(exc))

        def write() -> None:
            rng, i = random.Random(2), 0
            while not stop.is_set():
                point = qm.PointStruct(id=100_000 + i, vector={schema.DENSE_VECTOR:
                                                               random_vector(rng)},
                                       payload={"path": f"new{i}.txt", "source": "file"})
                client: Any = ws.client
                store.call(client, "write",
                           lambda p=point, c=client: c.upsert(PROJECT_B, points=[p]))
                written.append(100_000 + i)
                i += 1
                time.sleep(0.005)

        threads = [threading.Thread(target=search), threading.Thread(target=write)]
        for thread in threads:
            thread.start()
        try:
            time.sleep(0.2)
            events: list[dict[str, Any]] = []
            result = engine_ops.engine_move(ws, to="edge", progress=events.append)
            time.sleep(0.2)
        finally:
            stop.set()
            for thread in threads:
                thread.join()
        assert result["status"] == "moved" and result["to_engine"] == "edge"
        assert result["points"] >= POINTS_A + 40 and result["replayed"] > 0
        assert events[0]["phase"] == "copy" and events[-1] == {"phase": "switch"}
        assert failures == [] and answers and min(answers) == 5
        assert ws.client.engine == "edge"  # type: ignore[attr-defined]
        after = contents(ws)
        assert after["aliases"] == before["aliases"]
        new_points = after["points"][ws.aliases.resolve_sync(PROJECT_B)]
        assert {str(i) for i in written} <= set(new_points)  # every acknowledged write
        for name, points in before["points"].items():
            kept = {k: v for k, v in after["points"][name].items() if int(k) < 100_000}
            assert kept.keys() == points.keys()
            for key, (payload, dense) in points.items():
                assert kept[key][0] == payload
                assert all(math.isclose(a, b, abs_tol=2e-4) for a, b in zip(dense, kept[key][1],
                                                                             strict=True))
        facet = ws.client.facet(PROJECT_B, key="path", limit=1000, exact=True)  # indexed
        assert len(facet.hits) == 40 + len(written)
        record = engines.read_record(settings.data_dir)
        assert record is not None and record.engine == "edge"
        assert record.other is not None and record.other.engine == "local"
        assert record.other.state == "stale" if written else "kept"
    finally:
        ws.close()
    with opened(settings) as again:  # the next process opens Edge, as recorded
        assert again.client.engine == "edge"  # type: ignore[attr-defined]
        same_contents(contents(again), after)


def test_writes_between_pages_reach_the_copy_exactly(settings: Settings) -> None:
    """Overwrites, deletes by id and by filter, before and after the copy's position."""
    seed_local(settings)
    with opened(settings) as ws:
        client: Any = ws.client
        rng = random.Random(3)

        def point(i: int, path: str) -> qm.PointStruct:
            return qm.PointStruct(id=i, vector={schema.DENSE_VECTOR: random_vector(rng)},
                                  payload={"path": path, "source": "file", "content": "new"})

        def path_is(path: str) -> qm.Filter:
            return qm.Filter(must=[qm.FieldCondition(key="path", match=qm.MatchValue(value=path))])

        def flag(path: str) -> None:
            client.set_payload(PROJECT_A, payload={"flag": 1}, points=path_is(path))

        def move_to(path: str, ids: list[int]) -> None:
            client.set_payload(PROJECT_A, payload={"path": path}, points=ids)

        # After each of A's first pages (pages of 256 ids: 0-255 copied, 1300+ not yet): a step.
        steps = [
            lambda: (client.upsert(PROJECT_A, points=[point(0, "changed.txt"),  # copied
                                                      point(1400, "changed.txt")]),  # not yet
                     client.delete(PROJECT_A, points_selector=qm.FilterSelector(filter=qm.Filter(
                         must=[qm.FieldCondition(key="path", match=qm.MatchAny(
                             any=["file1.txt", "file1450.txt"]))])))),
            lambda: (client.delete(PROJECT_A, points_selector=qm.PointIdsList(points=[2, 1499])),
                     client.upsert(PROJECT_A, points=[point(2, "back.txt"),
                                                      point(5000, "n.txt")]),
                     client.set_payload(PROJECT_A, payload={"tag": "x"},
                                        points=qm.PointIdsList(points=[3, 1300]))),
            # writes by filter, then a write that makes the filter match: replaying the first
            # on a state that already holds the second would flag / delete 4, 6, 1350, 1360
            # (4, 6: copied; 800, 810: in the next page read; 1350, 1360: later)
            lambda: (flag("moved.txt"), move_to("moved.txt", [4, 800, 1350]),
                     client.delete(PROJECT_A, points_selector=qm.FilterSelector(
                         filter=path_is("gone.txt"))), move_to("gone.txt", [6, 810, 1360])),
            lambda: ws.aliases.switch_sync([AliasChange("_github_com_u_a", PROJECT_B,
                                                        expected=ws.aliases.resolve_sync(
                                                            PROJECT_A))], force=True),
        ]

        physical_a = ws.aliases.resolve_sync(PROJECT_A)

        def between_pages(event: dict[str, Any]) -> None:
            if event.get("collection") == physical_a and steps:
                store.call(client, "write between pages", steps.pop(0))

        moved = engine_ops.engine_move(ws, to="edge", progress=between_pages)
        assert steps == [] and moved["replayed"] >= 10
        copy = contents(ws)
    kept = open_store(settings, "local")  # the kept store: the source as it was at the switch
    try:
        source = contents(kept)
    finally:
        kept.close()
    same_contents(copy, source)
    a = copy["points"][copy["aliases"][PROJECT_A]]
    assert a["0"][0]["path"] == a["1400"][0]["path"] == "changed.txt"
    assert "1" not in a and "1450" not in a and "1499" not in a and a["2"][0]["path"] == "back.txt"
    assert a["3"][0]["tag"] == a["1300"][0]["tag"] == "x" and "5000" in a
    for i in ("4", "800", "1350"):
        assert a[i][0]["path"] == "moved.txt" and "flag" not in a[i][0], i
    for i in ("6", "810", "1360"):
        assert i in a and a[i][0]["path"] == "gone.txt", i
    assert copy["aliases"]["_github_com_u_a"] == copy["aliases"][PROJECT_B]


def test_switch_back_in_the_undo_window_needs_no_copy_then_prune(settings: Settings) -> None:
    seed_local(settings)
    with opened(settings) as ws:
        before = contents(ws)
        moved = engine_ops.engine_move(ws, to="edge")
        assert moved["status"] == "moved"
        plan = engine_ops.engine_move(ws, to="local", dry_run=True)
        assert (plan["status"], plan["copy"]) == ("dry_run", False)
        back = engine_ops.engine_move(ws, to="local")
        assert back["status"] == "switched_back" and back["replayed"] == 0
        assert ws.client.engine == "local"  # type: ignore[attr-defined]
        same_contents(contents(ws), before)
        status = engine_ops.engine_status(ws)
        assert status["engine"] == "local"
        assert status["other"] is not None and status["other"]["state"] == "kept"
        add_points(ws, PROJECT_B, 3, seed=9)  # a write: the kept Edge store is now behind
        assert engine_ops.engine_status(ws)["other"]["state"] == "stale"  # type: ignore[index]
        again = engine_ops.engine_move(ws, to="edge")
        assert again["status"] == "moved"  # a full copy, since the kept one was stale
        assert engine_ops.engine_move(ws, to="edge")["status"] == "nothing_to_do"
        assert engine_ops.engine_prune(ws, dry_run=True)["status"] == "dry_run"
        assert settings.qdrant_path.exists()
        pruned = engine_ops.engine_prune(ws)
        assert (pruned["status"], pruned["engine"]) == ("pruned", "local")
        assert not settings.qdrant_path.exists()
        assert engine_ops.engine_status(ws)["other"] is None
        assert engine_ops.engine_prune(ws)["status"] == "nothing_to_do"


def test_an_edge_store_moves_to_local_too(settings: Settings) -> None:
    with opened(settings) as ws:  # a new data directory: Edge
        ws.aliases.create_project_collection_sync(
            PROJECT_B, vectors_config=schema.vectors_config(),
            sparse_vectors_config=schema.sparse_vectors_config(),
            payload_indexes=schema.payload_indexes())
        add_points(ws, PROJECT_B, 600, seed=4)
        ws.aliases.switch_sync([AliasChange("_github_com_u_b", PROJECT_B)])
        before = contents(ws)
        moved = engine_ops.engine_move(ws, to="local")
        assert (moved["status"], moved["from_engine"]) == ("moved", "edge")
        assert ws.client.engine == "local"  # type: ignore[attr-defined]
        same_contents(contents(ws), before)
    with opened(settings) as ws:  # reopened as recorded; the local copy was written durably
        assert ws.client.engine == "local"  # type: ignore[attr-defined]
        same_contents(contents(ws), before)
        assert engine_ops.engine_status(ws)["other"]["engine"] == "edge"  # type: ignore[index]


def test_a_store_the_record_does_not_name_is_never_overwritten(settings: Settings) -> None:
    seed_local(settings)
    stray = settings.edge_path / "catalog.db"
    stray.parent.mkdir()
    stray.write_bytes(b"someone else's")
    with opened(settings) as ws:
        with pytest.raises(Exception, match="does not name; move it out"):
            engine_ops.engine_move(ws, to="edge")
        assert ws.client.engine == "local"  # type: ignore[attr-defined]
    assert stray.read_bytes() == b"someone else's"


def test_cli_dry_run_move_status_and_prune(settings: Settings, data_dir: Path) -> None:
    seed_local(settings)
    runner = CliRunner()
    dry = runner.invoke(app, ["engine", "move", "--to", "edge", "--dry-run", "--format", "json"])
    assert dry.exit_code == 0, dry.output
    plan = json.loads(dry.stdout)
    assert (plan["status"], plan["collections"], plan["points"]) == ("dry_run", 2, POINTS_A + 40)
    assert plan["store_bytes"] > 0 and plan["free_bytes"] > 0
    # WQM_ENGINE=edge is what sends a user here: the engine commands ignore it
    moved = runner.invoke(app, ["engine", "move", "--to", "edge", "--yes"],
                          env={"WQM_ENGINE": "edge"})
    assert moved.exit_code == 0, moved.output
    assert moved.stdout.startswith("Move from local to edge: copy 2 collections")
    assert "Moved to edge in " in moved.stdout and "`wqm engine prune` removes it" in moved.stdout
    status = runner.invoke(app, ["engine", "status"])
    assert status.stdout.splitlines()[0].startswith(f"Engine: edge ({data_dir / 'edge'}, ")
    assert "switches back without a copy" in status.stdout
    declined = runner.invoke(app, ["engine", "prune"], input="n\n")
    assert declined.exit_code == 1 and settings.qdrant_path.exists()
    pruned = runner.invoke(app, ["engine", "prune", "--yes"])
    assert pruned.exit_code == 0 and not settings.qdrant_path.exists()
    preview, done = pruned.stdout.splitlines()
    assert preview.startswith(f"Would remove the kept local store {settings.qdrant_path} (")
    assert done.startswith(f"Removed the kept local store {settings.qdrant_path} (")
