"""One physical collection of the Edge store: its catalog entry and its (lazily) opened shard.

A shard opens on first use, not when the store opens, so opening a store with
many collections costs nothing and a broken shard fails only its collection.
Every call on a shard holds a *lease* on the open shard object; closing it (a
deleted collection, an optimised copy swapped in) waits for the leases taken
before, so a query running while a collection goes away finishes on the shard
it started on instead of failing half way.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import qdrant_edge as qe

from ..disk import disk_trouble, way_out
from ..errors import StoreError
from . import convert
from .catalog import CatalogEntry
from .disk import MIN_FREE_BYTES, ensure_free, free_bytes

T = TypeVar("T")

#: Exceptions never wrapped (the rest, Rust panics included, become one StoreError).
_PASS_THROUGH = (KeyboardInterrupt, SystemExit, GeneratorExit, StoreError)


def short(exc: BaseException) -> str:
    """The first line of an engine error, bounded."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text if len(text) <= 300 else text[:297] + "..."


def edge_call(what: str, fn: Callable[[], T]) -> T:
    """Run an Edge call; any engine failure (a panic too) becomes one StoreError sentence."""
    try:
        return fn()
    except _PASS_THROUGH:
        raise
    except BaseException as exc:  # noqa: BLE001 - pyo3 panics derive from BaseException
        raise StoreError(f"The Edge engine could not {what}: {short(exc)}") from None


class OpenShard:
    """An opened EdgeShard with a count of the calls using it."""

    def __init__(self, shard: qe.EdgeShard, path: Path) -> None:
        self.shard = shard
        self.path = path
        self._users = 0
        self._idle = threading.Condition()

    @contextmanager
    def lease(self) -> Iterator[qe.EdgeShard]:
        """Use the shard; ``close`` waits until every lease is returned."""
        with self._idle:
            self._users += 1
        try:
            yield self.shard
        finally:
            with self._idle:
                self._users -= 1
                self._idle.notify_all()

    def close(self, flush: bool = True) -> None:
        """Wait for running calls, then flush and close the shard (errors are not fatal)."""
        with self._idle:
            while self._users:
                self._idle.wait()
        try:
            if flush:
                self.shard.flush()
            self.shard.close()
        except _PASS_THROUGH:
            raise
        except BaseException:  # noqa: BLE001,S110 - closing a broken shard must not fail close()
            pass


class Collection:
    """A catalog entry plus its shard, opened on demand; ``error`` remembers a failed open."""

    def __init__(self, root: Path, entry: CatalogEntry) -> None:
        self.root = root
        self.entry = entry
        self.opened: OpenShard | None = None
        self.error: StoreError | None = None
        self.dropped = False
        self._open_lock = threading.Lock()
        #: Serialises writes; an optimisation holds it while it copies and while it swaps.
        self.write_lock = threading.Lock()
        #: Writes made while an optimised copy is being built, replayed onto the copy.
        self.journal: list[Any] | None = None
        self.writes = 0
        self.last_write = 0.0

    @property
    def name(self) -> str:
        """The collection's name."""
        return self.entry.name

    @property
    def path(self) -> Path:
        """The shard folder."""
        return self.root / self.entry.shard_dir

    def open(self) -> OpenShard:
        """The opened shard, opening it on first use; a broken shard raises its StoreError."""
        opened = self.opened
        if opened is not None:
            return opened
        with self._open_lock:
            if self.opened is not None:
                return self.opened
            if self.error is not None:
                raise self.error
            if self.dropped:
                raise StoreError(f"Collection {self.name} was deleted.")
            self.opened = OpenShard(self._load(), self.path)
            return self.opened

    def _load(self) -> qe.EdgeShard:
        path = self.path
        if not (path / "edge_config.json").is_file():
            self.error = StoreError(
                f"The collection {self.name} is broken: its shard folder {path} is missing or "
                "incomplete; `wqm project doctor` names its project and says how to rebuild it."
            )
            raise self.error
        try:
            return edge_call(f"open the shard of {self.name}", lambda: qe.EdgeShard.load(str(path)))
        except StoreError as exc:
            trouble = _disk_trouble(path)
            if trouble is not None:  # the disk, not the shard: say so, and try again next time
                raise StoreError(
                    f"The collection {self.name} cannot be opened because {trouble} ({path}); "
                    f"{way_out(trouble)}."
                ) from None
            self.error = StoreError(
                f"The collection {self.name} is broken: its shard folder {path} cannot be "
                f"opened ({exc}); `wqm project doctor` names its project and says how to rebuild it."
            )
            raise self.error from None

    def touch(self, count: int) -> None:
        """Record a write of ``count`` points (the optimiser waits for quiet collections)."""
        self.writes += count
        self.last_write = time.monotonic()

    def write(self, what: str, operation: Any, count: int) -> None:
        """Apply one update operation, journaled when an optimised copy is being built."""
        with self.write_lock:
            opened = self.open()
            ensure_free(self.root)  # a write through a map to a full disk is a SIGBUS
            with opened.lease() as shard:
                edge_call(f"{what} in {self.name}", lambda: shard.update(operation))
            if self.journal is not None:
                self.journal.append(operation)
            self.touch(count)

    def info(self) -> Any:
        """Edge's ShardInfo of this collection."""
        with self.open().lease() as shard:
            return edge_call(f"describe {self.name}", shard.info)

    def close(self) -> None:
        """Close the shard if it was opened."""
        with self._open_lock:
            opened, self.opened = self.opened, None
        if opened is not None:
            opened.close()


def _disk_trouble(path: Path) -> str | None:
    """Why the disk of ``path`` may stop a shard opening (Edge needs room to open), or None."""
    trouble = disk_trouble(path)
    if trouble is None and free_bytes(path) < MIN_FREE_BYTES:
        trouble = "its disk is nearly full"
    return trouble


def create_shard(path: Path, config: dict[str, Any]) -> qe.EdgeShard:
    """A new empty shard at ``path`` with the catalog config."""
    edge_config = convert.edge_config(config)
    return edge_call("create a shard", lambda: qe.EdgeShard.create(str(path), edge_config))
