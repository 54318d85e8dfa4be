"""The registry's record of indexes: each collection's recipe and state, each checkout's files.

Kept apart from the alias bookkeeping in ``state.py`` (same SQLite file, same
transactions) because it answers other questions: which recipe built a
collection, is it live, being built or retired, and what did each checkout of
a project index (path -> content hash, size, mtime). Qdrant remains the truth
about which points exist; ``indexed_files`` is a cache that spares reading and
hashing unchanged files, lets a search tell cheaply that a result's file
changed, and keeps two checkouts sharing one collection from deleting each
other's files.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass

from .recipe import IndexRecipe
from .state import SQLiteStateManager, load_json, utc_now

LIVE, BUILDING, RETIRED = "live", "building", "retired"


@dataclass(frozen=True)
class CollectionRecord:
    """A physical collection: the recipe that built it and where it is in its life."""

    physical: str
    recipe: IndexRecipe | None
    state: str
    project_id: int | None
    created_at: str
    retired_at: str | None
    replaced_by: str | None


@dataclass(frozen=True)
class FileState:
    """What one checkout indexed of one file."""

    path: str
    content_hash: str
    size: int
    mtime_ns: int
    chunks: int
    indexed_at: str


class IndexRegistry:
    """Reads and writes of the ``collections`` and ``indexed_files`` tables."""

    def __init__(self, state: SQLiteStateManager) -> None:
        self.state = state

    # -- collections ------------------------------------------------------------------------

    def record_collection(
        self, physical: str, recipe: IndexRecipe, state: str, project_id: int | None
    ) -> None:
        """Record (or update) a collection's recipe and state."""
        with self.state.transaction() as conn:
            conn.execute(
                "INSERT INTO collections(physical, recipe, recipe_id, state, project_id, "
                "created_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(physical) DO UPDATE SET "
                "recipe = excluded.recipe, recipe_id = excluded.recipe_id, "
                "state = excluded.state, project_id = COALESCE(excluded.project_id, project_id)",
                (physical, json.dumps(recipe.to_dict(), sort_keys=True), recipe.id, state,
                 project_id, utc_now()),
            )

    def collection(self, physical: str) -> CollectionRecord | None:
        """The record of ``physical``, or None (a collection made before recipes were kept)."""
        row = self.state.query_one("SELECT * FROM collections WHERE physical = ?", (physical,))
        return _collection(row) if row else None

    def collections(self, state: str | None = None) -> list[CollectionRecord]:
        """Every recorded collection (optionally in one state), oldest first."""
        if state is None:
            rows = self.state.query("SELECT * FROM collections ORDER BY created_at")
        else:
            rows = self.state.query(
                "SELECT * FROM collections WHERE state = ? ORDER BY created_at", (state,))
        return [_collection(row) for row in rows]

    def set_state(self, physical: str, state: str, replaced_by: str | None = None) -> None:
        """Move a collection to ``state`` (retiring stamps the time and its successor)."""
        with self.state.transaction() as conn:
            conn.execute(
                "UPDATE collections SET state = ?, replaced_by = COALESCE(?, replaced_by), "
                "retired_at = CASE WHEN ? = 'retired' THEN ? ELSE NULL END WHERE physical = ?",
                (state, replaced_by, state, utc_now(), physical),
            )

    def replace(self, old: str, new: str) -> None:
        """A rebuild's switch moved every name from ``old`` to ``new``: record it, at once.

        One transaction: ``new`` is live, ``old`` retired (stamped once), and the
        project's record follows the names. Idempotent, so a switch whose
        bookkeeping a crash cut short is finished by whoever sees it first. A
        record made meanwhile for ``new`` alone (a writer that found the names on
        ``new`` before this ran) gives way to the project's own record, which
        carries its names, its watching and its history.
        """
        now = utc_now()
        with self.state.transaction() as conn:
            conn.execute("UPDATE collections SET state = ?, retired_at = NULL WHERE physical = ?",
                         (LIVE, new))
            conn.execute(
                "UPDATE collections SET state = ?, replaced_by = ?, retired_at = ? "
                "WHERE physical = ? AND state != ?", (RETIRED, new, now, old, RETIRED))
            if conn.execute("SELECT 1 FROM projects WHERE physical_collection = ?",
                            (old,)).fetchone():
                conn.execute("DELETE FROM projects WHERE physical_collection = ?", (new,))
                conn.execute("UPDATE projects SET physical_collection = ?, updated_at = ? "
                             "WHERE physical_collection = ?", (new, now, old))

    def finish_switch(self, new: str, reached: Collection[str]) -> str | None:
        """If ``new`` (reached by a name) was built to replace a collection no name reaches any
        more, record the switch (``replace``); returns the collection replaced, else None."""
        record = self.collection(new)
        if record is None or record.project_id is None:
            return None
        owner = self.state.query_one(
            "SELECT physical_collection FROM projects WHERE id = ?", (record.project_id,))
        if owner is None:
            return None
        old = str(owner["physical_collection"])
        if old == new or old in reached:
            return None
        self.replace(old, new)
        return old

    def forget_collection(self, physical: str) -> None:
        """Drop a collection's record and its files (the collection itself is deleted apart)."""
        with self.state.transaction() as conn:
            conn.execute("DELETE FROM indexed_files WHERE physical = ?", (physical,))
            conn.execute("DELETE FROM collections WHERE physical = ?", (physical,))

    # -- files ------------------------------------------------------------------------------

    def files(self, physical: str, checkout: str) -> dict[str, FileState]:
        """What ``checkout`` indexed into ``physical``: path -> state."""
        rows = self.state.query(
            "SELECT path, content_hash, size, mtime_ns, chunks, indexed_at FROM indexed_files "
            "WHERE physical = ? AND checkout = ?",
            (physical, checkout),
        )
        return {row["path"]: FileState(**dict(row)) for row in rows}

    def file_states(self, physical: str, checkout: str, paths: Sequence[str]
                    ) -> dict[str, FileState]:
        """The states of some paths (a search's results) of one checkout."""
        found: dict[str, FileState] = {}
        for start in range(0, len(paths), 500):
            part = list(paths[start:start + 500])
            marks = ",".join("?" * len(part))
            rows = self.state.query(
                "SELECT path, content_hash, size, mtime_ns, chunks, indexed_at FROM indexed_files "
                f"WHERE physical = ? AND checkout = ? AND path IN ({marks})",
                (physical, checkout, *part),
            )
            found.update({row["path"]: FileState(**dict(row)) for row in rows})
        return found

    def wanted_elsewhere(self, physical: str, checkout: str) -> set[tuple[str, str]]:
        """(path, content hash) pairs other live checkouts of ``physical`` indexed."""
        rows = self.state.query(
            "SELECT DISTINCT path, content_hash FROM indexed_files "
            "WHERE physical = ? AND checkout != ?",
            (physical, checkout),
        )
        return {(row["path"], row["content_hash"]) for row in rows}

    def checkouts(self, physical: str) -> list[str]:
        """The checkouts that indexed into ``physical``."""
        rows = self.state.query(
            "SELECT DISTINCT checkout FROM indexed_files WHERE physical = ?", (physical,))
        return [row["checkout"] for row in rows]

    def put_files(self, physical: str, checkout: str, states: Iterable[FileState]) -> None:
        """Record files as indexed (one transaction)."""
        rows = [(physical, checkout, f.path, f.content_hash, f.size, f.mtime_ns, f.chunks,
                 f.indexed_at) for f in states]
        if not rows:
            return
        with self.state.transaction() as conn:
            conn.executemany(
                "INSERT OR REPLACE INTO indexed_files(physical, checkout, path, content_hash, "
                "size, mtime_ns, chunks, indexed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )

    def drop_files(self, physical: str, checkout: str, paths: Iterable[str]) -> None:
        """Forget files of one checkout (deleted, ignored, or no longer indexable)."""
        rows = [(physical, checkout, path) for path in paths]
        if not rows:
            return
        with self.state.transaction() as conn:
            conn.executemany(
                "DELETE FROM indexed_files WHERE physical = ? AND checkout = ? AND path = ?", rows)

    def drop_checkout(self, physical: str, checkout: str) -> None:
        """Forget everything one checkout indexed (it moved, or its folder is gone)."""
        with self.state.transaction() as conn:
            conn.execute("DELETE FROM indexed_files WHERE physical = ? AND checkout = ?",
                         (physical, checkout))

    def move_checkout(self, physical: str, old: str, new: str) -> None:
        """A checkout moved: its files now belong to its new root."""
        with self.state.transaction() as conn:
            conn.execute("DELETE FROM indexed_files WHERE physical = ? AND checkout = ?",
                         (physical, new))
            conn.execute(
                "UPDATE indexed_files SET checkout = ? WHERE physical = ? AND checkout = ?",
                (new, physical, old))

    def copy_files(self, source: str, target: str) -> None:
        """Give a rebuilt collection the file records of the one it replaces."""
        with self.state.transaction() as conn:
            conn.execute("DELETE FROM indexed_files WHERE physical = ?", (target,))
            conn.execute(
                "INSERT INTO indexed_files(physical, checkout, path, content_hash, size, "
                "mtime_ns, chunks, indexed_at) SELECT ?, checkout, path, content_hash, size, "
                "mtime_ns, chunks, indexed_at FROM indexed_files WHERE physical = ?",
                (target, source))


def _collection(row: object) -> CollectionRecord:
    data = dict(row)  # type: ignore[call-overload]
    recipe = load_json(data["recipe"])
    return CollectionRecord(
        physical=data["physical"],
        recipe=IndexRecipe.from_dict(recipe) if recipe else None,
        state=data["state"],
        project_id=data["project_id"],
        created_at=data["created_at"],
        retired_at=data["retired_at"],
        replaced_by=data["replaced_by"],
    )


__all__ = ["BUILDING", "LIVE", "RETIRED", "CollectionRecord", "FileState", "IndexRegistry"]
