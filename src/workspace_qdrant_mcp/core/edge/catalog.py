"""The Edge store's routing truth: which collections exist, where their shards live, the aliases.

qdrant-edge knows one shard per directory and nothing about names, so the
adapter keeps the catalog itself, in SQLite (WAL, ``synchronous=FULL``): a
collection row maps a name to an opaque shard folder (``shards/<16 hex>``) and
its vector configuration; an alias row maps an alias to a collection. Every
change the adapter makes is ONE transaction (a whole alias batch, a collection
with the aliases it drops), so a crash at any instant leaves either the old
table or the new one, never a mix. A shard folder is created *before* its row
commits and removed *after* its row is deleted, so the only debris a crash can
leave is a folder no row names, which ``EdgeClient`` removes at open.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import StoreError

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS collections (
    name TEXT PRIMARY KEY,
    shard_dir TEXT NOT NULL UNIQUE,
    config TEXT NOT NULL,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS aliases (
    alias TEXT PRIMARY KEY,
    collection TEXT NOT NULL REFERENCES collections(name)
);
"""

SCHEMA_VERSION = 1


@dataclass(frozen=True)
class CatalogEntry:
    """One physical collection: its name, shard folder (relative to the store) and config."""

    name: str
    shard_dir: str
    config: dict[str, Any]


class Catalog:
    """SQLite file holding collections and aliases; callers serialise writes (one lock)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self._db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(_SCHEMA)
            row = self._db.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
            if row is None:
                self._db.execute(
                    "INSERT INTO meta(key, value) VALUES ('schema', ?)", (str(SCHEMA_VERSION),)
                )
            elif int(row[0]) > SCHEMA_VERSION:
                raise StoreError(
                    f"The Edge store catalog {path} was written by a newer wqm; upgrade wqm."
                )
        except sqlite3.Error as exc:
            raise StoreError(f"Cannot open the Edge store catalog {path}: {exc}") from None

    def close(self) -> None:
        """Close the database file."""
        self._db.close()

    def load(self) -> tuple[dict[str, CatalogEntry], dict[str, str]]:
        """All collections (name -> entry) and aliases (alias -> collection)."""
        collections = {
            name: CatalogEntry(name, shard_dir, json.loads(config))
            for name, shard_dir, config in self._db.execute(
                "SELECT name, shard_dir, config FROM collections"
            )
        }
        aliases = {
            alias: target
            for alias, target in self._db.execute("SELECT alias, collection FROM aliases")
        }
        return collections, aliases

    def add_collection(self, entry: CatalogEntry) -> None:
        """Commit a new collection (its shard folder already exists)."""
        with self._transaction():
            self._db.execute(
                "INSERT INTO collections(name, shard_dir, config, created_at) VALUES (?, ?, ?, ?)",
                (entry.name, entry.shard_dir, json.dumps(entry.config), time.time()),
            )

    def move_collection(self, name: str, shard_dir: str) -> None:
        """Point a collection at another shard folder (an optimised copy) in one commit."""
        with self._transaction():
            self._db.execute("UPDATE collections SET shard_dir=? WHERE name=?", (shard_dir, name))

    def drop_collection(self, name: str) -> None:
        """Delete a collection and every alias reaching it, in one commit."""
        with self._transaction():
            self._db.execute("DELETE FROM aliases WHERE collection=?", (name,))
            self._db.execute("DELETE FROM collections WHERE name=?", (name,))

    def write_aliases(self, before: Mapping[str, str], after: Mapping[str, str]) -> None:
        """Turn the alias table ``before`` into ``after`` in one commit (only the rows that differ)."""
        with self._transaction():
            for alias in before.keys() - after.keys():
                self._db.execute("DELETE FROM aliases WHERE alias=?", (alias,))
            for alias, target in after.items():
                if before.get(alias) != target:
                    self._db.execute(
                        "INSERT OR REPLACE INTO aliases(alias, collection) VALUES (?, ?)",
                        (alias, target),
                    )

    def _transaction(self) -> _Transaction:
        return _Transaction(self._db, self.path)


class _Transaction:
    """BEGIN IMMEDIATE ... COMMIT, rolled back on any error, sqlite errors made StoreErrors."""

    def __init__(self, db: sqlite3.Connection, path: Path) -> None:
        self._db = db
        self._path = path

    def __enter__(self) -> None:
        try:
            self._db.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise StoreError(f"Cannot write the Edge store catalog {self._path}: {exc}") from None

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is None:
            try:
                self._db.execute("COMMIT")
                return
            except sqlite3.Error as err:
                self._db.execute("ROLLBACK")
                raise StoreError(
                    f"Cannot write the Edge store catalog {self._path}: {err}"
                ) from None
        self._db.execute("ROLLBACK")
        if isinstance(exc, sqlite3.Error):
            raise StoreError(f"Cannot write the Edge store catalog {self._path}: {exc}") from None
