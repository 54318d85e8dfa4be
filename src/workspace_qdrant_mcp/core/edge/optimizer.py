"""When and how the Edge store builds HNSW indexes, without ever making a search wait.

Facts measured with qdrant-edge-py 0.9.0 (384-d dense + ~50-term sparse, 2 shared cores):

- Without an index Edge scans plainly: a hybrid RRF query takes ~1.6 ms at 20k
  points and 18-32 ms at 100k; with HNSW 2-4 ms at 100k (bench/bench_engine.py).
  Below ~20k points an index buys nothing worth its cost.
- ``EdgeShard.optimize()`` took 11-20 s at 20k points and 107 s at 100k (403 s
  in the child with one thread and ``nice`` on the loaded machine), and
  it **holds the GIL for its whole run**: called from a background thread it
  freezes every other thread of the process (the service's request handlers
  included) for minutes. So it must never run in the serving process.
- One process per shard folder (Edge locks the WAL), so a child process cannot
  optimise the live shard either.

Hence the policy: once a collection has ``min_points`` points, has taken
``min_writes`` point writes since its last optimisation and has been quiet for
``idle_seconds``, a background thread copies its shard folder (writes to that
collection wait for the copy, a second or two; searches do not), a child
process (``nice``, one indexing thread, so the serving process keeps a core)
optimises the copy, and the thread then replays the writes that arrived in the
meantime onto the copy and swaps it in with one catalog commit. Searches keep
using the old shard until the swap and finish on it; the old folder is removed
when its last search returns. A crash at any point leaves the catalog naming the
old folder (complete) or the new one (complete, replay done before the commit);
the other one is an orphan that the next open removes. Short-lived processes
(a CLI command) never start the thread: it starts on the first write and waits
``idle_seconds`` before acting.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import qdrant_edge as qe

from ..errors import StoreError
from .disk import copy_tree, ensure_free, used_bytes
from .shards import Collection, OpenShard, edge_call

if TYPE_CHECKING:
    from .client import EdgeClient

log = logging.getLogger("wqm.edge")

_CHILD = """
import json, sys
import qdrant_edge as qe
from workspace_qdrant_mcp.core.edge.convert import edge_config
path, threads, config = sys.argv[1], int(sys.argv[2]), json.loads(sys.argv[3])
hnsw = qe.HnswIndexConfig(m=16, ef_construct=100, full_scan_threshold=10000,
                          max_indexing_threads=threads)
shard = qe.EdgeShard.load(path, edge_config(config, hnsw))
shard.optimize()
shard.flush()
shard.close()
"""


@dataclass(frozen=True)
class OptimizePolicy:
    """When the background optimiser acts (see the module docstring for why)."""

    enabled: bool = True
    min_points: int = 20_000
    min_writes: int = 5_000
    idle_seconds: float = 60.0
    check_seconds: float = 5.0
    nice: int = 10
    threads: int = 1


class Optimizer:
    """Background thread that optimises quiet collections in a child process, one at a time."""

    def __init__(self, client: EdgeClient, policy: OptimizePolicy) -> None:
        self._client = client
        self.policy = policy
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._busy = threading.Lock()
        self._child: subprocess.Popen[bytes] | None = None
        self._guard = threading.Lock()

    def poke(self) -> None:
        """Start the thread on the first write (reads alone never need it)."""
        if not self.policy.enabled or self._thread is not None:
            return
        with self._guard:
            if self._thread is None and not self._stop.is_set():
                self._thread = threading.Thread(
                    target=self._run, name="wqm-edge-optimizer", daemon=True
                )
                self._thread.start()

    def stop(self) -> None:
        """Stop the thread; a running child is killed (it only ever works on a copy)."""
        self._stop.set()
        with self._guard:
            child = self._child
        if child is not None and child.poll() is None:
            child.kill()
        if self._thread is not None:
            self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self.policy.check_seconds):
            for collection in self._client._collections_snapshot():
                if self._stop.is_set():
                    return
                if self._due(collection):
                    try:
                        self.optimize(collection)
                    except StoreError:
                        log.info("optimising %s failed", collection.name, exc_info=True)

    def _due(self, collection: Collection) -> bool:
        policy = self.policy
        if collection.writes < policy.min_writes or collection.error is not None:
            return False
        if time.monotonic() - collection.last_write < policy.idle_seconds:
            return False
        try:
            return int(collection.info().points_count) >= policy.min_points
        except StoreError:
            return False

    def optimize(self, collection: Collection) -> bool:
        """Optimise a copy of the collection's shard and swap it in; False if abandoned."""
        with self._busy:
            root = self._client.root
            new_dir = f"shards/{secrets.token_hex(8)}"
            new_path = root / new_dir
            with collection.write_lock:
                opened = collection.open()
                with opened.lease() as shard:
                    edge_call(f"flush {collection.name}", shard.flush)
                    try:  # the copy takes what the shard takes; never fill the disk for it
                        ensure_free(root, used_bytes(opened.path))
                    except StoreError as exc:
                        log.warning("not optimising %s: %s", collection.name, exc)
                        return False
                    copy_tree(opened.path, new_path)
                collection.journal = []
                writes_before = collection.writes
            try:
                if not self._optimise_copy(collection, str(new_path)):
                    return False
                with collection.write_lock:
                    journal = collection.journal or []
                    shard = edge_call(
                        f"open the optimised copy of {collection.name}",
                        lambda: qe.EdgeShard.load(str(new_path)),
                    )
                    for operation in journal:
                        edge_call(f"replay a write on {collection.name}",
                                  lambda op=operation: shard.update(op))  # type: ignore[misc]
                    new_open = OpenShard(shard, new_path)
                    if not self._client._commit_move(collection, new_dir, new_open):
                        new_open.close(flush=False)
                        return False
                    collection.writes = max(0, collection.writes - writes_before)
                    collection.journal = None
            finally:
                collection.journal = None
                if collection.opened is not None and collection.opened.path != new_path:
                    shutil.rmtree(new_path, ignore_errors=True)
            opened.close()  # waits for the searches still running on the old shard
            shutil.rmtree(opened.path, ignore_errors=True)
            return True

    def _optimise_copy(self, collection: Collection, path: str) -> bool:
        policy = self.policy
        name = collection.name

        def lower_priority() -> None:  # runs in the child before exec
            os.nice(policy.nice)

        started = time.monotonic()
        with self._guard:
            if self._stop.is_set():
                return False
            self._child = subprocess.Popen(
                [sys.executable, "-c", _CHILD, path, str(policy.threads),
                 json.dumps(collection.entry.config)],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                preexec_fn=lower_priority,  # noqa: PLW1509 - only os.nice, no locks taken
            )
            child = self._child
        _, err = child.communicate()
        with self._guard:
            self._child = None
        if child.returncode != 0:
            if not self._stop.is_set():
                log.info("optimising %s failed: %s", name, err.decode(errors="replace")[-500:])
            return False
        log.info("optimised %s in %.1f s", name, time.monotonic() - started)
        return True
