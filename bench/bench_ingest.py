"""Ingest throughput end to end, against the raw embedders on the very same chunks.

What the pipeline adds on top of embedding (walking, hashing, chunking, the
Qdrant scroll/upsert/delete calls, payloads) should cost at most 15% of the
embedding time. We build a synthetic repository (Python and Markdown files),
ingest it into a fresh embedded store, and time the dense and sparse embedders
alone on exactly the texts the pipeline embedded, in the same batch size,
before and after the ingest (the faster of the two is the raw figure). Because a busy
machine skews two separate runs, the ingest also records the seconds spent
inside the embedders during the run itself: ``pipeline_overhead_pct_in_run`` is
the pipeline's own share, measured under the same load. The model is loaded
before timing (its one-off load is not throughput). Prints figures; ``main()``
returns them for an aggregator.

    python bench/bench_ingest.py [--files 150 | --repo PATH]
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any, cast

from _common import WORDS
from workspace_qdrant_mcp.config import Settings
from workspace_qdrant_mcp.ingest import walker
from workspace_qdrant_mcp.ingest.chunker import chunk_text
from workspace_qdrant_mcp.ops import ingest as pipeline
from workspace_qdrant_mcp.workspace import points
from workspace_qdrant_mcp.workspace.indexer import DENSE_BATCH
from workspace_qdrant_mcp.workspace.workspace import Workspace


def _sentence(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n)).capitalize() + "."


def _python_file(rng: random.Random, functions: int) -> str:
    parts = ["import os\nimport json\n\n"]
    for i in range(functions):
        a, b = rng.choice(WORDS), rng.choice(WORDS)
        parts.append(
            f"\ndef {a}_{b}_{i}(value, options=None):\n"
            f'    """{_sentence(rng, 14)}"""\n'
            f"    result = {{'{a}': value, '{b}': options}}\n"
            f"    for key in sorted(result):\n"
            f"        if result[key] is None:\n"
            f"            result[key] = os.environ.get('{a.upper()}_{b.upper()}')\n"
            f"    return json.dumps(result)\n"
        )
    return "".join(parts)


def _markdown_file(rng: random.Random, sections: int) -> str:
    return "".join(
        f"## {_sentence(rng, 3)}\n\n{_sentence(rng, 25)} {_sentence(rng, 25)}\n\n"
        for _ in range(sections)
    )


def build_repo(root: Path, files: int, seed: int = 7) -> None:
    """A committed git repository of synthetic Python and Markdown files."""
    rng = random.Random(seed)
    for i in range(files):
        folder = root / f"pkg{i % 10}"
        folder.mkdir(parents=True, exist_ok=True)
        if i % 3 == 2:
            (folder / f"doc_{i}.md").write_text(_markdown_file(rng, 20))
        else:
            (folder / f"mod_{i}.py").write_text(_python_file(rng, 25))
    env = {"GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "bench@example.invalid",
           "GIT_COMMITTER_NAME": "bench", "GIT_COMMITTER_EMAIL": "bench@example.invalid",
           "PATH": "/usr/bin:/bin:/usr/local/bin"}
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "bench"]):
        subprocess.run(["git", *args], cwd=root, check=True, env=env)


def chunk_texts(root: Path, max_bytes: int) -> list[str]:
    """Exactly the texts the pipeline embeds for ``root``, in its order."""
    texts: list[str] = []
    for rel in walker.walk(root).files:
        read = walker.read_file(root / rel, max_bytes)
        if read.text is not None:
            texts += [points.embedding_text(rel, c.content) for c in chunk_text(read.text)]
    return texts


def time_raw(ws: Workspace, texts: list[str]) -> tuple[float, float]:
    """Seconds for dense+sparse and for dense alone over ``texts``, in pipeline-sized batches."""
    size = DENSE_BATCH
    started = time.perf_counter()
    dense_seconds = 0.0
    for i in range(0, len(texts), size):
        batch = texts[i:i + size]
        t = time.perf_counter()
        ws.dense.embed(batch)
        dense_seconds += time.perf_counter() - t
        ws.sparse.embed_documents(batch)
    return time.perf_counter() - started, dense_seconds


class Timed:
    """Wraps an embedder and adds up the seconds spent in it (the in-run split)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.seconds = 0.0

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.inner, name)
        if not callable(attr):
            return attr

        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return attr(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - started

        return timed


def main(files: int = 150, repo: Path | None = None) -> dict[str, Any]:
    """Run the benchmark (on a synthetic repository, or on ``repo``); return its figures."""
    with tempfile.TemporaryDirectory(prefix="wqm-bench-ingest-") as tmp:
        base = Path(tmp)
        if repo is None:
            root = base / "repo"
            build_repo(root, files)
        else:
            root = repo.resolve()
        settings = Settings.from_env(data_dir=base / "data", service="off")
        ws = Workspace(settings).open()
        try:
            ws.dense.embed(["warm up the model"] * 8)
            ws.sparse.embed_documents(["warm up"])
            texts = chunk_texts(root, settings.max_file_bytes)
            raw_before, dense_before = time_raw(ws, texts)
            dense, sparse = Timed(ws.dense), Timed(ws.sparse)
            hooked = cast(Any, ws)  # the bench swaps the workspace's models for timing proxies
            hooked._dense, hooked._sparse = dense, sparse
            result = pipeline.ingest(ws, project_path=str(root))
            in_run = dense.seconds + sparse.seconds
            hooked._dense, hooked._sparse = dense.inner, sparse.inner
            assert len(texts) == result["chunks_written"], (len(texts), result["chunks_written"])
            raw_after, dense_after = time_raw(ws, texts)
            dense_only = min(dense_before, dense_after)
            raw = min(raw_before, raw_after)  # the least disturbed run
            noop = pipeline.ingest(ws, project_path=str(root))
        finally:
            ws.close()
    chunks = result["chunks_written"]
    words = sum(len(t.split()) for t in texts) / max(1, len(texts))
    figures = {
        "repository": "synthetic" if repo is None else str(repo),
        "files": result["files_indexed"],
        "chunks": chunks,
        "mean_words_per_chunk": round(words, 1),
        "ingest_seconds": result["seconds"],
        "ingest_chunks_per_s": round(chunks / result["seconds"], 1),
        "raw_embed_seconds": round(raw, 3),
        "raw_embed_chunks_per_s": round(chunks / raw, 1),
        "raw_dense_only_chunks_per_s": round(chunks / dense_only, 1),
        "raw_embed_seconds_before_after": [round(raw_before, 3), round(raw_after, 3)],
        "pipeline_overhead_pct": round((result["seconds"] - raw) / raw * 100, 1),
        "embed_seconds_inside_ingest": round(in_run, 3),
        "pipeline_overhead_pct_in_run": round((result["seconds"] - in_run) / in_run * 100, 1),
        "unchanged_reingest_seconds": noop["seconds"],
        "batch_size": DENSE_BATCH,
    }
    return figures


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=150, help="synthetic files to generate")
    parser.add_argument("--repo", type=Path, help="ingest this repository instead")
    args = parser.parse_args()
    print(json.dumps(main(args.files, args.repo), indent=2))
