"""Per-collection write gates: what lets a rebuild switch with no write racing it.

Every write to a project's live collection (a sync batch, a note) holds the
gate of the physical collection it writes to, for that one write; a rebuild
holds the gate of the collection it replaces across its last catch-up, its
verification, its switch and the bookkeeping after it. A write that arrives
meanwhile waits (about a second), then finds that its name now reaches the
rebuilt collection and goes there.

The gate is keyed by the physical collection, not by the project's folder:
two clones of one remote share one collection, and a note stored through a
name given explicitly has no folder at all; both must wait for the switch.
Gates are per process, which is enough: one process (the workspace service)
owns the store. Against a Qdrant server shared by several processes a write
can still race the switch (see docs/ARCHITECTURE.md).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from .workspace import Workspace

_gates: dict[str, threading.RLock] = {}
_lock = threading.Lock()


def write_gate(physical: str) -> threading.RLock:
    """The gate of the collection ``physical`` (re-entrant: a rebuild's own writes pass)."""
    with _lock:
        return _gates.setdefault(physical, threading.RLock())


@contextmanager
def writing_to(ws: Workspace, name: str) -> Iterator[str]:
    """Hold the gate of the collection ``name`` reaches; yields that collection.

    The name is resolved again once the gate is held: a rebuild may have moved
    it while this write waited, and the write must then hold the new
    collection's gate (and learn which collection, hence which recipe, it
    writes to).
    """
    while True:
        physical = ws.aliases.resolve_sync(name)
        with write_gate(physical):
            if ws.aliases.resolve_sync(name) == physical:
                yield physical
                return


__all__ = ["write_gate", "writing_to"]
