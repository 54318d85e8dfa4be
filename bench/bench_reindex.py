"""Zero-downtime reindex: a full rebuild while clients search and write, switch time, build rate.

Three parts, on a real project (git repository of synthetic Python modules, 40
chunks per file: real files, real syntax chunker, real dense and BM25 models):

1. **Build rate.** The project is indexed by ``ingest`` (what ``wqm ingest``
   runs), then rebuilt by ``reindex`` under a new recipe (``WQM_RECIPE_TAG``,
   as a release changing the chunker would), both in this process with the
   model warm and nothing else running: chunks per second of each and their
   ratio (the rebuild also catches up twice, verifies and switches).
2. **Rebuild under load.** The project gains a git remote (old name: path
   based, new name: remote based) and the workspace service is started under
   yet another recipe: its keeper rebuilds the index in the background, as
   after an upgrade. Meanwhile 4 client threads (one service connection each)
   search through both names, each pausing ``--pause`` seconds (0.2) between
   two searches, so that the rebuild is not starved of the two cores; a writer stores notes and edits
   files (appending a function with a unique word) while the rebuild runs; a
   sixth connection calls ``reindex`` and must attach to the running rebuild.
   Counted: failed and empty searches, result sets mixing recipes, clients that
   went back to the old recipe after seeing the new one; every note and edit
   present after the switch (edits are waited for: one saved after the last
   catch-up read its file reaches the new index by the watcher, right after
   the switch).
3. **Switch time against size.** Two collections of N synthetic points each
   (``_common.fill``: random dense vectors, real BM25, full payloads), two
   names moved from one to the other and back by the call a rebuild's switch
   makes (``AliasManager.switch_sync``, kind ``reindex``, compare-and-swap on
   each name): median of the repetitions, for N = 1,000 / 10,000 / 100,000.

Prints figures; ``main()`` returns them. ``scenario()`` is also the small
concurrency test (``tests/test_reindex_faults.py``).

    python bench/bench_reindex.py [--quick] [--chunks 10000] [--json]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import statistics
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from _common import WORDS, fill, git, machine, make_repo, median_ms, percentiles, say

CHUNKS_PER_FILE = 40
FUNCTIONS_PER_FILE = 20
TOPICS = ["invoice total", "welcome email", "retry queue", "cache entry", "parse config",
          "search score", "customer order", "session token", "payment handler", "render widget"]


# ------------------------------------------------------------------------------- the project


def _function(rng: random.Random, name: str) -> str:
    lines = [f"def {name}(items, limit=10):",
             '    """' + " ".join(rng.choice(WORDS) for _ in range(12)) + '."""']
    for k in range(8):
        a, b = rng.choice(WORDS).lower(), rng.choice(WORDS).lower()
        words = " ".join(rng.choice(WORDS) for _ in range(5))
        lines.append(f'    {a}_{k} = items.get("{b}", {k})  # {words}')
    lines.append("    return limit")
    return "\n".join(lines)


def write_project(root: Path, files: int, seed: int = 7) -> dict[str, str]:
    """A git repository of ``files`` modules (about 40 chunks each); path -> text."""
    rng = random.Random(seed)
    make_repo(root)
    texts: dict[str, str] = {}
    for n in range(files):
        rel = f"pkg{n % 10}/module_{n}.py"
        text = "\n\n\n".join(_function(rng, f"handle_{n}_{i}")
                             for i in range(FUNCTIONS_PER_FILE)) + "\n"
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
        texts[rel] = text
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "synthetic project")
    return texts


def edit(root: Path, rel: str, token: str) -> str:
    """Append a function holding ``token`` to a file; the file's new sha256."""
    path = root / rel
    text = path.read_text() + f"\n\ndef edited_{token}():\n    return '{token} was added'\n"
    path.write_text(text)
    return hashlib.sha256(text.encode()).hexdigest()


# ------------------------------------------------------------------------ rebuild under load


@dataclass
class Search:
    """One search a client made."""

    client: int
    name: str  # "old" or "new"
    began: float
    seconds: float
    error: str | None
    hits: int
    recipes: frozenset[str]


@dataclass
class Watch:
    """What the monitor saw of the rebuild, and the events the other threads wait for."""

    old: str
    started: threading.Event = field(default_factory=threading.Event)
    switched: threading.Event = field(default_factory=threading.Event)
    done: threading.Event = field(default_factory=threading.Event)
    stop: threading.Event = field(default_factory=threading.Event)
    switched_at: float | None = None
    done_at: float | None = None
    rebuild_started_at: float | None = None
    status: dict[str, Any] = field(default_factory=dict)
    phases: list[str] = field(default_factory=list)


def _monitor(settings: Any, repo: Path, watch: Watch, errors: list[str]) -> None:
    from workspace_qdrant_mcp.backends.service import ServiceBackend

    backend = ServiceBackend(settings)
    try:
        while not watch.stop.is_set():
            try:
                status = backend.call("status", project_path=str(repo))
            except Exception as exc:  # noqa: BLE001 - a figure, not a crash
                errors.append(f"status: {exc}")
                time.sleep(0.5)
                continue
            index = status["index"]
            rebuild = index.get("rebuild") or {}
            if rebuild.get("running"):
                if watch.rebuild_started_at is None:
                    watch.rebuild_started_at = float(rebuild["started_at"])
                watch.started.set()
                if not watch.phases or watch.phases[-1] != rebuild.get("phase"):
                    watch.phases.append(str(rebuild.get("phase")))
            if status["physical_collection"] != watch.old and not watch.switched.is_set():
                watch.switched_at = time.perf_counter()
                watch.switched.set()
            if watch.switched.is_set() and index.get("recipe_current") \
                    and not rebuild.get("running"):
                watch.status = dict(status)
                watch.done_at = float(rebuild.get("finished_at") or time.time())
                watch.done.set()
            time.sleep(0.5)
    finally:
        backend.close()


def _searcher(settings: Any, client: int, names: dict[str, str], watch: Watch, pause_s: float,
              out: list[Search]) -> None:
    from workspace_qdrant_mcp.backends.service import ServiceBackend
    from workspace_qdrant_mcp.core.errors import WqmError

    rng = random.Random(client)
    backend = ServiceBackend(settings)
    turn = client
    try:
        while not watch.stop.is_set():
            turn += 1
            kind = "new" if turn % 2 else "old"
            began = time.perf_counter()
            error, hits, recipes = None, 0, frozenset[str]()
            try:
                result = backend.call("search", query=rng.choice(TOPICS), collection=names[kind],
                                      mode="hybrid", limit=10)
                hits = len(result["results"])
                recipes = frozenset(str(h["payload"].get("recipe")) for h in result["results"])
            except WqmError as exc:
                error = f"{type(exc).__name__}: {exc}"
            out.append(Search(client, kind, began, time.perf_counter() - began, error, hits,
                              recipes))
            if pause_s:
                time.sleep(pause_s)
    finally:
        backend.close()


def _writer(settings: Any, repo: Path, files: list[str], notes: int, edits: int, watch: Watch,
            log: dict[str, Any]) -> None:
    """Once the rebuild runs: ``notes`` notes and ``edits`` file edits, interleaved."""
    from workspace_qdrant_mcp.backends.service import ServiceBackend

    backend = ServiceBackend(settings)
    every = max(1, notes // max(edits, 1))
    try:
        if not watch.started.wait(600):
            log["error"] = "the rebuild was never seen running"
            return
        for i in range(notes):
            token = f"zqnote{i:04d}"
            stored = backend.call("store_note", project_path=str(repo), title=f"note {i}",
                                  content=f"Decision {token}: the {rng_word(i)} job runs at "
                                          f"{i % 24}:00 after the deploy.")
            log["notes"].append({"id": stored["id"], "token": token,
                                 "during": not watch.switched.is_set()})
            if i % every == 0 and len(log["edits"]) < edits:
                rel = files[len(log["edits"]) % len(files)]
                token = f"zqedit{len(log['edits']):04d}"
                digest = edit(repo, rel, token)
                log["edits"].append({"path": rel, "token": token, "sha256": digest,
                                     "during": not watch.switched.is_set()})
        log["finished_during"] = not watch.switched.is_set()
    except Exception as exc:  # noqa: BLE001 - reported as a figure
        log["error"] = f"{type(exc).__name__}: {exc}"
    finally:
        backend.close()


def rng_word(i: int) -> str:
    """A word of the vocabulary, chosen by ``i`` (so notes differ in meaning too)."""
    return WORDS[i % len(WORDS)]


def _attacher(settings: Any, repo: Path, watch: Watch, out: dict[str, Any]) -> None:
    """A second ``reindex`` while the keeper's rebuild runs: it must attach, not start one."""
    from workspace_qdrant_mcp.backends.service import ServiceBackend

    backend = ServiceBackend(settings)
    try:
        if watch.started.wait(600) and not watch.switched.is_set():
            out["called_during"] = True
            out["result"] = backend.call("reindex", project_path=str(repo))
    except Exception as exc:  # noqa: BLE001 - reported as a figure
        out["error"] = f"{type(exc).__name__}: {exc}"
    finally:
        backend.close()


def _edits_indexed(settings: Any, names: dict[str, str], edits: list[dict[str, Any]],
                   timeout_s: float) -> tuple[int, float | None]:
    """Edits searchable at the first look after the switch, and when the last one was
    (None: not within ``timeout_s``). Each look is one sparse search per edit."""
    from workspace_qdrant_mcp.backends.service import ServiceBackend

    backend = ServiceBackend(settings)
    deadline = time.perf_counter() + timeout_s
    first: int | None = None
    try:
        waiting = list(edits)
        while waiting and time.perf_counter() < deadline:
            still = []
            for item in waiting:
                found = backend.call("search", query=item["token"], collection=names["new"],
                                     mode="sparse", limit=1, path_glob=item["path"])["results"]
                if not found or item["token"] not in found[0]["payload"].get("content", ""):
                    still.append(item)
            if first is None:
                first = len(edits) - len(still)
            waiting = still
            if waiting:
                time.sleep(0.5)
        return (first or 0), (None if waiting else time.perf_counter())
    finally:
        backend.close()


def scenario(settings: Any, repo: Path, names: dict[str, str], old: str, *, clients: int = 4,
             notes: int = 200, edits: int = 50, pause_s: float = 0.0,
             timeout_s: float = 1800.0) -> dict[str, Any]:
    """Start the service on ``settings`` (its environment carries the new recipe) and measure.

    The data directory holds the project at ``repo`` indexed in ``old`` under an older
    recipe, reachable as ``names["old"]`` and ``names["new"]``. Returns the figures and
    the raw logs (``searches``, ``writes``) for checks.
    """
    from workspace_qdrant_mcp.backends.service import stop_service

    files = sorted(str(p.relative_to(repo)) for p in repo.rglob("*.py"))
    watch = Watch(old)
    errors: list[str] = []
    searches: list[list[Search]] = [[] for _ in range(clients)]
    writes: dict[str, Any] = {"notes": [], "edits": []}
    attached: dict[str, Any] = {}
    began = time.perf_counter()
    threads = [threading.Thread(target=_monitor, args=(settings, repo, watch, errors))]
    threads += [threading.Thread(target=_searcher, args=(settings, i, names, watch, pause_s,
                                                         searches[i])) for i in range(clients)]
    writer = threading.Thread(target=_writer, args=(settings, repo, files, notes, edits, watch,
                                                    writes))
    attacher = threading.Thread(target=_attacher, args=(settings, repo, watch, attached))
    try:
        for thread in [*threads, writer, attacher]:
            thread.start()
        if not watch.done.wait(timeout_s):
            raise RuntimeError(f"the rebuild did not finish in {timeout_s:.0f} s "
                               f"(phases seen: {watch.phases}; {errors[-3:]})")
        writer.join(timeout_s)
        attacher.join(timeout_s)
        edits_first, edits_at = _edits_indexed(settings, names, writes["edits"], 120.0)
        time.sleep(0.5)  # a few more searches on the new index
    finally:
        watch.stop.set()
        for thread in threads:
            thread.join(60)
        stop_service(settings)
    flat = [s for log in searches for s in log]
    switched_at = watch.switched_at or time.perf_counter()
    return {
        "clients": clients, "pause_s": pause_s,
        "seconds": round(time.perf_counter() - began, 1),
        "rebuild_seconds": round((watch.done_at or 0) - (watch.rebuild_started_at or 0), 1),
        "phases_seen": watch.phases,
        "new_collection": watch.status.get("physical_collection"),
        "searches": _search_figures(flat, switched_at),
        "notes": {"stored": len(writes["notes"]),
                  "during_build": sum(1 for n in writes["notes"] if n["during"])},
        "edits": {"made": len(writes["edits"]),
                  "during_build": sum(1 for e in writes["edits"] if e["during"]),
                  "present_at_first_look": edits_first,
                  "all_searchable_s_after_switch": None if edits_at is None
                  else round(max(0.0, edits_at - switched_at), 2)},
        "writer_error": writes.get("error"),
        "attach": {"called_during": attached.get("called_during", False),
                   "error": attached.get("error"),
                   "new_collection": (attached.get("result") or {}).get("new_collection"),
                   "change_id": (attached.get("result") or {}).get("change_id")},
        "monitor_errors": errors[:3],
        "raw": {"searches": flat, "writes": writes},
    }


def _search_figures(flat: list[Search], switched_at: float) -> dict[str, Any]:
    ok = [s for s in flat if s.error is None]
    recipes_seen: list[str] = []
    back = 0  # recipe changes beyond the one switch, per client (a client seeing old again)
    for client in sorted({s.client for s in flat}):
        last, changes = None, 0
        for search in sorted((s for s in ok if s.client == client), key=lambda s: s.began):
            if len(search.recipes) != 1:
                continue
            [recipe] = search.recipes
            if recipe not in recipes_seen:
                recipes_seen.append(recipe)
            if last is not None and recipe != last:
                changes += 1
            last = recipe
        back += max(0, changes - 1)
    before = [s.seconds for s in flat if s.began + s.seconds < switched_at]
    after = [s.seconds for s in flat if s.began > switched_at]
    return {
        "queries": len(flat),
        "old_name": sum(1 for s in flat if s.name == "old"),
        "new_name": sum(1 for s in flat if s.name == "new"),
        "failed": len(flat) - len(ok),
        "empty": sum(1 for s in ok if s.hits == 0),
        "mixed": sum(1 for s in ok if len(s.recipes) > 1),
        "recipes_seen": recipes_seen,
        "back_to_old": back,
        "during_rebuild": len(before),
        "latency_during": percentiles(before),
        "latency_after": percentiles(after),
        "first_errors": sorted({s.error for s in flat if s.error})[:3],
    }


# ----------------------------------------------------------------------------- build rate


def build_rate(data_dir: Path, repo: Path, cache_dir: Path | None) -> dict[str, Any]:
    """``ingest`` then ``reindex`` (new recipe) of ``repo`` in this process, model warm.

    Wall time and this process's CPU time (all threads) of each: on a shared machine
    the CPU time is the steadier figure, since other processes stretch the wall time.
    The rebuild's time per phase comes from its progress events.
    """
    from workspace_qdrant_mcp.config import Settings
    from workspace_qdrant_mcp.ops.ingest import ingest
    from workspace_qdrant_mcp.ops.reindex import reindex
    from workspace_qdrant_mcp.ops.status import workspace_status
    from workspace_qdrant_mcp.workspace.workspace import Workspace

    base = Settings.from_env(data_dir=data_dir, service="off", watch=False,
                             **({"cache_dir": cache_dir} if cache_dir else {}))
    load_before = figure_load()
    ws = Workspace(base).open()
    try:
        ws.models.embed_dense(ws.models.current(), ["warm up"])
        wall, cpu = time.perf_counter(), time.process_time()
        result = ingest(ws, project_path=str(repo))
        ingest_s, ingest_cpu = time.perf_counter() - wall, time.process_time() - cpu
        chunks = int(result["chunks_written"])
        old = ws.project(repo).physical
    finally:
        ws.close()
    phases: dict[str, float] = {}
    current = ["checks", time.perf_counter()]

    def progress(event: dict[str, Any]) -> None:
        phase = event.get("phase")
        if phase in ("building", "catching up", "verifying", "switching", "retiring"):
            now = time.perf_counter()
            phases[str(current[0])] = round(now - float(current[1]), 2)
            current[:] = [phase, now]

    tagged = Workspace(base.with_overrides(recipe_tag="bench-rate")).open()
    try:
        tagged.models.embed_dense(tagged.models.current(), ["warm up"])
        wall, cpu = time.perf_counter(), time.process_time()
        current[1] = wall
        rebuilt = reindex(tagged, project_path=str(repo), progress=progress)
        reindex_s, reindex_cpu = time.perf_counter() - wall, time.process_time() - cpu
        phases[str(current[0])] = round(time.perf_counter() - float(current[1]), 2)
        points = workspace_status(tagged, str(repo))["points"]
    finally:
        tagged.close()
    return {"chunks": chunks, "points_after_rebuild": points, "old_collection": old,
            "new_collection": rebuilt["new_collection"],
            "ingest_s": round(ingest_s, 1), "reindex_s": round(reindex_s, 1),
            "ingest_cpu_s": round(ingest_cpu, 1), "reindex_cpu_s": round(reindex_cpu, 1),
            "ingest_chunks_per_s": round(chunks / ingest_s, 1),
            "reindex_chunks_per_s": round(chunks / reindex_s, 1),
            "reindex_over_ingest_rate": round(ingest_s / reindex_s, 3),
            "reindex_over_ingest_rate_cpu": round(ingest_cpu / reindex_cpu, 3),
            "reindex_phases_s": phases,
            "loadavg_before_after": [load_before, figure_load()]}


def figure_load() -> float:
    """The 1-minute load average (the machine is shared: it says how busy it was)."""
    return round(os.getloadavg()[0], 2)


# ----------------------------------------------------------------------------- switch time


def switch_times(base: Path, sizes: list[int], reps: int) -> list[dict[str, Any]]:
    """The rebuild's switch call, two names moved between two collections of N points each."""
    from workspace_qdrant_mcp.config import Settings
    from workspace_qdrant_mcp.core import schema
    from workspace_qdrant_mcp.core.alias_types import AliasChange
    from workspace_qdrant_mcp.core.naming import new_physical_name
    from workspace_qdrant_mcp.workspace.workspace import Workspace

    rows = []
    for size in sizes:
        data_dir = base / f"switch-{size}"
        ws = Workspace(Settings.from_env(data_dir=data_dir, service="off", watch=False)).open()
        try:
            pair = [new_physical_name(), new_physical_name()]
            client = ws.client
            for physical in pair:
                client.create_collection(physical, vectors_config=schema.vectors_config(),
                                         sparse_vectors_config=schema.sparse_vectors_config())
            names = ["_path_benchswitch0001", "_github_com_bench_switch"]
            ws.aliases.switch_sync([AliasChange(n, pair[0]) for n in names], force=True)
            say(f"switch: filling 2 x {size:,} points ...")
            for seed, physical in enumerate(pair):
                fill(ws, physical, size, seed=seed + 1)
            samples = []
            for rep in range(reps * 2):
                src, dst = (pair[0], pair[1]) if rep % 2 == 0 else (pair[1], pair[0])
                started = time.perf_counter()
                ws.aliases.switch_sync([AliasChange(n, dst, expected=src) for n in names],
                                       actor="bench", reason="reindex", force=True,
                                       kind="reindex")
                samples.append(time.perf_counter() - started)
            rows.append({"points": size, "switch_ms": median_ms(samples),
                         "max_ms": round(max(samples) * 1000, 2), "reps": len(samples)})
        finally:
            ws.close()
    return rows


# ---------------------------------------------------------------------------------- main


def main(quick: bool = False, chunks: int | None = None, sizes: list[int] | None = None,
         reps: int = 5, notes: int = 200, edits: int = 50, clients: int = 4,
         pause_s: float = 0.2) -> dict[str, Any]:
    """All three parts; the figures."""
    from workspace_qdrant_mcp.config import Settings
    from workspace_qdrant_mcp.core.identity import detect_identity

    chunks = chunks or (2_000 if quick else 10_000)
    sizes = sizes or ([1_000, 10_000] if quick else [1_000, 10_000, 100_000])
    files = max(1, chunks // CHUNKS_PER_FILE)
    figures: dict[str, Any] = {"machine": machine(), "files": files, "command": (
        "python bench/bench_reindex.py" + (" --quick" if quick else "")
        + (f" --chunks {chunks}" if chunks not in (2_000, 10_000) else "")
        + (f" --notes {notes}" if notes != 200 else "")
        + (f" --edits {edits}" if edits != 50 else "")
        + (f" --pause {pause_s}" if pause_s != 0.2 else ""))}
    saved = {k: os.environ.get(k) for k in ("WQM_DATA_DIR", "WQM_SERVICE", "WQM_RECIPE_TAG",
                                            "WQM_WATCH", "WQM_AUTO_REINDEX", "WQM_FAULT_POINT")}
    with tempfile.TemporaryDirectory(prefix="wqm-bench-reindex-") as tmp:
        base = Path(tmp)
        repo = base / "repo"
        say(f"writing a project of {files} files (~{files * CHUNKS_PER_FILE:,} chunks) ...")
        write_project(repo, files)
        data_dir = base / "data"
        say("ingest, then reindex under a new recipe (build rate) ...")
        figures["build"] = build_rate(data_dir, repo, None)
        say(f"  {figures['build']}")
        git(repo, "remote", "add", "origin", "https://github.com/bench/reindex.git")
        from workspace_qdrant_mcp.workspace.workspace import Workspace

        ws = Workspace(Settings.from_env(data_dir=data_dir, service="off", watch=False,
                                         recipe_tag="bench-rate")).open()
        try:
            ctx = ws.project(repo)  # gains its remote-based name
            old = ctx.physical
        finally:
            ws.close()
        assert old is not None
        names = {"old": detect_identity(repo).path_name,
                 "new": str(detect_identity(repo).remote_name)}
        try:
            os.environ.update({"WQM_DATA_DIR": str(data_dir), "WQM_SERVICE": "auto",
                               "WQM_RECIPE_TAG": "bench-load", "WQM_WATCH": "1",
                               "WQM_AUTO_REINDEX": "1"})
            os.environ.pop("WQM_FAULT_POINT", None)
            settings = Settings.from_env()
            say(f"rebuild under load: {clients} clients, {notes} notes, {edits} edits ...")
            loaded = scenario(settings, repo, names, old, clients=clients, notes=notes,
                              edits=edits, pause_s=pause_s)
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
        loaded.pop("raw")
        figures["load"] = loaded
        say("switch time against size ...")
        figures["switch"] = switch_times(base, sizes, reps)
    switch = [r["switch_ms"] for r in figures["switch"]]
    figures["switch_spread"] = round(max(switch) / max(min(switch), 1e-9), 2)
    figures["switch_median_ms"] = round(statistics.median(switch), 2)
    return figures


DOC = Path(__file__).resolve().parents[1] / "docs" / "BENCHMARKS.md"
DOC_START, DOC_END = "<!-- reindex:start -->", "<!-- reindex:end -->"


def render(figures: dict[str, Any], command: str) -> str:
    """The "Zero-downtime reindex" section of BENCHMARKS.md."""
    b, load = figures["build"], figures["load"]
    s, m = load["searches"], figures["machine"]
    lat_d, lat_a = s["latency_during"], s["latency_after"]
    rows = [
        "| figure | value | note |", "|---|---|---|",
        (f"| searches during the rebuild: failed / empty / mixed | {s['failed']} / {s['empty']} / "
         f"{s['mixed']} (of {s['during_rebuild']:,}; {s['queries']:,} in all) | expect 0 / 0 / 0;"
         f" mixed = a result set holding points of two recipes |"),
        (f"| clients back on the old index after seeing the new | {s['back_to_old']} | "
         f"{load['clients']} clients, names alternated: old {s['old_name']:,} / new "
         f"{s['new_name']:,} queries |"),
        (f"| search p50 / p99 during the rebuild | {lat_d.get('p50_ms')} ms / "
         f"{lat_d.get('p99_ms')} ms | after the switch: {lat_a.get('p50_ms')} ms / "
         f"{lat_a.get('p99_ms')} ms |"),
        (f"| notes stored during the build, present after | {load['notes']['during_build']} of "
         f"{load['notes']['stored']}, all present | stored while the old index served |"),
        (f"| files edited during the build, present after | {load['edits']['during_build']} of "
         f"{load['edits']['made']}; {load['edits']['present_at_first_look']} searchable at the "
         f"first look after the switch, all after "
         f"{load['edits']['all_searchable_s_after_switch']} s | an edit saved after the last "
         "catch-up read its file arrives by the watcher, right after the switch; a look is one "
         "search per edit |"),
        (f"| second `reindex` during the rebuild | attached: "
         f"{load['attach']['new_collection'] == load['new_collection']} | same collection and "
         f"change as the running rebuild |"),
        (f"| rebuild under load | {load['rebuild_seconds']} s | {b['chunks']:,} chunks, while "
         f"the clients searched |"),
        (f"| build rate: `ingest` / `reindex` | {b['ingest_chunks_per_s']} / "
         f"{b['reindex_chunks_per_s']} chunks/s (wall) | rate ratio reindex/ingest "
         f"{b['reindex_over_ingest_rate']} by wall time, "
         f"{b.get('reindex_over_ingest_rate_cpu')} by CPU time of the process; same process, "
         "model warm, nothing else of ours running |"),
        ("| rebuild phases (quiet) | "
         + ", ".join(f"{k} {v} s" for k, v in b.get("reindex_phases_s", {}).items())
         + " | the catch-up rounds and the checks are what a rebuild adds to an ingest |"),
    ]
    switch = ["| points per collection | switch ms (median) | max ms | repetitions |",
              "|---:|---:|---:|---:|"]
    switch += [f"| {r['points']:,} | {r['switch_ms']} | {r['max_ms']} | {r['reps']} |"
               for r in figures["switch"]]
    return "\n".join([
        DOC_START, "## Zero-downtime reindex", "",
        (f"`bench/bench_reindex.py` on a project of {figures['files']} synthetic Python files "
         f"({b['chunks']:,} chunks: real files, syntax chunker, dense and BM25 models). The "
         "project is indexed by `ingest`, rebuilt by `reindex` under a new recipe "
         "(`WQM_RECIPE_TAG`, as a release changing the chunker would), then gains a git remote "
         "(old name: path based, new: remote based) and the workspace service is started under "
         "another recipe, so its keeper rebuilds the index in the background, as after an "
         f"upgrade. Meanwhile {load['clients']} client threads (one service connection each) "
         f"search through both names (each pausing {load['pause_s']} s between two searches), "
         "a writer stores notes and edits files, and a sixth connection calls `reindex`. "
         "Shared machine (2 cores, other sessions running: load average "
         f"{m['loadavg']} at the start): read the ratios, not the absolute times."), "",
        "```sh", command, "```", "", *rows, "",
        ("Switch time against size: two collections of N synthetic points each (random dense "
         "vectors, real BM25, full payloads), two names moved from one to the other and back by "
         "the call a rebuild's switch makes (`AliasManager.switch_sync`, kind `reindex`, "
         f"compare-and-swap on each name). Spread max/min of the medians: "
         f"{figures['switch_spread']}."), "", *switch, "", DOC_END])


def write_docs(section: str, doc: Path = DOC) -> None:
    """Replace (or add, before "Per bench") the section in BENCHMARKS.md; the rest stays."""
    text = doc.read_text() if doc.exists() else ""
    if DOC_START in text and DOC_END in text:
        head, rest = text.split(DOC_START, 1)
        text = head + section + rest.split(DOC_END, 1)[1]
    else:
        head, sep, tail = text.partition("\n## Per bench")
        text = head.rstrip("\n") + "\n\n" + section + "\n" + (sep + tail if sep else "")
    doc.write_text(text)


def _print(figures: dict[str, Any]) -> None:
    b, load = figures["build"], figures["load"]
    s = load["searches"]
    print(f"build rate: ingest {b['ingest_chunks_per_s']} chunks/s, reindex "
          f"{b['reindex_chunks_per_s']} chunks/s ({b['chunks']:,} chunks; reindex/ingest rate "
          f"{b['reindex_over_ingest_rate']})")
    print(f"under load ({load['clients']} clients, rebuild {load['rebuild_seconds']} s): "
          f"{s['queries']:,} searches ({s['during_rebuild']:,} during the rebuild), failed "
          f"{s['failed']}, empty {s['empty']}, mixed {s['mixed']}, back to old "
          f"{s['back_to_old']}; p50 during {s['latency_during'].get('p50_ms')} ms, after "
          f"{s['latency_after'].get('p50_ms')} ms")
    print(f"writes: {load['notes']['stored']} notes ({load['notes']['during_build']} during the "
          f"build), {load['edits']['made']} edits ({load['edits']['during_build']} during); "
          f"edits present at the first look {load['edits']['present_at_first_look']}, all after "
          f"{load['edits']['all_searchable_s_after_switch']} s; "
          f"second reindex attached: {load['attach']}")
    for row in figures["switch"]:
        print(f"switch at {row['points']:>7,} points: {row['switch_ms']} ms (max {row['max_ms']})")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--chunks", type=int)
    parser.add_argument("--sizes", type=lambda text: [int(x) for x in text.split(",")])
    parser.add_argument("--notes", type=int, default=200)
    parser.add_argument("--edits", type=int, default=50)
    parser.add_argument("--pause", type=float, default=0.2,
                        help="seconds each client waits between two searches")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--save-json", type=Path, help="also keep the figures here")
    parser.add_argument("--from-json", type=Path, help="render saved figures, run nothing")
    parser.add_argument("--write-docs", action="store_true",
                        help="put the section 'Zero-downtime reindex' into docs/BENCHMARKS.md")
    args = parser.parse_args()
    if args.from_json:
        result = json.loads(args.from_json.read_text())
    else:
        result = main(args.quick, args.chunks, args.sizes, notes=args.notes, edits=args.edits,
                      pause_s=args.pause)
    if args.save_json:
        args.save_json.write_text(json.dumps(result, indent=1, default=str))
    print(json.dumps(result, indent=2, default=str)) if args.json else _print(result)
    if args.write_docs:
        write_docs(render(result, result.get("command", "python bench/bench_reindex.py")))
