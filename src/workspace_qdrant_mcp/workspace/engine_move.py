"""Move a data directory's store to the other embedded engine with zero downtime.

It runs inside the process that owns the store (the workspace service, or the
one in-process workspace), while searches keep being answered:

1. ``engine.json`` records the target folder as ``partial``: from here a crash
   leaves a folder the next move starts again and ``wqm engine prune`` removes.
2. Under the call lock, briefly: start journaling writes
   (``SwitchableEngine``), note the collections and the alias table, and make
   them in the new store.
3. Copy every collection page by page. Each page is read under the call lock,
   so searches and writes interleave with the copy and keep going to the old
   engine; writes are journaled. The writes journaled up to a page's read are
   replayed onto the copy just before that page is written. So each write
   reaches a point's copy exactly once, in order: on a point copied earlier
   (whose copy is as the write found it, which keeps writes by filter and
   partial payload writes exact), or before the page that holds the written
   state (a point not copied yet: a partial write by id is skipped for it).
4. Under the alias lock and the call lock: replay the last writes, compare the
   stores (collections, vector configurations, exact counts, aliases, payload
   indexes), flush the copy, commit the new ``engine.json`` (the commit point),
   swap the engine behind every holder, close the old store.

Writes are replayed during the copy, and blocked only for step 4: the last
replay and the comparison need a source that does not move. Calls wait during
step 4 (they never fail and never see a half-made store); ``blocked_ms`` in the
result says how long.

A crash (SIGKILL) at any step: before the commit, ``engine.json`` names the old
engine, which never stopped being complete; after it, the new one, verified and
flushed before the commit. Named fault points: ``engine_move_begun``,
``engine_move_copying`` (after the first page), ``engine_move_copied``,
``engine_move_verified``, ``engine_move_recorded``, ``engine_move_switched``.

HNSW: the copy's pages count as writes, so the Edge store's optimiser
(``core/edge/optimizer.py``) indexes every collection of 20,000 points or more
once it has been quiet for a minute, in a child process; the switch does not
wait for it (searches scan plainly until then, already far faster than local
mode).

Switching back: the old store is kept. While the live one has taken no write
since the move (state ``kept``), ``--to <old engine>`` checks the kept store and
switches to it without a copy; after a write (``stale``) the move back is a
full copy like any other.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from ..core import engine_copy, engines, faults, locks, store
from ..core.client import open_store
from ..core.engines import EngineRecord, OtherStore
from ..core.errors import ConfigError, InvalidArgument, StoreError
from ..core.requests import current_request_id
from ..core.switchable import SwitchableEngine
from .workspace import Workspace

log = logging.getLogger(__name__)

Progress = Callable[[dict[str, Any]], None]


def store_bytes(path: Path) -> int:
    """Disk space the files under ``path`` take (0 when it does not exist).

    Allocated blocks, not file sizes: Edge preallocates sparse 32 MiB files.
    """
    total = 0
    for folder, _dirs, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(folder, name)).st_blocks * 512
    return total


def switchable(ws: Workspace) -> SwitchableEngine:
    """The workspace's embedded engine; a Qdrant server has none to move."""
    if ws.settings.uses_server:
        raise InvalidArgument(
            "This workspace uses the Qdrant server at QDRANT_URL; engine moves are for the "
            "embedded store."
        )
    client: Any = ws.client
    if not isinstance(client, SwitchableEngine):  # pragma: no cover - open_qdrant always wraps
        raise StoreError("The embedded store cannot change engines in this process.")
    return client


@contextlib.contextmanager
def move_lock(data_dir: Path) -> Iterator[None]:
    """One engine move or prune at a time per data directory (any process, any thread)."""
    path = data_dir / "engine.lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise InvalidArgument(
                "An engine move or prune is already running on this data directory; wait for it."
            ) from None
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def move_running(data_dir: Path) -> bool:
    """True while an engine move or prune holds the data directory's move lock."""
    try:
        with move_lock(data_dir):
            return False
    except InvalidArgument:
        return True


def _record(ws: Workspace) -> EngineRecord:
    record = engines.read_record(ws.settings.data_dir)
    if record is None:  # open_qdrant records it; only a hand-deleted file gets here
        raise ConfigError(f"{engines.record_path(ws.settings.data_dir)} is missing; reopen wqm.")
    return record


def _discard(path: Path) -> None:
    """Remove a store folder: renamed first, so a crash never leaves half of one in place."""
    if not path.exists():
        return
    aside = path.with_name(f".{path.name}.discard-{os.getpid()}-{time.monotonic_ns()}")
    path.rename(aside)
    shutil.rmtree(aside, ignore_errors=True)


def sweep_discarded(data_dir: Path) -> None:
    """Finish removals a crash interrupted."""
    for child in data_dir.glob(".*.discard-*"):
        shutil.rmtree(child, ignore_errors=True)


def plan(ws: Workspace, to: str) -> dict[str, Any]:
    """What a move to ``to`` would copy: collections, points, bytes, free space (changes nothing)."""
    engine = switchable(ws)
    record = _record(ws)
    with engine.lock:
        counts = engine_copy.point_counts(engine.target)
    source = engines.store_path(ws.settings.data_dir, record.engine)
    other = record.other
    instant = other is not None and other.engine == to and other.state == "kept"
    return {
        "from_engine": record.engine,
        "to_engine": to,
        "collections": len(counts),
        "points": sum(counts.values()),
        "store_bytes": store_bytes(source),
        "free_bytes": shutil.disk_usage(ws.settings.data_dir).free,
        "copy": not instant and record.engine != to,
    }


def move(ws: Workspace, to: str, progress: Progress | None = None) -> dict[str, Any]:
    """Move the store to engine ``to``; see the module docstring for the steps and guarantees."""
    if to not in engines.ENGINES:
        raise InvalidArgument(f"Unknown engine {to!r}; use local or edge.")
    engine = switchable(ws)
    emit = progress or (lambda _event: None)
    data_dir = ws.settings.data_dir
    with move_lock(data_dir):
        sweep_discarded(data_dir)
        record = _record(ws)
        started = time.monotonic()
        base = plan(ws, to)
        if record.engine == to:
            return {**base, "status": "nothing_to_do", "replayed": 0, "blocked_ms": 0.0,
                    "seconds": 0.0, "kept": None}
        other = record.other
        if other is not None and other.engine == to and other.state == "kept":
            switched = _switch_back(ws, engine, record, emit)
            if switched is not None:
                return {**base, **switched, "seconds": round(time.monotonic() - started, 2)}
        result = _copy_and_switch(ws, engine, record, to, emit)
        return {**base, **result, "seconds": round(time.monotonic() - started, 2)}


def _open_target(ws: Workspace, to: str) -> Any:
    # Local mode prints a warning about payload indexes; the copy keeps stderr clean.
    return open_store(ws.settings, to)


def _prepare_target(ws: Workspace, record: EngineRecord, to: str) -> None:
    """Remove what a previous move left in the target folder, and record the move as begun."""
    data_dir = ws.settings.data_dir
    target = engines.store_path(data_dir, to)
    ours = record.other is not None and record.other.engine == to
    if target.exists() and not ours:
        holds_data = (
            engines.local_store_has_collections(target) if to == "local"
            else (target / "catalog.db").exists()
        )
        if holds_data:
            raise InvalidArgument(
                f"{target} holds a store that {engines.record_path(data_dir)} does not name; "
                "move it out of the data directory, then run the move again."
            )
    _discard(target)
    engines.write_record(data_dir, record.with_other(OtherStore(to, "partial", engines.now())))
    faults.reach("engine_move_begun")


def _copy_and_switch(
    ws: Workspace, engine: SwitchableEngine, record: EngineRecord, to: str, emit: Progress
) -> dict[str, Any]:
    _prepare_target(ws, record, to)
    target = _open_target(ws, to)
    switched = False
    try:
        with engine.lock:
            engine.start_journal()
            source = engine.target
            names = engine_copy.collections(source)
            shapes = [engine_copy.shape_of(source, name) for name in names]
            aliases = store.live_aliases(source)
            total = sum(engine_copy.point_counts(source).values())
        for shape in shapes:
            engine_copy.create_like(target, shape)
        store.apply_alias_operations(target, [(a, None, c) for a, c in sorted(aliases.items())])
        replayed = _copy_points(ws, engine, target, names, total, emit)
        faults.reach("engine_move_copied")
        emit({"phase": "switch"})
        blocked = time.monotonic()
        with locks.exclusive(ws.aliases.lock_path), engine.lock:
            replayed += engine_copy.replay(target, engine.take_journal())
            found = engine_copy.differences(engine.target, target, check_indexes=to == "edge")
            if found:
                raise StoreError(
                    f"The copy in the {to} store does not match ({'; '.join(found[:3])}); "
                    "nothing was switched: run the move again."
                )
            _flush(target)
            faults.reach("engine_move_verified")
            now = engines.now()
            engines.write_record(
                ws.settings.data_dir,
                EngineRecord(to, now, OtherStore(record.engine, "kept", now),
                             current_request_id()),
            )
            faults.reach("engine_move_recorded")
            old = engine.swap(target, to, _stale_marker(ws.settings.data_dir))
            switched = True
            blocked_ms = (time.monotonic() - blocked) * 1000
        old.close()
        faults.reach("engine_move_switched")
    finally:
        if not switched:
            engine.stop_journal()
            with contextlib.suppress(Exception):
                target.close()
    log.info("moved the store from %s to %s (%d writes replayed, calls blocked %.0f ms)",
             record.engine, to, replayed, blocked_ms)
    return {"status": "moved", "replayed": replayed, "blocked_ms": round(blocked_ms, 1),
            "kept": str(engines.store_path(ws.settings.data_dir, record.engine))}


def _copy_points(
    ws: Workspace, engine: SwitchableEngine, target: Any, names: list[str], total: int,
    emit: Progress,
) -> int:
    """Copy every collection's points; before each page, replay the writes made until its read."""
    copied = replayed = 0
    emit({"phase": "copy", "done": 0, "total": total})
    for name in names:
        offset: Any = None
        while True:
            ws.check_stopping("the engine move")
            with engine.lock:
                try:
                    points, offset = engine_copy.read_page(engine.target, name, offset)
                except Exception:  # deleted meanwhile: its journal entry replays the deletion
                    if name in engine_copy.collections(engine.target):
                        raise
                    points, offset = [], None
                journal = engine.take_journal()
            # The writes made before this read first, then the page as read (step 3).
            replayed += engine_copy.replay(target, journal)
            engine_copy.write_page(target, name, points)
            copied += len(points)
            emit({"phase": "copy", "done": copied, "total": total, "collection": name})
            if copied and copied == len(points):
                faults.reach("engine_move_copying")
            if offset is None:
                break
    return replayed


def _flush(target: Any) -> None:
    flush = getattr(target, "flush", None)  # Edge; local mode writes through at each call
    if callable(flush):
        flush()


def _stale_marker(data_dir: Path) -> Callable[[], None]:
    def mark() -> None:
        engines.mark_other_stale(data_dir)

    return mark


def _switch_back(
    ws: Workspace, engine: SwitchableEngine, record: EngineRecord, emit: Progress
) -> dict[str, Any] | None:
    """Switch to the kept store without a copy; None when it turns out not to match."""
    assert record.other is not None
    to = record.other.engine
    emit({"phase": "switch"})
    target = _open_target(ws, to)
    switched = False
    try:
        blocked = time.monotonic()
        with locks.exclusive(ws.aliases.lock_path), engine.lock:
            found = engine_copy.differences(engine.target, target, check_indexes=to == "edge")
            if found:
                log.warning("the kept %s store does not match (%s); copying instead", to, found)
                return None
            now = engines.now()
            engines.write_record(
                ws.settings.data_dir,
                EngineRecord(to, now, OtherStore(record.engine, "kept", now),
                             current_request_id()),
            )
            faults.reach("engine_move_recorded")
            old = engine.swap(target, to, _stale_marker(ws.settings.data_dir))
            switched = True
            blocked_ms = (time.monotonic() - blocked) * 1000
        old.close()
        faults.reach("engine_move_switched")
    finally:
        if not switched:
            with contextlib.suppress(Exception):
                target.close()
    return {"status": "switched_back", "replayed": 0, "blocked_ms": round(blocked_ms, 1),
            "kept": str(engines.store_path(ws.settings.data_dir, record.engine))}


def prune(ws: Workspace, dry_run: bool = False) -> dict[str, Any]:
    """Remove the other engine's store (kept after a move, or left by an interrupted one)."""
    data_dir = ws.settings.data_dir
    with move_lock(data_dir):
        sweep_discarded(data_dir)
        record = _record(ws)
        other = record.other
        if other is None:
            return {"status": "nothing_to_do", "engine": None, "state": None, "store": None,
                    "freed_bytes": 0}
        path = engines.store_path(data_dir, other.engine)
        size = store_bytes(path)
        result = {"status": "dry_run" if dry_run else "pruned", "engine": other.engine,
                  "state": other.state, "store": str(path), "freed_bytes": size}
        if dry_run:
            return result
        aside = path.with_name(f".{path.name}.discard-prune")
        if path.exists():
            path.rename(aside)
        engines.write_record(data_dir, record.with_other(None))
        shutil.rmtree(aside, ignore_errors=True)
        return result


def applied_by(ws: Workspace, request_id: str) -> bool:
    """True when request ``request_id`` committed the engine the data directory holds now."""
    record = engines.read_record(ws.settings.data_dir)
    return record is not None and record.request == request_id


def status(ws: Workspace) -> dict[str, Any]:
    """Which engine holds the store, where, how big, and what the other folder is."""
    settings = ws.settings
    if settings.uses_server:
        return {"engine": "server", "store": None, "store_bytes": 0, "since": None,
                "other": None, "record": None, "move_running": False}
    record = engines.read_record(settings.data_dir)
    engine = record.engine if record else engines.current(settings.data_dir, settings.engine)
    path = engines.store_path(settings.data_dir, engine)
    other = None
    if record is not None and record.other is not None:
        other_path = engines.store_path(settings.data_dir, record.other.engine)
        other = {"engine": record.other.engine, "state": record.other.state,
                 "since": record.other.since, "store": str(other_path),
                 "store_bytes": store_bytes(other_path)}
    return {"engine": engine, "store": str(path), "store_bytes": store_bytes(path),
            "since": record.since if record else None, "other": other,
            "record": str(engines.record_path(settings.data_dir)),
            "move_running": move_running(settings.data_dir)}
