"""The registry's schema: numbered migrations, applied in order, never edited once released.

Each migration is a function of a connection inside the one ``BEGIN
IMMEDIATE`` transaction that ``SQLiteStateManager`` opens, so a migration
applies whole or not at all.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

_BASE_SCHEMA: list[str] = [
    """
    CREATE TABLE registry_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)
    """,
    """
    INSERT INTO registry_meta(key, value) VALUES ('alias_generation', '0')
    """,
    """
    CREATE TABLE alias_changes (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                created_at TEXT NOT NULL,
                finished_at TEXT,
                status TEXT NOT NULL CHECK (status IN ('pending', 'done', 'abandoned', 'rolled_back')),
                kind TEXT NOT NULL,
                operations TEXT NOT NULL,
                actor TEXT NOT NULL,
                reason TEXT,
                metadata TEXT,
                pid INTEGER NOT NULL,
                undo_of INTEGER REFERENCES alias_changes(id),
                undone_by INTEGER REFERENCES alias_changes(id)
            )
    """,
    """
    CREATE INDEX idx_alias_changes_status ON alias_changes(status)
    """,
    """
    CREATE TABLE alias_events (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                at TEXT NOT NULL,
                action TEXT NOT NULL,
                alias_name TEXT NOT NULL,
                before TEXT,
                after TEXT,
                actor TEXT NOT NULL,
                reason TEXT,
                pid INTEGER NOT NULL,
                change_id INTEGER REFERENCES alias_changes(id)
            )
    """,
    """
    CREATE INDEX idx_alias_events_alias ON alias_events(alias_name)
    """,
    """
    CREATE TRIGGER alias_events_append_only_update BEFORE UPDATE ON alias_events
                BEGIN SELECT RAISE(ABORT, 'alias_events is append-only'); END
    """,
    """
    CREATE TRIGGER alias_events_append_only_delete BEFORE DELETE ON alias_events
                BEGIN SELECT RAISE(ABORT, 'alias_events is append-only'); END
    """,
    """
    CREATE TABLE projects (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                physical_collection TEXT NOT NULL UNIQUE,
                root_path TEXT NOT NULL,
                canonical_remote TEXT,
                path_name TEXT,
                remote_name TEXT,
                created_at TEXT NOT NULL,
                updated_at TEXT NOT NULL
            )
    """,
    """
    CREATE INDEX idx_projects_root ON projects(root_path)
    """,
    """
    CREATE TABLE project_names (
                name TEXT PRIMARY KEY,
                project_id INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
                kind TEXT NOT NULL CHECK (kind IN ('path', 'remote', 'other')),
                canonical_remote TEXT,
                root_path TEXT,
                added_at TEXT NOT NULL
            )
    """,
    """
    CREATE INDEX idx_project_names_project ON project_names(project_id)
    """,
]


def _migration_1(conn: sqlite3.Connection) -> None:
    """Base schema; adopts a seed-era ``collection_aliases`` table by adding the usage columns."""
    existing = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    if "collection_aliases" in existing:
        columns = {row[1] for row in conn.execute("PRAGMA table_info(collection_aliases)")}
        if "hit_count" not in columns:
            conn.execute(
                "ALTER TABLE collection_aliases ADD COLUMN hit_count INTEGER NOT NULL DEFAULT 0"
            )
        if "last_used_at" not in columns:
            conn.execute("ALTER TABLE collection_aliases ADD COLUMN last_used_at TEXT")
    else:
        conn.execute(
            """CREATE TABLE collection_aliases (
                alias_name TEXT PRIMARY KEY,
                collection_name TEXT NOT NULL,
                created_at TEXT NOT NULL,
                created_by TEXT NOT NULL DEFAULT 'system',
                metadata TEXT,
                hit_count INTEGER NOT NULL DEFAULT 0,
                last_used_at TEXT
            )"""
        )
    conn.execute(
        "CREATE INDEX IF NOT EXISTS idx_collection_aliases_collection "
        "ON collection_aliases(collection_name)"
    )
    for statement in _BASE_SCHEMA:
        conn.execute(statement)


def _migration_2(conn: sqlite3.Connection) -> None:
    """Request ids on changes, tombstones of removed aliases, projects' root commits.

    A client chooses a request id before it sends a write; the change records it,
    so a client whose connection broke can ask whether its change was applied.
    A removed alias keeps its row as a tombstone, so an undo restores its
    metadata and usage instead of starting them over. A project records the root
    commit(s) of its repository: what survives a move and what a different
    repository at the same path does not share.
    """
    conn.execute("ALTER TABLE alias_changes ADD COLUMN request_id TEXT")
    conn.execute("CREATE INDEX idx_alias_changes_request ON alias_changes(request_id)")
    conn.execute(
        """CREATE TABLE alias_tombstones (
            alias_name TEXT PRIMARY KEY,
            collection_name TEXT NOT NULL,
            created_at TEXT NOT NULL,
            created_by TEXT NOT NULL,
            metadata TEXT,
            hit_count INTEGER NOT NULL DEFAULT 0,
            last_used_at TEXT,
            removed_at TEXT NOT NULL
        )"""
    )
    conn.execute("ALTER TABLE projects ADD COLUMN root_commits TEXT")


def _migration_usage_per_day(conn: sqlite3.Connection) -> None:
    """Hits per alias and UTC day, so usage can be shown over time (the dashboard's chart).

    ``collection_aliases`` keeps only a running total and the last use; a row per
    (name, day) is small (names x days used) and answers "when was this name used".
    """
    conn.execute(
        """CREATE TABLE alias_usage_daily (
            alias_name TEXT NOT NULL,
            day TEXT NOT NULL,
            hits INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (alias_name, day)
        ) WITHOUT ROWID"""
    )
    conn.execute("CREATE INDEX idx_alias_usage_daily_day ON alias_usage_daily(day)")


def _migration_4(conn: sqlite3.Connection) -> None:
    """Collections with their recipe and state, the files each checkout indexed, watching.

    ``collections`` records the recipe that built each physical collection and
    whether it is live, being built (a reindex) or retired (kept for undo).
    ``indexed_files`` is each checkout's view of what it indexed (content hash,
    size and mtime): a file whose size and mtime did not change is not read
    again, a search can tell cheaply whether a result's file changed since, and
    two clones sharing a remote-based name never delete each other's files.
    Qdrant stays the truth about which points exist; this is a cache of hashes.
    """
    conn.execute(
        """CREATE TABLE collections (
            physical TEXT PRIMARY KEY,
            recipe TEXT NOT NULL,
            recipe_id TEXT NOT NULL,
            state TEXT NOT NULL CHECK (state IN ('live', 'building', 'retired')),
            project_id INTEGER,
            created_at TEXT NOT NULL,
            retired_at TEXT,
            replaced_by TEXT
        )"""
    )
    conn.execute(
        """CREATE TABLE indexed_files (
            physical TEXT NOT NULL,
            checkout TEXT NOT NULL,
            path TEXT NOT NULL,
            content_hash TEXT NOT NULL,
            size INTEGER NOT NULL,
            mtime_ns INTEGER NOT NULL,
            chunks INTEGER NOT NULL,
            indexed_at TEXT NOT NULL,
            PRIMARY KEY (physical, checkout, path)
        ) WITHOUT ROWID"""
    )
    conn.execute("ALTER TABLE projects ADD COLUMN watch INTEGER NOT NULL DEFAULT 1")
    conn.execute("ALTER TABLE projects ADD COLUMN last_sync_at TEXT")


#: Ordered, numbered migrations. Append only; never edit a released one.
MIGRATIONS: list[tuple[int, str, Callable[[sqlite3.Connection], None]]] = [
    (1, "base schema: aliases with usage, audit log, intents, projects", _migration_1),
    (2, "request ids, alias tombstones, projects' root commits", _migration_2),
    (3, "usage per alias and day", _migration_usage_per_day),
    (4, "collections with recipes, files indexed per checkout, watching", _migration_4),
]
SCHEMA_VERSION = MIGRATIONS[-1][0]
