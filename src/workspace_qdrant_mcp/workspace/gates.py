"""Per-project write gates: what lets a rebuild switch with no write racing it.

Every write to a project's live collection (a sync batch, a note) holds the
project's gate for that one write; a rebuild holds it across its last catch-up,
its verification and its switch. A write that arrives meanwhile waits (about a
second) and then goes, by name, to the new collection. Gates are per process,
which is enough: one process (the workspace service) owns the store.
"""

from __future__ import annotations

import threading

_gates: dict[str, threading.RLock] = {}
_lock = threading.Lock()


def write_gate(root: str) -> threading.RLock:
    """The gate of the project at ``root`` (re-entrant: a rebuild's own writes pass)."""
    with _lock:
        return _gates.setdefault(root, threading.RLock())


__all__ = ["write_gate"]
