"""Peak memory and throughput of a full ingest of a ~100,000-line third-party tree (issue 16).

The quality benchmark's pinned sdists (``bench/quality/build_devset.py``: attrs,
httpx, jinja2, click; downloaded once, hash-checked) are unpacked side by side,
each several times under its own folder, until the tree holds ``--lines`` lines,
and committed to a fresh git repository. The ingest runs in this process with
the service off, exactly as the workspace service runs it, into a fresh data
directory on the default engine; a thread samples this process's resident set
(``/proc/self/status``) every 0.1 s, and ``VmHWM`` gives the peak. The model is
loaded (and its derived files built) before the clock starts, so the figure is
the ingest's own.

    python bench/bench_ingest_memory.py [--lines 100000] [--recipe int8-192]

Prints the figures as JSON. Copies of one package are not the same text for the
index (paths differ), but their chunks embed alike: throughput is that of real
code, and memory is what the tree's size makes it.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))

from quality import build_devset

PACKAGES = ("attrs", "httpx", "jinja2", "click")
CACHE = Path.home() / ".cache" / "wqm-bench" / "sdists"


def _status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def build_tree(root: Path, lines: int) -> int:
    """Unpack the sdists' files (text only) under ``root`` until ``lines`` lines; commit them."""
    total, copy = 0, 0
    while total < lines:
        for package in PACKAGES:
            with tarfile.open(build_devset.sdist_path(package, CACHE)) as tar:
                for member in tar.getmembers():
                    if not member.isfile() or not member.name.endswith((".py", ".md", ".rst")):
                        continue
                    handle = tar.extractfile(member)
                    if handle is None:
                        continue
                    text = handle.read().decode("utf-8", errors="replace")
                    inner = member.name.split("/", 1)[-1]
                    target = root / f"copy{copy}" / package / inner
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_text(text)
                    total += text.count("\n")
            if total >= lines:
                break
        copy += 1
    git = ["git", "-C", str(root), "-c", "user.email=b@example.com", "-c", "user.name=bench"]
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "tree"], check=True)
    return total


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lines", type=int, default=100_000)
    parser.add_argument("--recipe", default=None, help="WQM_EMBED_RECIPE (default: wqm's)")
    args = parser.parse_args(argv)

    from workspace_qdrant_mcp.config import Settings
    from workspace_qdrant_mcp.ops.ingest import ingest
    from workspace_qdrant_mcp.workspace.workspace import Workspace

    with tempfile.TemporaryDirectory(prefix="bench-ingest-memory-") as tmp:
        repo = Path(tmp) / "tree"
        repo.mkdir()
        lines = build_tree(repo, args.lines)
        base = Settings.from_env()
        extra = {"embed_recipe": args.recipe} if args.recipe else {}
        settings = Settings(data_dir=Path(tmp) / "data", cache_dir=base.cache_dir, service="off",
                            max_project_files=10**6, max_project_bytes=10**12, **extra)
        ws = Workspace(settings).open()
        try:
            recipe = ws.models.current()
            ws.models.embed_dense(recipe, ["warm up"])
            before_kb = _status_kb("VmRSS")
            samples: list[int] = []
            done = threading.Event()

            def sample() -> None:
                while not done.wait(0.1):
                    samples.append(_status_kb("VmRSS"))

            sampler = threading.Thread(target=sample, daemon=True)
            sampler.start()
            started, cpu0 = time.perf_counter(), os.times()
            result = ingest(ws, project_path=str(repo))
            seconds, cpu1 = time.perf_counter() - started, os.times()
            done.set()
            sampler.join()
        finally:
            ws.close()
    chunks = int(result["chunks_written"])
    figures = {
        "lines": lines, "files": int(result["files_indexed"]), "chunks": chunks,
        "recipe": recipe.id, "engine": settings.engine or "default",
        "seconds": round(seconds, 1), "chunks_per_second": round(chunks / seconds, 1),
        "cpu_seconds": round((cpu1.user - cpu0.user) + (cpu1.system - cpu0.system), 1),
        "rss_before_mb": round(before_kb / 1024), "rss_peak_sampled_mb":
            round(max(samples, default=0) / 1024),
        "vm_hwm_mb": round(_status_kb("VmHWM") / 1024),
        "load_average": os.getloadavg()[0], "cpus": os.cpu_count(),
    }
    print(json.dumps(figures, indent=2))
    return figures


if __name__ == "__main__":
    main()
