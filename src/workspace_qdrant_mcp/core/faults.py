"""Fault injection for crash-consistency tests.

A test arms a named step (``WQM_FAULT_POINT=after_intent`` read by config, or
``arm()``); when the code reaches that step the process kills itself with
SIGKILL, exactly as a power cut or ``kill -9`` would. Unarmed, ``reach`` costs
one comparison.

Steps of an alias change: ``after_intent`` (intent committed, Qdrant untouched),
``after_collection`` (a new physical collection exists, its name does not yet),
``after_qdrant`` (Qdrant switched, registry not yet marked done), ``after_done``.
Steps of a rebuild (``workspace/rebuild.py``): ``reindex_building`` (the new
collection is filled), ``reindex_catching_up``, ``reindex_verifying``,
``reindex_switching`` (names moved, states not yet recorded), ``reindex_retiring``.
Steps of an engine move: ``engine_move_*`` (see ``workspace/engine_move.py``).
"""

from __future__ import annotations

import os
import signal

from .errors import ConfigError

STEPS = (
    "after_intent", "after_collection", "after_qdrant", "after_done",
    "reindex_building", "reindex_catching_up", "reindex_verifying", "reindex_switching",
    "reindex_retiring",
    # an engine move (workspace/engine_move.py): partial copy recorded, first page
    # copied, every page copied, copy verified, new engine recorded, engine swapped
    "engine_move_begun", "engine_move_copying", "engine_move_copied",
    "engine_move_verified", "engine_move_recorded", "engine_move_switched",
)

_armed: str | None = None


def arm(step: str | None) -> None:
    """Make the process die at ``step`` (None disarms).

    An unknown step is refused: a misspelt fault point would never fire, and the
    crash test relying on it would pass without testing anything.
    """
    global _armed
    if step and step not in STEPS:
        raise ConfigError(f"WQM_FAULT_POINT={step!r} is not a known step; use one of "
                          f"{', '.join(STEPS)}.")
    _armed = step or None


def reach(step: str) -> None:
    """Mark that execution reached ``step``; dies here when that step is armed."""
    if _armed is not None and _armed == step:
        os.kill(os.getpid(), signal.SIGKILL)
