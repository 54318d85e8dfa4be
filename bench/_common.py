"""Shared pieces of the alias benchmarks: machine facts, timing, synthetic projects.

Synthetic projects are real: a git repository, the alias core's
``create_project_collection_sync`` (via ``ensure_project_collection``), and
points written with ``client.upsert`` in batches, each with a random unit
384-d dense vector, the real BM25 sparse vector of its synthetic text and the
payload the ingest pipeline writes. Random dense vectors are enough wherever
the figure does not depend on their values (alias steps, copies, exact
scoring); the real embedder is timed separately where it matters.
"""

from __future__ import annotations

import hashlib
import os
import platform
import random
import statistics
import subprocess
import sys
import time
import warnings
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

BENCH_DIR = Path(__file__).resolve().parent
WQM = str(Path(sys.executable).with_name("wqm"))
BATCH = 512

_VOCABULARY = """
request response cache index search vector token parse config session file stream buffer
retry timeout queue worker thread lock update delete insert select project alias collection
payload filter score rank query model embed batch chunk server client socket error handler
event listener render template widget layout account billing invoice payment order customer
address email message notify getUserName set_password parseHeaders load_settings HttpClient
"""
WORDS = _VOCABULARY.split()
LANGUAGES = ("python", "typescript", "go", "markdown")
GIT_ENV = {"GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "bench@example.invalid",
           "GIT_COMMITTER_NAME": "bench", "GIT_COMMITTER_EMAIL": "bench@example.invalid",
           "GIT_CONFIG_NOSYSTEM": "1", "GIT_TERMINAL_PROMPT": "0"}


# ----------------------------------------------------------------------- machine, versions


def cpu_model() -> str:
    """The CPU's marketing name (Linux), else what platform knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def ram_gib() -> float | None:
    """Total memory in GiB (Linux)."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    return None


def os_name() -> str:
    """Distribution and kernel."""
    pretty = None
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                pretty = line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    kernel = f"{platform.system()} {platform.release()}"
    return f"{pretty} ({kernel})" if pretty else kernel


def machine() -> dict[str, Any]:
    """What the figures ran on; the load average says how busy the machine was."""
    return {"cpu": cpu_model(), "cores": os.cpu_count(), "ram_gib": ram_gib(), "os": os_name(),
            "loadavg": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None}


def versions() -> dict[str, str]:
    """Versions of what shapes the figures."""
    out = {"python": platform.python_version()}
    for dist in ("qdrant-client", "onnxruntime", "torch", "wqm"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = "-"
    return out


# ----------------------------------------------------------------------------- timing


def percentiles(samples: list[float]) -> dict[str, float]:
    """p50/p95/p99 and max of ``samples`` (seconds) in milliseconds."""
    if not samples:
        return {"n": 0}
    ordered = sorted(samples)

    def pick(q: float) -> float:
        return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]

    return {"n": len(ordered), "p50_ms": round(statistics.median(ordered) * 1000, 2),
            "p95_ms": round(pick(0.95) * 1000, 2), "p99_ms": round(pick(0.99) * 1000, 2),
            "max_ms": round(ordered[-1] * 1000, 2)}


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    """(seconds, result) of one call."""
    started = time.perf_counter()
    result = fn()
    return time.perf_counter() - started, result


def median_ms(samples: list[float]) -> float:
    """Median of ``samples`` (seconds) in milliseconds."""
    return round(statistics.median(samples) * 1000, 2)


# ------------------------------------------------------------------------ synthetic data


def git(cwd: Path, *args: str) -> None:
    """Run git quietly with a fixed identity (fails loudly)."""
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True,
                   env={**os.environ, **GIT_ENV})


def make_repo(root: Path) -> Path:
    """A git repository with one commit and no remote."""
    root.mkdir(parents=True)
    git(root, "init", "-q", "-b", "main")
    (root / "README.md").write_text("# bench project\n")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "bench")
    return root


def chunk_text(rng: random.Random, words: int = 50) -> str:
    """One synthetic chunk of about ``words`` words of code-flavoured prose."""
    return " ".join(rng.choice(WORDS) for _ in range(words))


def chunk_texts(n: int, seed: int = 11) -> list[str]:
    """The first ``n`` chunk texts that ``fill`` writes with the same seed."""
    rng = random.Random(seed)
    return [chunk_text(rng) for _ in range(n)]


def fill(ws: Any, name: str, count: int, seed: int = 11,
         progress: Callable[[int], None] | None = None, real_dense: bool = False,
         upsert_seconds: list[float] | None = None, files_root: Path | None = None) -> None:
    """Upsert ``count`` points through ``name`` in batches: dense, BM25 and full payloads.

    Dense vectors are random unit vectors unless ``real_dense`` (then the model embeds
    the texts, for figures that depend on the vectors' values). ``upsert_seconds``
    receives the time of each upsert call alone (the engine's write throughput).
    ``files_root``: also write each point's file there, its content hash the payload's,
    so a search's freshness check finds the files unchanged; without them it finds
    every hit's file gone and re-indexes (deletes) those points before answering.
    """
    from qdrant_client import models as qm

    from workspace_qdrant_mcp.core import schema, store
    from workspace_qdrant_mcp.workspace.points import chunk_point_id

    rng = random.Random(seed)
    gen = np.random.default_rng(seed)
    client = ws.client
    for start in range(0, count, BATCH):
        size = min(BATCH, count - start)
        texts = [chunk_text(rng) for _ in range(size)]
        if real_dense:
            dense = ws.dense.embed(texts)
        else:
            dense = gen.standard_normal((size, schema.DENSE_DIM)).astype(np.float32)
            dense /= np.linalg.norm(dense, axis=1, keepdims=True)
        sparse = ws.sparse.embed_documents(texts)
        points = []
        for i, text in enumerate(texts):
            n = start + i
            lang = LANGUAGES[n % len(LANGUAGES)]
            path = f"pkg{n % 40}/file_{n // 8}.{lang[:2]}"
            digest = f"h{n // 8}"
            if files_root is not None:
                body = f"# {path}\n".encode()
                digest = hashlib.sha256(body).hexdigest()
                if n % 8 == 0:
                    (files_root / path).parent.mkdir(parents=True, exist_ok=True)
                    (files_root / path).write_bytes(body)
            points.append(qm.PointStruct(
                id=chunk_point_id(path, n % 8, digest),
                vector={schema.DENSE_VECTOR: dense[i].tolist(),
                        schema.SPARSE_VECTOR: qm.SparseVector(indices=sparse[i].indices,
                                                              values=sparse[i].values)},
                payload={"path": path, "language": lang, "start_line": 1 + 40 * (n % 8),
                         "end_line": 40 + 40 * (n % 8), "content": text,
                         "content_hash": digest, "chunk_index": n % 8, "project_id": 1,
                         "source": schema.SOURCE_FILE},
            ))
        with store.guarded(client, "bench upsert"), warnings.catch_warnings():
            # local mode warns past 20,000 points; measuring it there is the point
            warnings.simplefilter("ignore", UserWarning)
            started = time.perf_counter()
            client.upsert(name, points=points)
            if upsert_seconds is not None:
                upsert_seconds.append(time.perf_counter() - started)
        if progress is not None:
            progress(start + size)


def make_project(ws: Any, root: Path, count: int, seed: int = 11,
                 real_dense: bool = False, files: bool = False) -> dict[str, Any]:
    """A repository at ``root`` whose data (``count`` points) lives under its path name.

    ``files``: write the points' files too (see ``fill``), for benches whose searches
    go through the service's freshness check.
    """
    from workspace_qdrant_mcp.workspace.projects import ensure_project_collection

    repo = make_repo(root)
    ctx = ensure_project_collection(ws.aliases, ws.project(repo))
    assert ctx.physical is not None
    seconds, _ = timed(lambda: fill(ws, ctx.current_name, count, seed,
                                    real_dense=real_dense,
                                    files_root=repo if files else None))
    return {"repo": repo, "name": ctx.current_name, "physical": ctx.physical,
            "build_seconds": round(seconds, 1)}


def wqm_env(data_dir: Path, service: str = "auto", **extra: str) -> dict[str, str]:
    """An environment for ``wqm`` subprocesses on ``data_dir`` (no other WQM_*/QDRANT_*)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WQM_", "QDRANT_"))}
    env.update({"WQM_DATA_DIR": str(data_dir), "WQM_SERVICE": service, **extra})
    return env


def run_wqm(args: list[str], env: dict[str, str], cwd: Path | None = None,
            check: bool = True) -> tuple[float, subprocess.CompletedProcess[str]]:
    """Run the real ``wqm`` executable; (wall seconds, completed process)."""
    started = time.perf_counter()
    done = subprocess.run([WQM, *args], env=env, cwd=cwd, capture_output=True, text=True,
                          timeout=600, check=False)
    seconds = time.perf_counter() - started
    if check and done.returncode != 0:
        raise RuntimeError(f"wqm {' '.join(args)} failed ({done.returncode}): {done.stderr}")
    return seconds, done


def say(message: str) -> None:
    """Progress on stderr (stdout is for the figures)."""
    print(message, file=sys.stderr, flush=True)
