"""Dashboard: what each view costs, and how soon an open page hears of an alias change.

Views. A workspace with ``--projects`` projects of ``--points`` synthetic points
each (``_common.make_project``) plus ``--aliases`` extra names; each overview
operation (``ops/overview.py``) and ``doctor`` run in-process ``--rounds``
times; reported: the median of each, and ``projects_overview`` relative to one
``status`` per project (the CLI's way to learn the same counts), measured
alternately in the same run.

Live refresh. The same data directory is then served by a real workspace
service; a raw event-stream connection listens on ``/api/events`` while this
process makes ``--changes`` alias changes through the service (``alias_switch``,
create then remove a name). Reported: the time from the change's reply to the
``version`` event carrying it (median and max), each change made after a random
pause so that it falls anywhere in the server's polling period. The server
reads the registry version once a second, so the expected median is about half
a second plus the time of one read.

    python bench/bench_dashboard.py [--quick] [--projects 5] [--points 2000] [--changes 10]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import socket
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import machine, make_project, say


def _median_ms(samples: list[float]) -> float:
    return round(statistics.median(samples) * 1000, 1)


def view_costs(ws: Any, projects: list[dict[str, Any]], rounds: int) -> dict[str, Any]:
    """Median milliseconds of each view's operation, and overview vs per-project status."""
    from workspace_qdrant_mcp.ops import registry

    views = {"projects_overview": {}, "alias_graph": {}, "alias_usage": {},
             "alias_timeline": {}, "registry_version": {}, "registry_metrics": {},
             "doctor": {"fix": False}}
    samples: dict[str, list[float]] = {name: [] for name in views}
    overview: list[float] = []
    statuses: list[float] = []

    def one_overview() -> None:
        started = time.perf_counter()
        registry.run(ws, "projects_overview", {})
        overview.append(time.perf_counter() - started)

    def one_status_each() -> None:
        started = time.perf_counter()
        for project in projects:
            registry.run(ws, "status", {"project_path": str(project["repo"])})
        statuses.append(time.perf_counter() - started)

    for i in range(rounds):
        for name, params in views.items():
            started = time.perf_counter()
            registry.run(ws, name, dict(params))
            samples[name].append(time.perf_counter() - started)
        first, second = (one_overview, one_status_each) if i % 2 else (one_status_each,
                                                                       one_overview)
        first()  # alternate which goes first: drift on a shared machine hits both alike
        second()
    return {
        "median_ms": {name: _median_ms(values) for name, values in samples.items()},
        "status_per_project_ms": _median_ms(statuses),
        "overview_over_status_per_project": round(
            statistics.median(overview) / statistics.median(statuses), 2),
    }


def refresh_latency(data_dir: Path, changes: int, target: str) -> dict[str, Any]:
    """Seconds from an alias change's reply to the page's ``version`` event."""
    from workspace_qdrant_mcp.backends.dashboard import open_dashboard
    from workspace_qdrant_mcp.backends.service import ServiceBackend, stop_service
    from workspace_qdrant_mcp.config import Settings

    settings = Settings.from_env({**os.environ, "WQM_DATA_DIR": str(data_dir),
                                  "WQM_SERVICE": "auto"})
    backend = ServiceBackend(settings)
    delays: list[float] = []
    try:
        link = open_dashboard(settings)
        port, token = link["port"], link["token"]
        stream = socket.create_connection(("127.0.0.1", port), timeout=30)
        stream.sendall(f"GET /api/events?token={token} HTTP/1.1\r\n"
                       f"Host: 127.0.0.1:{port}\r\n\r\n".encode())
        buffer = b""

        def next_version() -> dict[str, Any]:
            nonlocal buffer
            while b"event: version\ndata: " not in buffer or not buffer.split(
                    b"event: version\ndata: ", 1)[1].count(b"\n\n"):
                buffer += stream.recv(65536)
            _, rest = buffer.split(b"event: version\ndata: ", 1)
            data, buffer = rest.split(b"\n\n", 1)
            return dict(json.loads(data))

        current = next_version()
        rng = random.Random(7)
        for i in range(changes):
            # Events follow the server's 1 s polls; changing right after one would always
            # wait a full period. A random pause samples the phase like a real user does.
            time.sleep(rng.uniform(0.0, 1.0))
            target_of = target if i % 2 == 0 else None
            backend.call("alias_switch", changes=[{"alias": "_bench_live", "target": target_of}])
            replied = time.perf_counter()
            while True:
                version = next_version()
                if version["last_change_id"] > current["last_change_id"]:
                    break
            delays.append(time.perf_counter() - replied)
            current = version
        stream.close()
    finally:
        backend.close()
        stop_service(settings)
    return {"changes": changes, "median_ms": _median_ms(delays),
            "max_ms": round(max(delays) * 1000, 1)}


def main() -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--projects", type=int, default=None)
    parser.add_argument("--points", type=int, default=None)
    parser.add_argument("--aliases", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--changes", type=int, default=None)
    args = parser.parse_args()
    n_projects = args.projects or (3 if args.quick else 5)
    n_points = args.points or (500 if args.quick else 2000)
    rounds = args.rounds or (3 if args.quick else 7)
    changes = args.changes or (6 if args.quick else 10)

    from workspace_qdrant_mcp.config import Settings
    from workspace_qdrant_mcp.ops import registry
    from workspace_qdrant_mcp.workspace.workspace import Workspace

    with tempfile.TemporaryDirectory(prefix="wqm-bench-dash-") as tmp:
        data_dir = Path(tmp) / "data"
        settings = Settings.from_env({**os.environ, "WQM_DATA_DIR": str(data_dir),
                                      "WQM_SERVICE": "off"})
        ws = Workspace(settings).open()
        try:
            projects = [make_project(ws, Path(tmp) / f"p{i}", n_points, seed=i)
                        for i in range(n_projects)]
            for i in range(args.aliases):
                target = projects[i % n_projects]["physical"]
                registry.run(ws, "alias_switch", {"changes": [
                    {"alias": f"_bench_name_{i}", "target": target}]})
            costs = view_costs(ws, projects, rounds)
        finally:
            ws.close()
        live = refresh_latency(data_dir, changes, projects[0]["physical"])
    result = {"machine": machine(), "projects": n_projects, "points_per_project": n_points,
              "extra_aliases": args.aliases, "rounds": rounds, "views": costs,
              "live_refresh": live}
    say(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
