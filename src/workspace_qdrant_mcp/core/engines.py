"""Which embedded engine holds a data directory's store, recorded in the data directory.

``<data dir>/engine.json`` names the engine whose store is the data (``local``:
qdrant-client's local mode in ``qdrant/``; ``edge``: Qdrant's own engine in
``edge/``) and, after an engine move, the other store and its state::

    {"engine": "edge", "since": "...", "other": {"engine": "local", "state": "kept", "since": "..."}}

``other.state``: ``kept`` (the store the data was moved from, equal to the live
one: a switch back needs no copy), ``stale`` (kept, but the live store took
writes since), ``partial`` (a copy an interrupted move left; never opened).

It is written when a data directory's store is first opened and rewritten only
by ``wqm engine`` (move, prune) and by the first write after a move (``kept`` ->
``stale``), always atomically (temporary file, fsync, rename, fsync of the
folder): the rename is the commit point of an engine move, so a crash leaves
either the old record (the old, complete engine serves) or the new one.

Why a file and not a registry row: it is read before either store opens, and
``doctor --fix`` may rebuild the registry from the engine, which must still
know which engine is the routing truth.

Resolution (``resolve``): the record; without one, ``local`` when ``qdrant/``
holds collections (a data directory from before the record existed), else
``edge``. ``WQM_ENGINE`` may only agree: a setting that disagrees is refused
with one sentence naming ``wqm engine move``, never answered with an empty store.
This module is light (no engine imports): front ends call ``check_preference``
before they start anything.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .errors import ConfigError, StoreError

ENGINES = ("local", "edge")
RECORD_NAME = "engine.json"
#: Store folder of each engine, inside the data directory.
STORE_DIRS = {"local": "qdrant", "edge": "edge"}
OTHER_STATES = ("kept", "stale", "partial")


def now() -> str:
    """UTC time stamp for records."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def store_path(data_dir: Path, engine: str) -> Path:
    """The store folder of ``engine`` in ``data_dir``."""
    return data_dir / STORE_DIRS[engine]


def other_engine(engine: str) -> str:
    """The engine that is not ``engine``."""
    return "local" if engine == "edge" else "edge"


@dataclass(frozen=True)
class OtherStore:
    """The store of the engine not in use: kept after a move, or left half-made by a crash."""

    engine: str
    state: str
    since: str


@dataclass(frozen=True)
class EngineRecord:
    """What ``engine.json`` says; ``request`` is the id of the request that moved it here.

    (So a client whose connection to the service broke during a move can ask
    whether the move was applied: ``request_outcome``.)
    """

    engine: str
    since: str
    other: OtherStore | None = None
    request: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The record as written."""
        other = None
        if self.other is not None:
            other = {"engine": self.other.engine, "state": self.other.state,
                     "since": self.other.since}
        return {"engine": self.engine, "since": self.since, "other": other,
                "request": self.request}

    def with_other(self, other: OtherStore | None) -> EngineRecord:
        """The same engine with another ``other``."""
        return EngineRecord(self.engine, self.since, other, self.request)


def record_path(data_dir: Path) -> Path:
    """Where the record lives."""
    return data_dir / RECORD_NAME


def _damaged(path: Path, why: str) -> ConfigError:
    return ConfigError(
        f"{path} cannot be read ({why}); it names the engine holding this data directory's "
        "store: restore it, or delete it and wqm infers the engine again (local when qdrant/ "
        "holds collections, else edge)."
    )


def read_record(data_dir: Path) -> EngineRecord | None:
    """The data directory's record, or None when it has none yet."""
    path = record_path(data_dir)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise _damaged(path, type(exc).__name__) from None
    try:
        engine, since, other = raw["engine"], str(raw.get("since") or ""), raw.get("other")
        if engine not in ENGINES:
            raise ValueError(engine)
        kept = None
        if other is not None:
            if other["engine"] not in ENGINES or other["state"] not in OTHER_STATES:
                raise ValueError(other)
            kept = OtherStore(other["engine"], other["state"], str(other.get("since") or ""))
    except (KeyError, TypeError, ValueError):
        raise _damaged(path, "unexpected content") from None
    request = raw.get("request")
    return EngineRecord(engine, since, kept, request if isinstance(request, str) else None)


def write_record(data_dir: Path, record: EngineRecord) -> None:
    """Replace the record atomically: it is the commit point of an engine move."""
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    text = json.dumps(record.to_json(), indent=2) + "\n"
    fd, tmp = tempfile.mkstemp(prefix=".engine-", suffix=".json", dir=data_dir)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, record_path(data_dir))
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    dir_fd = os.open(data_dir, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def local_store_has_collections(path: Path) -> bool:
    """True when a local-mode store folder holds at least one collection."""
    try:
        meta = json.loads((path / "meta.json").read_text(encoding="utf-8"))
        if meta.get("collections"):
            return True
    except (OSError, ValueError, AttributeError):
        pass
    folder = path / "collection"
    return folder.is_dir() and any(folder.iterdir())


def inferred(data_dir: Path) -> str:
    """The engine of a data directory without a record."""
    return "local" if local_store_has_collections(store_path(data_dir, "local")) else "edge"


def _mismatch(data_dir: Path, preference: str, held: str) -> ConfigError:
    return ConfigError(
        f"WQM_ENGINE={preference}, but the store of the data directory {data_dir} is on the "
        f"{held} engine; move it with `wqm engine move --to {preference}` (or unset WQM_ENGINE)."
    )


def resolve(data_dir: Path, preference: str | None) -> tuple[str, EngineRecord | None]:
    """The engine to open for ``data_dir`` and its record (None: not recorded yet).

    ``preference`` is ``WQM_ENGINE`` (None when unset); one that disagrees with
    the data directory raises ``ConfigError``.
    """
    record = read_record(data_dir)
    if record is not None:
        held = record.engine
    elif preference is not None and not local_store_has_collections(
        store_path(data_dir, "local")
    ):
        held = preference  # a new data directory takes the engine asked for
    else:
        held = inferred(data_dir)
    if preference is not None and preference != held:
        raise _mismatch(data_dir, preference, held)
    return held, record


def check_preference(data_dir: Path, preference: str | None) -> None:
    """Refuse a ``WQM_ENGINE`` that disagrees with the data directory (front ends call this)."""
    if preference is not None:
        resolve(data_dir, preference)


def ensure_recorded(data_dir: Path, preference: str | None) -> EngineRecord:
    """The record, written now when the data directory has none (its first open)."""
    engine, record = resolve(data_dir, preference)
    if record is None:
        record = EngineRecord(engine, now())
        write_record(data_dir, record)
    return record


def current(data_dir: Path, preference: str | None) -> str:
    """The engine the data directory holds, for descriptions (never raises)."""
    try:
        record = read_record(data_dir)
    except ConfigError:
        record = None
    if record is not None:
        return record.engine
    if preference is not None:
        return preference
    return inferred(data_dir)


def mark_other_stale(data_dir: Path) -> None:
    """Record that the live store took a write since the move, so the kept one is behind."""
    record = read_record(data_dir)
    if record is None or record.other is None or record.other.state != "kept":
        return
    other = OtherStore(record.other.engine, "stale", now())
    try:
        write_record(data_dir, record.with_other(other))
    except OSError as exc:
        raise StoreError(
            f"Cannot update {record_path(data_dir)} ({exc.strerror or exc}); nothing was "
            "written: wqm needs a writable data directory."
        ) from None
