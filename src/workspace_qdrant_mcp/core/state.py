"""SQLite registry: what Qdrant does not keep.

Qdrant is the truth for routing (which name reaches which collection). This
registry is the truth for intent and history: who made each alias and why, an
append-only audit log, pending alias changes (the intent half of the
intent -> Qdrant -> done protocol), usage counts and the projects we know.

The file is opened in WAL mode with a busy timeout so several processes can
read while one writes; schema changes are numbered migrations recorded in
``schema_version``. A database written by a newer wqm is refused rather than
guessed at.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypedDict

from .disk import disk_trouble, way_out
from .errors import RegistryDamaged, RegistryError, SchemaTooNew
from .migrations import MIGRATIONS, SCHEMA_VERSION
from .requests import current_request_id

BUSY_TIMEOUT_MS = 30_000


def utc_now() -> str:
    """Current time as an ISO-8601 UTC string with microseconds (sortable)."""
    return datetime.now(UTC).isoformat(timespec="microseconds")




@dataclass(frozen=True)
class ProjectRecord:
    """A project we hold data for: its physical collection and last known identity."""

    id: int
    physical_collection: str
    root_path: str
    canonical_remote: str | None
    path_name: str | None
    remote_name: str | None
    created_at: str
    updated_at: str
    root_commits: str | None = None
    #: 1 while the workspace service watches the project's folder (``wqm watch off``: 0).
    watch: int = 1
    last_sync_at: str | None = None

    @property
    def commits(self) -> frozenset[str]:
        """The root commit(s) recorded for the project's repository (empty: unknown)."""
        loaded = load_json(self.root_commits)
        return frozenset(loaded) if isinstance(loaded, list) else frozenset()


class AuditRow(TypedDict):
    """One audit log row as JSON."""

    id: int
    at: str
    action: str
    alias_name: str
    before: str | None
    after: str | None
    actor: str
    reason: str | None
    pid: int
    change_id: int | None


@dataclass(frozen=True)
class AliasEvent:
    """One row of the append-only audit log."""

    id: int
    at: str
    action: str
    alias_name: str
    before: str | None
    after: str | None
    actor: str
    reason: str | None
    pid: int
    change_id: int | None

    def to_dict(self) -> AuditRow:
        """Plain JSON-ready form."""
        return {
            "id": self.id,
            "at": self.at,
            "action": self.action,
            "alias_name": self.alias_name,
            "before": self.before,
            "after": self.after,
            "actor": self.actor,
            "reason": self.reason,
            "pid": self.pid,
            "change_id": self.change_id,
        }


@dataclass(frozen=True)
class ChangeRecord:
    """A recorded alias change (intent) and its fate."""

    id: int
    created_at: str
    finished_at: str | None
    status: str
    kind: str
    operations: list[dict[str, Any]]
    actor: str
    reason: str | None
    metadata: dict[str, Any] | None
    pid: int
    undo_of: int | None
    undone_by: int | None
    request_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready form."""
        return dict(self.__dict__)


class SQLiteStateManager:
    """The registry file: schema, migrations, transactions and typed accessors."""

    def __init__(self, db_path: str | Path) -> None:
        self.db_path = Path(db_path)
        self._lock = threading.RLock()
        self._conn: sqlite3.Connection | None = None
        self._pending_usage: dict[str, tuple[int, str]] = {}
        self._pending_daily: dict[tuple[str, str], int] = {}

    # -- connection -------------------------------------------------------------------------

    @property
    def connection(self) -> sqlite3.Connection:
        """The open connection (opened and migrated on first use)."""
        if self._conn is None:
            self.initialize_sync()
        assert self._conn is not None
        return self._conn

    async def initialize(self) -> bool:
        """Open the registry and bring its schema up to date (idempotent)."""
        self.initialize_sync()
        return True

    def initialize_sync(self) -> None:
        """Synchronous twin of ``initialize`` for code that is not async."""
        with self._lock:
            if self._conn is not None:
                return
            conn: sqlite3.Connection | None = None
            try:
                self.db_path.parent.mkdir(parents=True, exist_ok=True)
                conn = sqlite3.connect(
                    str(self.db_path),
                    timeout=BUSY_TIMEOUT_MS / 1000,
                    isolation_level=None,
                    check_same_thread=False,
                )
                conn.row_factory = sqlite3.Row
                conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
                conn.execute("PRAGMA journal_mode = WAL")
                conn.execute("PRAGMA synchronous = NORMAL")
                conn.execute("PRAGMA foreign_keys = ON")
            except OSError as exc:
                raise RegistryError(
                    f"Cannot create the registry {self.db_path} ({exc.strerror}); "
                    "make the data directory writable or set WQM_DATA_DIR to another folder."
                ) from None
            except sqlite3.DatabaseError as exc:
                if conn is not None:
                    conn.close()
                raise _open_error(self.db_path, exc) from None
            try:
                self._migrate(conn)
            except BaseException:
                conn.close()
                raise
            self._conn = conn

    def _migrate(self, conn: sqlite3.Connection) -> None:
        try:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_version "
                "(version INTEGER NOT NULL, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
            )
            columns = {r[1] for r in conn.execute("PRAGMA table_info(schema_version)")}
            if "name" not in columns:
                conn.execute("ROLLBACK")
                raise RegistryError(
                    f"{self.db_path} is not a wqm registry (its schema_version table has another "
                    "shape, e.g. the seed's workspace_state.db); point wqm at its own registry."
                )
            row = conn.execute("SELECT MAX(version) FROM schema_version").fetchone()
            current = row[0] or 0
            if current > SCHEMA_VERSION:
                conn.execute("ROLLBACK")
                raise SchemaTooNew(
                    f"The registry {self.db_path} has schema version {current}, newer than this "
                    f"wqm understands ({SCHEMA_VERSION}); upgrade wqm to use it."
                )
            for version, name, apply in MIGRATIONS:
                if version > current:
                    apply(conn)
                    conn.execute(
                        "INSERT INTO schema_version(version, name, applied_at) VALUES (?, ?, ?)",
                        (version, name, utc_now()),
                    )
            conn.execute("COMMIT")
        except sqlite3.DatabaseError as exc:
            with contextlib.suppress(sqlite3.Error):
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
            raise _open_error(self.db_path, exc) from None

    def schema_version(self) -> int:
        """The schema version of the open registry."""
        row = self.query_one("SELECT MAX(version) AS v FROM schema_version")
        return int(row["v"]) if row else 0

    def close_quietly(self) -> None:
        """Drop the connection without writing (the file may be damaged)."""
        with self._lock:
            self._pending_usage = {}
            if self._conn is not None:
                with contextlib.suppress(sqlite3.Error):
                    self._conn.close()
                self._conn = None

    def close(self) -> None:
        """Flush buffered usage and close the connection."""
        with self._lock:
            if self._conn is None:
                return
            try:
                self.flush_usage()
            finally:
                self._conn.close()
                self._conn = None

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction (BEGIN IMMEDIATE) that commits or rolls back as a whole."""
        with self._lock:
            conn = self.connection
            try:
                conn.execute("BEGIN IMMEDIATE")
                yield conn
                conn.execute("COMMIT")
            except sqlite3.Error as exc:
                _roll_back(conn)
                if _is_damage(exc):
                    raise _damaged(self.db_path, exc) from None
                raise RegistryError(f"Registry write failed: {exc}; retry the command.") from None
            except BaseException:
                _roll_back(conn)
                raise

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        """Rows of one read (a failure becomes a RegistryError)."""
        with self._lock:
            try:
                return list(self.connection.execute(sql, params).fetchall())
            except sqlite3.Error as exc:
                if _is_damage(exc):  # a bad page shows only when read: "retry" cannot help
                    raise _damaged(self.db_path, exc) from None
                raise RegistryError(f"Registry read failed: {exc}; retry the command.") from None

    def check_integrity(self) -> None:
        """Raise ``RegistryDamaged`` unless SQLite's ``quick_check`` finds every page sound.

        Opening reads only the header and the schema, so ``doctor`` asks for this
        to find a damaged table before a command trips over it.
        """
        rows = self.query("PRAGMA quick_check")
        first = str(rows[0][0]) if rows else "no answer"
        if first != "ok":
            raise _damaged(self.db_path, sqlite3.DatabaseError(first[:200]))

    def query_one(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Row | None:
        """The first row of one read, or None."""
        rows = self.query(sql, params)
        return rows[0] if rows else None

    # -- aliases ----------------------------------------------------------------------------

    def alias_generation(self) -> int:
        """Counter bumped by every alias change, in any process (drives cache coherence)."""
        row = self.query_one("SELECT value FROM registry_meta WHERE key = 'alias_generation'")
        return int(row["value"]) if row else 0

    def alias_rows(self) -> list[sqlite3.Row]:
        """Every registered alias, newest first."""
        return self.query("SELECT * FROM collection_aliases ORDER BY created_at DESC, alias_name")

    def alias_row(self, alias_name: str) -> sqlite3.Row | None:
        """One registered alias, or None."""
        return self.query_one(
            "SELECT * FROM collection_aliases WHERE alias_name = ?", (alias_name,)
        )

    def record_use(self, name: str) -> None:
        """Count one use of ``name`` (buffered; written by ``flush_usage``)."""
        with self._lock:
            count, _ = self._pending_usage.get(name, (0, ""))
            now = utc_now()
            self._pending_usage[name] = (count + 1, now)
            day = (name, now[:10])
            self._pending_daily[day] = self._pending_daily.get(day, 0) + 1

    def flush_usage(self) -> None:
        """Write buffered usage counts (one small transaction; a no-op when nothing is buffered)."""
        with self._lock:
            if not self._pending_usage or self._conn is None:
                return
            pending, self._pending_usage = self._pending_usage, {}
            daily, self._pending_daily = self._pending_daily, {}
            with self.transaction() as conn:
                for name, (count, last) in pending.items():
                    conn.execute(
                        "UPDATE collection_aliases SET hit_count = hit_count + ?, "
                        "last_used_at = MAX(COALESCE(last_used_at, ''), ?) WHERE alias_name = ?",
                        (count, last, name),
                    )
                # Same rule as the totals: only registered aliases are counted.
                conn.executemany(
                    "INSERT INTO alias_usage_daily(alias_name, day, hits) SELECT ?, ?, ? "
                    "WHERE EXISTS (SELECT 1 FROM collection_aliases WHERE alias_name = ?) "
                    "ON CONFLICT(alias_name, day) DO UPDATE SET hits = hits + excluded.hits",
                    [(name, day, hits, name) for (name, day), hits in daily.items()],
                )

    # -- changes (intents) and audit --------------------------------------------------------

    def begin_change(
        self,
        kind: str,
        operations: list[dict[str, Any]],
        actor: str,
        reason: str | None,
        metadata: dict[str, Any] | None,
        undo_of: int | None = None,
    ) -> int:
        """Record an intended change as pending (committed before Qdrant is touched).

        The id of the request being served (``core/requests.py``) is recorded with
        it, so the client that sent the request can ask what became of it.
        """
        with self.transaction() as conn:
            cur = conn.execute(
                "INSERT INTO alias_changes(created_at, status, kind, operations, actor, reason, "
                "metadata, pid, undo_of, request_id) VALUES (?, 'pending', ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    utc_now(),
                    kind,
                    json.dumps(operations),
                    actor,
                    reason,
                    _dump(metadata),
                    os.getpid(),
                    undo_of,
                    current_request_id(),
                ),
            )
            return int(cur.lastrowid or 0)

    def complete_change(
        self,
        change_id: int,
        registry_rows: Sequence[tuple[str, str | None, str, str, dict[str, Any] | None]],
        events: Sequence[tuple[str, str, str | None, str | None]],
        *,
        actor: str,
        reason: str | None,
    ) -> None:
        """Mark a change done and mirror it into the registry and audit log, atomically.

        ``registry_rows``: (alias, collection or None to delete, created_at, created_by, metadata).
        ``events``: (action, alias, before, after).
        """
        now = utc_now()
        with self.transaction() as conn:
            status = conn.execute(
                "SELECT status, undo_of FROM alias_changes WHERE id = ?", (change_id,)
            ).fetchone()
            if status is None or status["status"] != "pending":
                return
            is_undo = status["undo_of"] is not None
            for alias, collection, created_at, created_by, metadata in registry_rows:
                if collection is None:
                    _retire_alias_row(conn, alias, now)
                    continue
                if is_undo and _restore_alias_row(conn, alias, collection):
                    continue
                conn.execute(
                    "INSERT INTO collection_aliases(alias_name, collection_name, created_at, "
                    "created_by, metadata) VALUES (?, ?, ?, ?, ?) "
                    "ON CONFLICT(alias_name) DO UPDATE SET collection_name = excluded.collection_name, "
                    "created_at = excluded.created_at, created_by = excluded.created_by, "
                    "metadata = excluded.metadata",
                    (alias, collection, created_at, created_by, _dump(metadata)),
                )
            _insert_events(conn, now, events, actor, reason, change_id)
            conn.execute(
                "UPDATE alias_changes SET status = 'done', finished_at = ? WHERE id = ?",
                (now, change_id),
            )
            if status["undo_of"] is not None:
                conn.execute(
                    "UPDATE alias_changes SET undone_by = ? WHERE id = ?",
                    (change_id, status["undo_of"]),
                )
            _bump_generation(conn)

    def finish_change(self, change_id: int, status: str) -> None:
        """Close a pending change that did not apply (``abandoned`` or ``rolled_back``)."""
        with self.transaction() as conn:
            conn.execute(
                "UPDATE alias_changes SET status = ?, finished_at = ? "
                "WHERE id = ? AND status = 'pending'",
                (status, utc_now(), change_id),
            )
            _bump_generation(conn)

    def pending_changes(self) -> list[ChangeRecord]:
        """Changes whose intent was recorded but whose outcome was not (a crash, usually)."""
        rows = self.query("SELECT * FROM alias_changes WHERE status = 'pending' ORDER BY id")
        return [_change(row) for row in rows]

    def get_change(self, change_id: int) -> ChangeRecord | None:
        """One recorded change."""
        row = self.query_one("SELECT * FROM alias_changes WHERE id = ?", (change_id,))
        return _change(row) if row else None

    def undoable_changes(self, limit: int = 1000) -> list[ChangeRecord]:
        """Applied changes not undone yet, newest first (an undo may itself be undone)."""
        rows = self.query(
            "SELECT * FROM alias_changes WHERE status = 'done' AND undone_by IS NULL "
            "AND kind IN ('alias', 'undo', 'reindex') ORDER BY id DESC LIMIT ?",
            (limit,),
        )
        return [_change(row) for row in rows]

    def last_undoable_change(self) -> ChangeRecord | None:
        """The most recent applied change that has not been undone (undo of undo is allowed)."""
        found = self.undoable_changes(limit=1)
        return found[0] if found else None

    def changes_of_request(self, request_id: str) -> list[ChangeRecord]:
        """The changes recorded while serving ``request_id``, oldest first."""
        rows = self.query(
            "SELECT * FROM alias_changes WHERE request_id = ? ORDER BY id", (request_id,)
        )
        return [_change(row) for row in rows]

    def has_pending_changes(self) -> bool:
        """True when a change's intent is recorded but its outcome is not (cheap)."""
        return self.query_one(
            "SELECT 1 AS one FROM alias_changes WHERE status = 'pending' LIMIT 1"
        ) is not None

    def append_events(
        self, events: Sequence[tuple[str, str, str | None, str | None]], actor: str, reason: str
    ) -> None:
        """Log events that are not part of an alias change (reconcile repairs)."""
        now = utc_now()
        with self.transaction() as conn:
            _insert_events(conn, now, events, actor, reason, None)

    def events(self, alias_name: str | None = None, limit: int = 200) -> list[AliasEvent]:
        """The audit log, newest first, optionally for one name."""
        if alias_name is None:
            rows = self.query("SELECT * FROM alias_events ORDER BY id DESC LIMIT ?", (limit,))
        else:
            rows = self.query(
                "SELECT * FROM alias_events WHERE alias_name = ? ORDER BY id DESC LIMIT ?",
                (alias_name, limit),
            )
        return [_event(row) for row in rows]

    def upsert_alias_row(
        self, alias: str, collection: str, created_by: str, metadata: dict[str, Any] | None
    ) -> None:
        """Register an alias outside a change (reconcile adopting one found only in Qdrant)."""
        with self.transaction() as conn:
            conn.execute(
                "INSERT INTO collection_aliases(alias_name, collection_name, created_at, created_by, "
                "metadata) VALUES (?, ?, ?, ?, ?) ON CONFLICT(alias_name) DO UPDATE SET "
                "collection_name = excluded.collection_name",
                (alias, collection, utc_now(), created_by, _dump(metadata)),
            )
            _bump_generation(conn)

    def delete_alias_row(self, alias: str) -> None:
        """Forget an alias outside a change (reconcile dropping one missing from Qdrant)."""
        with self.transaction() as conn:
            conn.execute("DELETE FROM collection_aliases WHERE alias_name = ?", (alias,))
            _bump_generation(conn)

    # -- projects ---------------------------------------------------------------------------

    def upsert_project(
        self,
        physical_collection: str,
        root_path: str,
        canonical_remote: str | None,
        path_name: str | None,
        remote_name: str | None,
        root_commits: frozenset[str] = frozenset(),
        names: Sequence[tuple[str, str, str | None, str | None]] = (),
    ) -> ProjectRecord:
        """Create or update the project that owns ``physical_collection`` and bind ``names``.

        ``names`` holds (name, kind, canonical_remote, root_path) rows; they are
        written in the same transaction as the project, so a failed write (a full
        disk) never leaves a project whose names are only half recorded.
        """
        now = utc_now()
        commits = json.dumps(sorted(root_commits)) if root_commits else None
        with self.transaction() as conn:
            conn.execute(
                "INSERT INTO projects(physical_collection, root_path, canonical_remote, path_name, "
                "remote_name, created_at, updated_at, root_commits) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT(physical_collection) DO UPDATE SET root_path = excluded.root_path, "
                "canonical_remote = COALESCE(excluded.canonical_remote, canonical_remote), "
                "path_name = excluded.path_name, "
                "remote_name = COALESCE(excluded.remote_name, remote_name), "
                "root_commits = COALESCE(excluded.root_commits, root_commits), "
                "updated_at = excluded.updated_at",
                (
                    physical_collection,
                    root_path,
                    canonical_remote,
                    path_name,
                    remote_name,
                    now,
                    now,
                    commits,
                ),
            )
            for name, kind, remote, root in names:
                conn.execute(
                    "INSERT INTO project_names(name, project_id, kind, canonical_remote, "
                    "root_path, added_at) SELECT ?, id, ?, ?, ?, ? FROM projects "
                    "WHERE physical_collection = ? ON CONFLICT(name) DO UPDATE SET "
                    "project_id = excluded.project_id",
                    (name, kind, remote, root, now, physical_collection),
                )
        record = self.project_by_collection(physical_collection)
        assert record is not None
        return record

    def project_by_collection(self, physical_collection: str) -> ProjectRecord | None:
        """The project whose data lives in ``physical_collection``."""
        row = self.query_one(
            "SELECT * FROM projects WHERE physical_collection = ?", (physical_collection,)
        )
        return ProjectRecord(**dict(row)) if row else None

    def projects(self) -> list[ProjectRecord]:
        """Every known project."""
        return [ProjectRecord(**dict(row)) for row in self.query("SELECT * FROM projects")]

    def projects_by_root(self, root_path: str) -> list[ProjectRecord]:
        """Projects last seen at ``root_path`` (normally one)."""
        rows = self.query("SELECT * FROM projects WHERE root_path = ?", (root_path,))
        return [ProjectRecord(**dict(row)) for row in rows]

    def move_project_collection(self, old: str, new: str) -> None:
        """A rebuild replaced the project's collection: its record follows the names."""
        with self.transaction() as conn:
            conn.execute("UPDATE projects SET physical_collection = ?, updated_at = ? "
                         "WHERE physical_collection = ?", (new, utc_now(), old))

    def mark_synced(self, project_id: int) -> None:
        """Record that the project's index was brought in step with its files just now."""
        with self.transaction() as conn:
            conn.execute("UPDATE projects SET last_sync_at = ? WHERE id = ?",
                         (utc_now(), project_id))

    def set_watch(self, project_id: int, on: bool) -> None:
        """Turn watching of the project's folder on or off."""
        with self.transaction() as conn:
            conn.execute("UPDATE projects SET watch = ? WHERE id = ?", (int(on), project_id))

    def forget_project(self, project_id: int) -> None:
        """Delete a project's record and the names bound to it (its data is not touched)."""
        with self.transaction() as conn:
            conn.execute("DELETE FROM project_names WHERE project_id = ?", (project_id,))
            conn.execute("DELETE FROM projects WHERE id = ?", (project_id,))

    def name_binding(self, name: str) -> sqlite3.Row | None:
        """The registry's record of which project (and remote) a name was bound to."""
        return self.query_one("SELECT * FROM project_names WHERE name = ?", (name,))

    def names_of_project(self, project_id: int) -> list[str]:
        """Every name ever bound to a project, oldest first."""
        rows = self.query(
            "SELECT name FROM project_names WHERE project_id = ? ORDER BY added_at", (project_id,)
        )
        return [row["name"] for row in rows]

    # -- monitoring reads (the dashboard and /metrics) ----------------------------------------

    def usage_per_day(self, since_day: str) -> list[tuple[str, str, int]]:
        """(alias, day, hits) for UTC days on or after ``since_day`` (``YYYY-MM-DD``), by day."""
        self.flush_usage()
        rows = self.query(
            "SELECT alias_name, day, hits FROM alias_usage_daily WHERE day >= ? "
            "ORDER BY day, alias_name",
            (since_day,),
        )
        return [(row["alias_name"], row["day"], int(row["hits"])) for row in rows]

    def recent_changes(self, limit: int) -> list[ChangeRecord]:
        """The latest recorded alias changes, whatever their fate, newest first."""
        rows = self.query("SELECT * FROM alias_changes ORDER BY id DESC LIMIT ?", (limit,))
        return [_change(row) for row in rows]

    def loose_events(self, limit: int) -> list[AliasEvent]:
        """Audit events that belong to no change (reconcile repairs), newest first."""
        rows = self.query(
            "SELECT * FROM alias_events WHERE change_id IS NULL ORDER BY id DESC LIMIT ?",
            (limit,),
        )
        return [_event(row) for row in rows]

    def change_marker(self) -> tuple[int, int, int, int]:
        """(alias generation, last change id, last event id, total hits): one cheap read that
        moves whenever an alias change, a repair or a flushed search happens in any process."""
        self.flush_usage()
        row = self.query_one(
            "SELECT (SELECT value FROM registry_meta WHERE key = 'alias_generation') AS g, "
            "(SELECT COALESCE(MAX(id), 0) FROM alias_changes) AS c, "
            "(SELECT COALESCE(MAX(id), 0) FROM alias_events) AS e, "
            "(SELECT COALESCE(SUM(hit_count), 0) FROM collection_aliases) AS h"
        )
        assert row is not None
        return int(row["g"] or 0), int(row["c"]), int(row["e"]), int(row["h"])

    def counts(self) -> RegistryCounts:
        """Totals for monitoring: audit events by action, changes by status, recoveries."""
        by_action = self.query("SELECT action, COUNT(*) AS n FROM alias_events GROUP BY action")
        by_status = self.query("SELECT status, COUNT(*) AS n FROM alias_changes GROUP BY status")
        repairs = self.query(
            "SELECT action, COUNT(*) AS n FROM alias_events WHERE change_id IS NULL "
            "GROUP BY action"
        )
        # A change completed by recovery has its events written by another process than
        # the one that recorded the intent (the events' pid is the recovering process).
        completed = self.query_one(
            "SELECT COUNT(DISTINCT c.id) AS n FROM alias_changes c "
            "JOIN alias_events e ON e.change_id = c.id WHERE c.status = 'done' AND e.pid != c.pid"
        )
        return {
            "events_by_action": {row["action"]: int(row["n"]) for row in by_action},
            "changes_by_status": {row["status"]: int(row["n"]) for row in by_status},
            "repairs_by_action": {row["action"]: int(row["n"]) for row in repairs},
            "recovered_completed": int(completed["n"]) if completed else 0,
        }


class RegistryCounts(TypedDict):
    """What ``SQLiteStateManager.counts`` returns."""

    events_by_action: dict[str, int]
    changes_by_status: dict[str, int]
    repairs_by_action: dict[str, int]
    recovered_completed: int


def _event(row: sqlite3.Row) -> AliasEvent:
    return AliasEvent(
        id=row["id"],
        at=row["at"],
        action=row["action"],
        alias_name=row["alias_name"],
        before=row["before"],
        after=row["after"],
        actor=row["actor"],
        reason=row["reason"],
        pid=row["pid"],
        change_id=row["change_id"],
    )


def _retire_alias_row(conn: sqlite3.Connection, alias: str, now: str) -> None:
    """Remove an alias's row, keeping it as a tombstone that an undo can restore."""
    conn.execute(
        "INSERT OR REPLACE INTO alias_tombstones(alias_name, collection_name, created_at, "
        "created_by, metadata, hit_count, last_used_at, removed_at) SELECT alias_name, "
        "collection_name, created_at, created_by, metadata, hit_count, last_used_at, ? "
        "FROM collection_aliases WHERE alias_name = ?",
        (now, alias),
    )
    conn.execute("DELETE FROM collection_aliases WHERE alias_name = ?", (alias,))


def _restore_alias_row(conn: sqlite3.Connection, alias: str, collection: str) -> bool:
    """An undo puts an alias back as it was: who made it, why, and its use. False: no record."""
    updated = conn.execute(
        "UPDATE collection_aliases SET collection_name = ? WHERE alias_name = ?",
        (collection, alias),
    )
    if updated.rowcount:
        return True
    restored = conn.execute(
        "INSERT INTO collection_aliases(alias_name, collection_name, created_at, created_by, "
        "metadata, hit_count, last_used_at) SELECT alias_name, ?, created_at, created_by, "
        "metadata, hit_count, last_used_at FROM alias_tombstones WHERE alias_name = ?",
        (collection, alias),
    )
    if not restored.rowcount:
        return False
    conn.execute("DELETE FROM alias_tombstones WHERE alias_name = ?", (alias,))
    return True


def _open_error(path: Path, exc: sqlite3.DatabaseError) -> RegistryError:
    """One sentence for a registry that cannot be opened: damaged, or not writable."""
    if path.is_dir():
        return RegistryError(
            f"{path} is a folder where wqm keeps its registry file; move it away and retry."
        )
    if isinstance(exc, sqlite3.OperationalError):
        # SQLite says "unable to open database file" on a read-only file system (WAL needs
        # its -shm file) and "disk I/O error" on a full disk: name the cause instead.
        trouble = disk_trouble(path.parent)
        if trouble is not None:
            return RegistryError(f"Cannot open the registry {path}: {trouble}; {way_out(trouble)}.")
        return RegistryError(
            f"Cannot open the registry {path} ({exc}); check the file's and its folder's "
            "permissions and free space."
        )
    return _damaged(path, exc)


def _damaged(path: Path, exc: sqlite3.Error) -> RegistryDamaged:
    return RegistryDamaged(
        f"The registry {path} is damaged ({exc}); `wqm project doctor --fix` moves it aside "
        "and rebuilds it from Qdrant, which holds every name."
    )


def _is_damage(exc: sqlite3.Error) -> bool:
    """SQLite found the file damaged (a bad page, not a database), not merely busy or full."""
    name = str(getattr(exc, "sqlite_errorname", ""))
    return name.startswith(("SQLITE_CORRUPT", "SQLITE_NOTADB"))


def _roll_back(conn: sqlite3.Connection) -> None:
    """Roll back if a transaction is open; a failing rollback (a damaged file) must not mask why."""
    if conn.in_transaction:
        with contextlib.suppress(sqlite3.Error):
            conn.execute("ROLLBACK")


def _bump_generation(conn: sqlite3.Connection) -> None:
    """Tell every process's alias cache that the alias table changed (same transaction)."""
    conn.execute(
        "UPDATE registry_meta SET value = CAST(value AS INTEGER) + 1 "
        "WHERE key = 'alias_generation'"
    )


def _insert_events(
    conn: sqlite3.Connection,
    at: str,
    events: Sequence[tuple[str, str, str | None, str | None]],
    actor: str,
    reason: str | None,
    change_id: int | None,
) -> None:
    """Append (action, alias, before, after) rows to the audit log."""
    conn.executemany(
        "INSERT INTO alias_events(at, action, alias_name, before, after, actor, reason, pid, "
        "change_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [(at, action, alias, before, after, actor, reason, os.getpid(), change_id)
         for action, alias, before, after in events],
    )


def _dump(value: dict[str, Any] | None) -> str | None:
    return None if value is None else json.dumps(value, sort_keys=True)


def load_json(text: str | None) -> Any:
    """Parse a JSON column, tolerating NULL."""
    return None if text is None else json.loads(text)


def _change(row: sqlite3.Row) -> ChangeRecord:
    return ChangeRecord(
        id=row["id"],
        created_at=row["created_at"],
        finished_at=row["finished_at"],
        status=row["status"],
        kind=row["kind"],
        operations=json.loads(row["operations"]),
        actor=row["actor"],
        reason=row["reason"],
        metadata=load_json(row["metadata"]),
        pid=row["pid"],
        undo_of=row["undo_of"],
        undone_by=row["undone_by"],
        request_id=row["request_id"],
    )
