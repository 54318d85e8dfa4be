"""``wqm search`` end to end: a new process per search, through the shared workspace service.

What a user (or a shell-driven assistant) waits for: start the ``wqm``
executable, connect to the service, embed the query, search (hybrid, the
default), render JSON, exit. A project of ~10,000 chunks is built as
``bench_search.build`` does (real BM25 sparse vectors, random dense vectors:
the embedded engine's latency depends on how many vectors there are, not on
their values). Then, with no service running:

- cold: the first ``wqm search``, which starts the service (opening the store)
  and loads the model on its first query;
- warm: ~20 more ``wqm search`` calls with the service warm (p50/p95), the
  figure behind the < 150 ms target;
- floor: ``wqm --version`` (interpreter and CLI start-up alone) for reference,
  and the time the service itself spent per search (from its log).

Prints figures; ``main()`` returns them.

    python bench/bench_cli_search.py [--quick] [--chunks 10000] [--runs 20]
"""

from __future__ import annotations

import argparse
import json
import random
import re
import tempfile
from pathlib import Path
from typing import Any

from _common import WORDS, machine, percentiles, run_wqm, say, wqm_env

TARGET_WARM_MS = 150.0
_LOGGED = re.compile(r" search result in ([0-9.]+) ms$")


def _service_search_ms(log: Path) -> list[float]:
    """Milliseconds the service itself spent on each search, from its log."""
    found = [_LOGGED.search(line) for line in log.read_text().splitlines()]
    return [float(m.group(1)) for m in found if m]


def main(quick: bool = False, chunks: int = 10_000, runs: int | None = None) -> dict[str, Any]:
    """Build the project, time the cold call then the warm ones; return the figures."""
    import bench_search
    from workspace_qdrant_mcp.backends.service import stop_service
    from workspace_qdrant_mcp.config import Settings
    from workspace_qdrant_mcp.core.runfiles import ServicePaths
    from workspace_qdrant_mcp.workspace.workspace import Workspace

    runs = runs or (12 if quick else 20)
    rng = random.Random(9)
    texts = [" ".join(rng.choice(WORDS) for _ in range(rng.randint(2, 5))) for _ in range(runs)]
    figures: dict[str, Any] = {"machine": machine(), "chunks": chunks, "runs": runs,
                               "mode": "hybrid", "target_warm_ms": TARGET_WARM_MS}
    with tempfile.TemporaryDirectory(prefix="wqm-bench-cli-") as tmp:
        base = Path(tmp)
        root = base / "project"
        root.mkdir()
        data_dir = base / "data"
        ws = Workspace(Settings.from_env(data_dir=data_dir, service="off")).open()
        try:
            say(f"building {chunks} chunks ...")
            bench_search.build(ws, root, chunks, real_dense=False)
        finally:
            ws.close()
        env = wqm_env(data_dir, "auto")
        served = Settings.from_env(env, data_dir=data_dir)
        args = ["search", "--format", "json", "--limit", "10"]
        try:
            say("cold call (starts the service, loads the model) ...")
            cold, done = run_wqm([*args, "compute the invoice total"], env, cwd=root)
            assert json.loads(done.stdout)["results"], "the cold search found nothing"
            warm = []
            say(f"{runs} warm calls ...")
            for text in texts:
                seconds, done = run_wqm([*args, text], env, cwd=root)
                assert "results" in json.loads(done.stdout)
                warm.append(seconds)
            floor = [run_wqm(["--version"], env)[0] for _ in range(5)]
            service_ms = _service_search_ms(ServicePaths.for_settings(served).log_file)[-runs:]
        finally:
            stop_service(served)
    figures["cold_first_call_s"] = round(cold, 2)
    figures["warm"] = percentiles(warm)
    figures["cli_floor"] = percentiles(floor)
    figures["service_side"] = percentiles([ms / 1000 for ms in service_ms])
    figures["meets_target"] = figures["warm"]["p50_ms"] < TARGET_WARM_MS
    return figures


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--chunks", type=int, default=10_000)
    parser.add_argument("--runs", type=int)
    args = parser.parse_args()
    print(json.dumps(main(args.quick, args.chunks, args.runs), indent=2))
