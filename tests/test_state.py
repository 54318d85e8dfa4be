"""The SQLite registry (core/state.py): pragmas, schema, migrations, append-only audit log.

Every test opens a real registry file under tmp_path; no Qdrant is needed here.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from qdrant_client import QdrantClient

from workspace_qdrant_mcp.core.collection_aliases import AliasManager
from workspace_qdrant_mcp.core.errors import RegistryError, SchemaTooNew
from workspace_qdrant_mcp.core.state import MIGRATIONS, SCHEMA_VERSION, SQLiteStateManager


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    """Where the registry file lives (not created yet)."""
    return tmp_path / "data" / "registry.db"


@pytest.fixture
def state(db_path: Path) -> Iterator[SQLiteStateManager]:
    """An opened registry on a fresh file, closed at teardown."""
    manager = SQLiteStateManager(db_path)
    manager.initialize_sync()
    yield manager
    manager.close()


def columns(conn: sqlite3.Connection, table: str) -> dict[str, sqlite3.Row]:
    """Column name -> PRAGMA table_info row."""
    return {row[1]: row for row in conn.execute(f"PRAGMA table_info({table})")}


def raw(db_path: Path) -> sqlite3.Connection:
    """A second, independent connection to the file (what another process would see)."""
    return sqlite3.connect(str(db_path))


# --------------------------------------------------------------------------- pragmas


def test_registry_file_is_in_wal_mode(state: SQLiteStateManager, db_path: Path) -> None:
    assert db_path.exists()
    with raw(db_path) as conn:  # journal_mode=WAL is persistent: another connection sees it
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_connection_has_busy_timeout_and_foreign_keys(state: SQLiteStateManager) -> None:
    conn = state.connection
    assert conn.execute("PRAGMA busy_timeout").fetchone()[0] >= 1000
    assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1


def test_foreign_keys_are_enforced(state: SQLiteStateManager) -> None:
    with pytest.raises(sqlite3.IntegrityError, match="FOREIGN KEY"):
        state.connection.execute(
            "INSERT INTO project_names(name, project_id, kind, added_at) "
            "VALUES ('_path_000000000000', 4242, 'path', 'now')"
        )


# --------------------------------------------------------------------------- schema


def test_schema_version_table_records_current_version(
    state: SQLiteStateManager, db_path: Path
) -> None:
    assert state.schema_version() == SCHEMA_VERSION
    with raw(db_path) as conn:
        rows = conn.execute("SELECT version, name, applied_at FROM schema_version").fetchall()
    assert [r[0] for r in rows] == [version for version, _, _ in MIGRATIONS]
    assert all(r[1] and r[2] for r in rows)


def test_reopening_does_not_migrate_twice(state: SQLiteStateManager, db_path: Path) -> None:
    state.close()
    again = SQLiteStateManager(db_path)
    again.initialize_sync()
    again.initialize_sync()  # idempotent on an open manager too
    try:
        count = again.connection.execute("SELECT COUNT(*) FROM schema_version").fetchone()[0]
        assert count == len(MIGRATIONS)
    finally:
        again.close()


@pytest.mark.parametrize(
    ("table", "required"),
    [
        (
            "collection_aliases",
            {
                "alias_name",
                "collection_name",
                "created_at",
                "created_by",
                "metadata",
                "hit_count",
                "last_used_at",
            },
        ),
        (
            "alias_events",
            {"at", "action", "alias_name", "before", "after", "actor", "reason", "pid"},
        ),
        (
            "projects",
            {"physical_collection", "root_path", "canonical_remote", "path_name", "remote_name"},
        ),
        ("schema_version", {"version", "name", "applied_at"}),
    ],
)
def test_table_has_the_columns_the_issue_lists(
    state: SQLiteStateManager, table: str, required: set[str]
) -> None:
    found = columns(state.connection, table)
    assert required <= set(found), f"{table} lacks {sorted(required - set(found))}"


def test_alias_name_is_the_primary_key(state: SQLiteStateManager) -> None:
    cols = columns(state.connection, "collection_aliases")
    assert cols["alias_name"]["pk"] == 1
    assert cols["hit_count"]["dflt_value"] == "0"


# --------------------------------------------------------------------------- migrations


#: What the seed left: a bare ``collection_aliases`` table, no ``schema_version``.
SEED_SCHEMAS = {
    "minimal": [
        (
            "CREATE TABLE collection_aliases (alias_name TEXT PRIMARY KEY, collection_name TEXT, "
            "created_at TEXT, created_by TEXT, metadata TEXT)"
        ),
    ],
    "seed-ddl": [  # the seed's AliasManager._create_aliases_table, verbatim
        """CREATE TABLE IF NOT EXISTS collection_aliases (
            alias_name TEXT PRIMARY KEY,
            collection_name TEXT NOT NULL,
            created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
            created_by TEXT NOT NULL DEFAULT 'system',
            metadata TEXT,
            UNIQUE(alias_name)
        )""",
        (
            "CREATE INDEX IF NOT EXISTS idx_collection_aliases_collection "
            "ON collection_aliases(collection_name)"
        ),
        (
            "CREATE INDEX IF NOT EXISTS idx_collection_aliases_created_at "
            "ON collection_aliases(created_at)"
        ),
    ],
}


@pytest.mark.parametrize("seed", sorted(SEED_SCHEMAS))
@pytest.mark.parametrize(
    "created_at",
    ["2024-01-02T03:04:05.123456+00:00", "2024-01-02 03:04:05"],  # isoformat(), CURRENT_TIMESTAMP
)
def test_seed_era_database_is_upgraded_and_keeps_its_rows(
    db_path: Path, seed: str, created_at: str
) -> None:
    db_path.parent.mkdir(parents=True)
    with raw(db_path) as conn:
        for statement in SEED_SCHEMAS[seed]:
            conn.execute(statement)
        conn.execute(
            "INSERT INTO collection_aliases VALUES (?, ?, ?, ?, ?)",
            (
                "_path_abc123def456",
                "_github_com_user_repo",
                created_at,
                "migration",
                '{"reason": "remote added"}',
            ),
        )
    state = SQLiteStateManager(db_path)
    state.initialize_sync()
    try:
        assert state.schema_version() == SCHEMA_VERSION
        row = state.alias_row("_path_abc123def456")
        assert row is not None
        assert dict(row) == {
            "alias_name": "_path_abc123def456",
            "collection_name": "_github_com_user_repo",
            "created_at": created_at,
            "created_by": "migration",
            "metadata": '{"reason": "remote added"}',
            "hit_count": 0,
            "last_used_at": None,
        }
        for table in ("alias_events", "alias_changes", "projects", "project_names"):
            assert columns(state.connection, table), f"{table} was not created"
        assert state.connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"

        # the upgraded table serves the alias API (real in-memory Qdrant; no Qdrant call here)
        manager = AliasManager(QdrantClient(location=":memory:"), state)
        [alias] = manager.list_aliases_sync()
        assert alias.alias_name == "_path_abc123def456"
        assert alias.created_at is not None and alias.created_at.year == 2024
        # naive seed times (SQLite CURRENT_TIMESTAMP is UTC) come back as aware UTC, like ours
        assert (
            alias.created_at.tzinfo is not None
            and alias.created_at.utcoffset().total_seconds() == 0
        )
        assert alias.metadata == {"reason": "remote added"}
        assert manager.resolve_sync("_path_abc123def456") == "_github_com_user_repo"
        state.record_use("_path_abc123def456")
        state.flush_usage()
        assert state.alias_row("_path_abc123def456")["hit_count"] == 1
    finally:
        state.close()


def test_newer_database_is_refused_clearly_and_left_untouched(db_path: Path) -> None:
    db_path.parent.mkdir(parents=True)
    with raw(db_path) as conn:
        conn.execute(
            "CREATE TABLE schema_version (version INTEGER NOT NULL, name TEXT NOT NULL, "
            "applied_at TEXT NOT NULL)"
        )
        conn.execute("INSERT INTO schema_version VALUES (999, 'from the future', 'later')")
    state = SQLiteStateManager(db_path)
    with pytest.raises(SchemaTooNew) as info:
        state.initialize_sync()
    message = str(info.value)
    assert "999" in message and str(SCHEMA_VERSION) in message
    assert "newer" in message and "upgrade wqm" in message
    assert isinstance(info.value, RegistryError)
    with raw(db_path) as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert tables == {"schema_version"}
        assert conn.execute("SELECT version FROM schema_version").fetchall() == [(999,)]
    with pytest.raises(SchemaTooNew):  # still refused on the next attempt, not half-opened
        _ = state.connection


# --------------------------------------------------------------------------- audit log


@pytest.fixture
def one_event(state: SQLiteStateManager) -> SQLiteStateManager:
    """A registry whose audit log holds one event."""
    state.append_events([("create", "name_a", None, "wqm_0000000000000000")], "tests", "setup")
    assert len(state.events()) == 1
    return state


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE alias_events SET after = 'elsewhere'",
        "UPDATE alias_events SET actor = 'someone else' WHERE id = 1",
        "DELETE FROM alias_events",
        "DELETE FROM alias_events WHERE id = 1",
    ],
)
def test_audit_log_is_append_only(one_event: SQLiteStateManager, statement: str) -> None:
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        one_event.connection.execute(statement)
    [event] = one_event.events()
    assert (event.action, event.alias_name, event.after, event.actor) == (
        "create",
        "name_a",
        "wqm_0000000000000000",
        "tests",
    )


def test_audit_event_records_time_actor_reason_and_pid(one_event: SQLiteStateManager) -> None:
    import os

    [event] = one_event.events("name_a")
    assert event.at and event.actor == "tests" and event.reason == "setup"
    assert event.pid == os.getpid()
    assert one_event.events("some_other_name") == []


# --------------------------------------------------------------------------- intents


def test_change_lifecycle_pending_then_done(state: SQLiteStateManager) -> None:
    ops = [{"alias": "a1", "before": None, "after": "wqm_0000000000000001"}]
    generation = state.alias_generation()
    change_id = state.begin_change("alias", ops, "tests", "why", None)
    assert [c.id for c in state.pending_changes()] == [change_id]
    state.complete_change(
        change_id,
        [("a1", "wqm_0000000000000001", "2024-01-01T00:00:00", "tests", {"k": 1})],
        [("create", "a1", None, "wqm_0000000000000001")],
        actor="tests",
        reason="why",
    )
    assert state.pending_changes() == []
    change = state.get_change(change_id)
    assert change is not None and change.status == "done" and change.operations == ops
    assert state.alias_row("a1")["collection_name"] == "wqm_0000000000000001"
    assert state.alias_generation() == generation + 1
    # completing twice is a no-op: one row, one event
    state.complete_change(
        change_id, [], [("create", "a1", None, "wqm_0000000000000001")], actor="t", reason=None
    )
    assert len(state.events("a1")) == 1


def test_usage_counts_are_buffered_then_flushed(state: SQLiteStateManager) -> None:
    state.upsert_alias_row("a1", "wqm_0000000000000001", "tests", None)
    for _ in range(3):
        state.record_use("a1")
    assert state.alias_row("a1")["hit_count"] == 0
    state.flush_usage()
    row = state.alias_row("a1")
    assert row is not None and row["hit_count"] == 3 and row["last_used_at"]
