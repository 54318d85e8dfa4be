"""An engine move under load: a local-mode store moved to Edge while clients search and write.

A local-mode data directory with one project of N points (synthetic, see
``_common.fill``) is served by the workspace service. Client threads, each with
its own ``ServiceBackend`` connection, search it (hybrid, limit 10) back to
back, and one client stores a note every 0.2 s, before and during
``engine_move --to edge`` (sent by a further connection, as `wqm engine move`
does). Prints: the move's duration, how long calls waited at the switch
(``blocked_ms``), writes replayed, searches and notes before and during the
move and in 30-s windows after it (failed, empty, p50/p99: the Edge store's
optimiser builds the HNSW index of a quiet collection of 20,000 points or more
after a minute, so later windows are faster), and that every note stored during
the move is there afterwards. Expected: 0 failed, 0 empty, every note present.

    python bench/bench_engine_move.py [--points 20000] [--clients 3] [--after 300]
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from _common import WORDS, fill, machine, make_repo, percentiles, say, wqm_env


def _searcher(settings: Any, name: str, stop: threading.Event, phase: list[str], seed: int,
              out: list[tuple[str, float, bool, int]]) -> None:
    from workspace_qdrant_mcp.backends.service import ServiceBackend
    from workspace_qdrant_mcp.core.errors import WqmError

    rng = random.Random(seed)
    backend = ServiceBackend(settings)
    try:
        while not stop.is_set():
            text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(2, 5)))
            began, ok, hits = time.perf_counter(), True, 0
            try:
                hits = len(backend.call("search", query=text, collection=name, limit=10)
                           ["results"])
            except WqmError:
                ok = False
            out.append((phase[0], time.perf_counter() - began, ok, hits))
    finally:
        backend.close()


def _writer(settings: Any, repo: Path, stop: threading.Event, phase: list[str],
            out: list[tuple[str, str | None]]) -> None:
    from workspace_qdrant_mcp.backends.service import ServiceBackend
    from workspace_qdrant_mcp.core.errors import WqmError

    backend = ServiceBackend(settings)
    try:
        i = 0
        while not stop.is_set():
            try:
                stored = backend.call("store_note", content=f"note {i} written while moving",
                                      project_path=str(repo))
                out.append((phase[0], stored["id"]))
            except WqmError:
                out.append((phase[0], None))
            i += 1
            time.sleep(0.2)
    finally:
        backend.close()


def _figures(samples: list[tuple[str, float, bool, int]], phase: str) -> dict[str, Any]:
    chosen = [s for s in samples if s[0] == phase]
    return {"queries": len(chosen), "failed": sum(1 for s in chosen if not s[2]),
            "empty": sum(1 for s in chosen if s[2] and s[3] == 0),
            "latency": percentiles([s[1] for s in chosen])}


def main(points: int = 20_000, clients: int = 3, baseline_s: float = 8.0,
         after_s: float = 4.0) -> dict[str, Any]:
    """Build, serve, move under load; return the figures."""
    from workspace_qdrant_mcp.backends.service import ServiceBackend, stop_service
    from workspace_qdrant_mcp.config import Settings
    from workspace_qdrant_mcp.core.local_accel import tune_embedded_storage
    from workspace_qdrant_mcp.workspace.projects import ensure_project_collection
    from workspace_qdrant_mcp.workspace.workspace import Workspace

    figures: dict[str, Any] = {"machine": machine(), "points": points, "clients": clients}
    with tempfile.TemporaryDirectory(prefix="wqm-bench-move-") as tmp:
        data_dir = Path(tmp) / "data"
        ws = Workspace(Settings.from_env(data_dir=data_dir, service="off",
                                         engine="local")).open()
        try:
            say(f"building {points} points in local mode ...")
            repo = make_repo(Path(tmp) / "repo")
            ctx = ensure_project_collection(ws.aliases, ws.project(repo))
            tune_embedded_storage(ws.client, ctx.physical)  # as ingest writes local mode
            fill(ws, ctx.current_name, points)
            project = {"repo": repo, "name": ctx.current_name}
        finally:
            ws.close()
        served = Settings.from_env(wqm_env(data_dir, "auto"), data_dir=data_dir)
        control = ServiceBackend(served)
        stop = threading.Event()
        phase = ["baseline"]
        samples: list[tuple[str, float, bool, int]] = []
        notes: list[tuple[str, str | None]] = []
        threads = [threading.Thread(target=_searcher, args=(served, project["name"], stop,
                                                            phase, i, samples))
                   for i in range(clients)]
        threads.append(threading.Thread(target=_writer, args=(served, project["repo"], stop,
                                                              phase, notes)))
        try:
            say("starting the service, loading the model ...")
            control.call("search", query="warm up", collection=project["name"], limit=1)
            figures["dry_run"] = control.call("engine_move", to="edge", dry_run=True)
            for thread in threads:
                thread.start()
            time.sleep(baseline_s)
            phase[0] = "moving"
            say("moving to edge ...")
            figures["move"] = control.call("engine_move", to="edge")
            phase[0] = "after"
            moved_at = time.perf_counter()
            while time.perf_counter() - moved_at < after_s:  # the optimiser may index meanwhile
                time.sleep(1)
                window = int((time.perf_counter() - moved_at) // 30)
                phase[0] = f"after {30 * window}-{30 * window + 30} s"
        finally:
            stop.set()
            for thread in threads:
                thread.join()
            written = [n for p, n in notes if n]
            missing = []
            for note in written:
                try:
                    control.call("retrieve", document_id=note, project_path=str(project["repo"]))
                except Exception:  # noqa: BLE001 - counted
                    missing.append(note)
            figures["engine_after"] = control.call("engine_status")["engine"]
            control.close()
            stop_service(served)
    figures["baseline"] = _figures(samples, "baseline")
    figures["moving"] = _figures(samples, "moving")
    figures["after"] = {p: _figures(samples, p)
                        for p in sorted({s[0] for s in samples if s[0].startswith("after")},
                                        key=lambda p: int(p.split()[1].split("-")[0]))}
    figures["notes"] = {"during_move": sum(1 for p, n in notes if p == "moving" and n),
                        "failed": sum(1 for _, n in notes if n is None),
                        "missing_afterwards": len(missing)}
    return figures


def _print(f: dict[str, Any]) -> None:
    move = f["move"]
    print(f"{f['points']} points, {f['clients']} searching clients + 1 writer: moved "
          f"{move['from_engine']} -> {move['to_engine']} in {move['seconds']} s, calls waited "
          f"{move['blocked_ms']} ms at the switch, {move['replayed']} writes replayed; engine "
          f"afterwards: {f['engine_after']}")
    for phase, p in [("baseline", f["baseline"]), ("moving", f["moving"]), *f["after"].items()]:
        lat = p["latency"]
        print(f"{phase:15s} queries {p['queries']:5d}  failed {p['failed']}  empty {p['empty']}  "
              f"p50 {lat.get('p50_ms')} ms  p99 {lat.get('p99_ms')} ms  max {lat.get('max_ms')} ms")
    n = f["notes"]
    print(f"notes stored during the move {n['during_move']}, failed {n['failed']}, missing "
          f"afterwards {n['missing_afterwards']}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=20_000)
    parser.add_argument("--clients", type=int, default=3)
    parser.add_argument("--after", type=float, default=4.0,
                        help="seconds to keep searching after the switch (30-s windows)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = main(args.points, args.clients, after_s=args.after)
    print(json.dumps(result, indent=2)) if args.json else _print(result)
