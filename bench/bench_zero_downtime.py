"""Zero downtime: concurrent searches through the old and new names while the names switch.

A project of 5,000 points (``--quick``: 2,000; synthetic, see ``_common.fill``)
gains a git remote and is served by the shared workspace service. Four client
threads in this process, each with its own ``ServiceBackend`` connection (so
the service sees four concurrent clients, as it would four CLI commands or MCP
servers), call the ``search`` operation (hybrid mode, limit 10) with
``collection=`` set to the old (path-based) name or the new (remote-based)
name in turn, back to back, for two phases:

- baseline: both names exist, nothing switches (half before and half after the
  switching phase, since other work on a shared machine drifts);
- switching: 50 consecutive switches, ``undo`` and ``update-remote``
  (``plan_update_remote`` + ``apply_plan``, the operations the CLI calls)
  alternately, from a fifth connection, with a short pause after each.

The clients search back to back, so the two cores are saturated: latencies
include queueing, in both phases alike.

The old name must always answer. The new name exists only between an
``apply_plan`` returning and the next ``undo`` starting, so a client uses it
only inside such a window and falls back to the old name outside; a query on
the new name that was still running when its window closed may legitimately
fail, and is counted apart as "straddling". Everything else that failed or came
back empty counts as a failure (expected: 0). Prints figures; ``main()``
returns them.

    python bench/bench_zero_downtime.py [--quick] [--points 5000] [--switches 50]
                                        [--engine edge|local]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from _common import WORDS, git, machine, make_project, percentiles, say, wqm_env

#: Service settings the bench needs (see ``main``).
QUIET_SERVICE = {"WQM_AUTO_REINDEX": "0", "WQM_WATCH": "0"}


@dataclass
class Window:
    """Whether the new name exists, and a counter bumped each time that changes."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    generation: int = 0
    exists: bool = True
    phase: str = "warmup"

    def read(self) -> tuple[int, bool]:
        with self.lock:
            return self.generation, self.exists

    def set(self, exists: bool) -> None:
        with self.lock:
            self.generation += 1
            self.exists = exists


@dataclass
class Query:
    """One search a client made."""

    phase: str
    name: str  # "old" or "new"
    began: float
    seconds: float
    ok: bool
    hits: int
    straddling: bool
    error: str | None


def client_loop(settings: Any, names: dict[str, str], window: Window, stop: threading.Event,
                seed: int, out: list[Query]) -> None:
    """Search back to back until ``stop``; old and new names alternately."""
    from workspace_qdrant_mcp.backends.service import ServiceBackend
    from workspace_qdrant_mcp.core.errors import WqmError

    rng = random.Random(seed)
    backend = ServiceBackend(settings)
    turn = seed
    try:
        while not stop.is_set():
            turn += 1
            kind = "new" if turn % 2 else "old"
            generation, exists = window.read()
            if kind == "new" and not exists:
                kind = "old"
            text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(2, 5)))
            phase = window.phase
            began = time.perf_counter()
            error, hits = None, 0
            try:
                result = backend.call("search", query=text, collection=names[kind],
                                      mode="hybrid", limit=10)
                hits = len(result["results"])
            except WqmError as exc:
                error = f"{type(exc).__name__}: {exc}"
            seconds = time.perf_counter() - began
            straddling = kind == "new" and window.read()[0] != generation
            out.append(Query(phase, kind, began, seconds, error is None, hits, straddling, error))
    finally:
        backend.close()


def _phase_figures(queries: list[Query]) -> dict[str, Any]:
    counted = [q for q in queries if not q.straddling]
    failed = [q for q in counted if not q.ok]
    empty = [q for q in counted if q.ok and q.hits == 0]
    short = [q for q in counted if q.ok and 0 < q.hits < 10]  # limit 10 of 2,000+ points
    return {
        "queries": len(queries),
        "old_name": sum(1 for q in queries if q.name == "old"),
        "new_name": sum(1 for q in queries if q.name == "new"),
        "failed": len(failed),
        "empty": len(empty),
        "short": len(short),
        "straddling": len(queries) - len(counted),
        "straddling_failed": sum(1 for q in queries if q.straddling and not q.ok),
        "latency": percentiles([q.seconds for q in queries]),
        "first_errors": sorted({q.error for q in failed if q.error})[:3],
    }


def main(quick: bool = False, points: int | None = None, switches: int = 50, clients: int = 4,
         baseline_s: float | None = None, gap_s: float | None = None,
         engine: str | None = None) -> dict[str, Any]:
    """Build, serve, measure both phases; return the figures."""
    from workspace_qdrant_mcp.backends.service import ServiceBackend, stop_service
    from workspace_qdrant_mcp.config import Settings
    from workspace_qdrant_mcp.core.identity import detect_identity
    from workspace_qdrant_mcp.workspace.workspace import Workspace

    points = points or (2_000 if quick else 5_000)
    baseline_s = baseline_s or (6.0 if quick else 12.0)
    gap_s = gap_s or (0.2 if quick else 0.3)  # pause after each switch: the new name's window
    figures: dict[str, Any] = {"machine": machine(), "points": points, "clients": clients,
                               "engine": engine or "edge (default)",
                               "switches": switches, "mode": "hybrid", "limit": 10,
                               "pause_after_switch_s": gap_s, "baseline_s": baseline_s,
                               "clients_are": "threads, one ServiceBackend connection each"}
    with tempfile.TemporaryDirectory(prefix="wqm-bench-zero-") as tmp:
        base = Path(tmp)
        data_dir = base / "data"
        ws = Workspace(Settings.from_env(data_dir=data_dir, service="off",
                                         engine=engine)).open()
        try:
            say(f"building {points} points ...")
            project = make_project(ws, base / "repo", points, files=True)
        finally:
            ws.close()
        repo = project["repo"]
        git(repo, "remote", "add", "origin", "https://github.com/bench/zero.git")
        new_name = detect_identity(repo).remote_name
        assert new_name is not None
        names = {"old": project["name"], "new": new_name}
        served = Settings.from_env(wqm_env(data_dir, "auto"), data_dir=data_dir)
        # The service must keep serving the collection built here: no background rebuild
        # (its recorded recipe is an older one; the repository holds only stub files) and
        # no catch-up sync. The service reads both from the environment it inherits.
        saved_env = {k: os.environ.get(k) for k in QUIET_SERVICE}
        os.environ.update(QUIET_SERVICE)
        control = ServiceBackend(served)
        window = Window()
        stop = threading.Event()
        logs: list[list[Query]] = [[] for _ in range(clients)]
        threads = [threading.Thread(target=client_loop,
                                    args=(served, names, window, stop, i, logs[i]))
                   for i in range(clients)]
        switch_times: list[tuple[str, float, float]] = []
        try:
            say("starting the service and loading the model ...")
            control.call("search", query="warm up", collection=names["old"], limit=1)
            plan = control.call("plan_update_remote", project_path=str(repo))
            assert control.call("apply_plan", plan=plan)["status"] == "applied"
            for thread in threads:
                thread.start()
            time.sleep(1.0)  # every client connected and warm
            window.phase = "baseline"
            say(f"baseline {baseline_s:.0f} s (half before, half after the switches) ...")
            time.sleep(baseline_s / 2)
            window.phase = "switching"
            say(f"{switches} switches ...")
            for k in range(switches):
                began = time.perf_counter()
                if k % 2 == 0:
                    window.set(False)  # before undo starts, clients stop using the new name
                    control.call("undo", project_path=str(repo))
                    switch_times.append(("undo", began, time.perf_counter()))
                else:
                    plan = control.call("plan_update_remote", project_path=str(repo))
                    assert control.call("apply_plan", plan=plan)["status"] == "applied"
                    switch_times.append(("update_remote", began, time.perf_counter()))
                    window.set(True)  # after apply returned, the new name may be used
                time.sleep(gap_s)
            window.phase = "baseline"  # the machine is shared: a baseline on both sides
            time.sleep(baseline_s / 2)
            window.phase = "after"
        finally:
            stop.set()
            for thread in threads:
                if thread.is_alive():
                    thread.join()
            control.close()
            stop_service(served)
            for key, value in saved_env.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
    queries = [q for log in logs for q in log]
    figures["baseline"] = _phase_figures([q for q in queries if q.phase == "baseline"])
    switching = [q for q in queries if q.phase == "switching"]
    figures["switching"] = _phase_figures(switching)
    spans = [(a, b) for _, a, b in switch_times]
    figures["switching"]["during_a_switch_call"] = sum(
        1 for q in switching if any(q.began < b and q.began + q.seconds > a for a, b in spans))
    figures["switching"]["seconds"] = round(spans[-1][1] - spans[0][0], 2) if spans else 0
    figures["switch_latency"] = {
        kind: percentiles([b - a for k, a, b in switch_times if k == kind])
        for kind in ("update_remote", "undo")}
    return figures


def _print(figures: dict[str, Any]) -> None:
    print(f"{figures['engine']} engine, {figures['clients']} clients, {figures['points']} "
          f"points, {figures['switches']} switches ({figures['switching']['seconds']} s)")
    for phase in ("baseline", "switching"):
        f = figures[phase]
        lat = f["latency"]
        print(f"{phase:10s} queries {f['queries']:6d}  failed {f['failed']}  empty {f['empty']}  short {f['short']}  "
              f"straddling {f['straddling']}  p50 {lat.get('p50_ms')} ms  "
              f"p99 {lat.get('p99_ms')} ms")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--points", type=int)
    parser.add_argument("--switches", type=int, default=50)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--engine", choices=["edge", "local"],
                        help="embedded engine of the data directory (default: edge, as new)")
    args = parser.parse_args()
    result = main(args.quick, args.points, args.switches, engine=args.engine)
    print(json.dumps(result, indent=2)) if args.json else _print(result)
