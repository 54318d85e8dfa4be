"""The embedded engine of a workspace behind one object that can change engines in one step.

Every caller keeps this object as "the client" (the alias manager holds it,
operations fetch it from the workspace), so an engine move replaces what is
behind it, never what callers hold. Each call is forwarded to the current
engine under the client's call lock (``store.client_lock``), the lock every
wqm call already takes because local mode is not thread-safe. Hence:

- a swap made under that lock is atomic for every caller: a call runs wholly
  on the old engine or wholly on the new one, and nothing is in flight on the
  old engine once the swap returns;
- during a move, each write that succeeded is appended to a journal in the
  order it was applied (under the same lock), so the mover can replay it on the
  copy;
- after a move, the first write marks the kept store as stale
  (``on_first_write``), so a switch back knows it needs a fresh copy.

The object offers whatever the engine offers (``__getattr__``); it is typed as
a ``QdrantClient`` by the code that opens it, as ``EdgeClient`` is.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from . import store

#: qdrant-client methods that change a store: journaled during a move, and the ones
#: that make a kept store stale afterwards. Everything else is a read.
WRITE_METHODS = frozenset({
    "upsert", "delete", "set_payload", "overwrite_payload", "delete_payload", "clear_payload",
    "update_vectors", "delete_vectors", "batch_update_points", "upload_points",
    "upload_collection", "upload_records", "create_collection", "recreate_collection",
    "delete_collection", "update_collection", "create_payload_index", "delete_payload_index",
    "update_collection_aliases",
})

#: One journaled write: method name, positional and keyword arguments.
JournalEntry = tuple[str, tuple[Any, ...], dict[str, Any]]


class SwitchableEngine:
    """Forwards calls to the current engine; swaps engines and journals writes for a move."""

    def __init__(
        self, target: Any, engine: str, on_first_write: Callable[[], None] | None = None
    ) -> None:
        self._target = target
        self._engine = engine
        self._on_first_write = on_first_write
        self._journal: list[JournalEntry] | None = None

    # -- what is behind ----------------------------------------------------------------------

    @property
    def target(self) -> Any:
        """The engine client calls go to now (callers hold ``lock`` while they use it)."""
        return self._target

    @property
    def engine(self) -> str:
        """``local`` or ``edge``."""
        return self._engine

    @property
    def lock(self) -> threading.RLock:
        """The call lock (the same object as ``store.client_lock(self)``)."""
        return store.client_lock(self)  # type: ignore[arg-type]

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        attr = getattr(self._target, name)
        if not callable(attr):
            return attr
        write = name in WRITE_METHODS

        def forward(*args: Any, **kwargs: Any) -> Any:
            with self.lock:
                if write and self._on_first_write is not None:
                    self._on_first_write()
                    self._on_first_write = None
                result = getattr(self._target, name)(*args, **kwargs)
                if write and self._journal is not None:
                    self._journal.append((name, args, dict(kwargs)))
                return result

        forward.__name__ = name
        return forward

    def close(self, **kwargs: Any) -> None:
        """Close the current engine."""
        with self.lock:
            self._target.close(**kwargs)

    # -- used by an engine move (core.engine_copy, workspace.engine_move) ---------------------

    def start_journal(self) -> None:
        """Record every write from now on."""
        with self.lock:
            self._journal = []

    def take_journal(self) -> list[JournalEntry]:
        """The writes recorded since the last call, oldest first."""
        with self.lock:
            if self._journal is None:
                return []
            taken, self._journal = self._journal, []
            return taken

    def stop_journal(self) -> None:
        """Stop recording writes."""
        with self.lock:
            self._journal = None

    def swap(
        self, target: Any, engine: str, on_first_write: Callable[[], None] | None = None
    ) -> Any:
        """Make ``target`` the engine every caller uses; returns the old one (caller holds ``lock``)."""
        old = self._target
        self._target, self._engine, self._on_first_write = target, engine, on_first_write
        self._journal = None
        return old
