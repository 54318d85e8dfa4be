"""``alias_switch``: any set of alias changes as one operation, for admin tools and scripts.

The migration operations (``core/migration.py``) change only the names a
project's identity dictates. Administration and tests also need to create,
re-point or delete an arbitrary alias from a client of the shared workspace
service, where the embedded store cannot be opened in-process. This operation
exposes ``AliasManager.switch_sync`` (intent -> Qdrant -> done, one atomic
Qdrant call, one audit event per alias changed) with JSON in and JSON out, so
it runs unchanged through ``LocalBackend`` or ``ServiceBackend``.

A change is ``{"alias": NAME, "target": NAME or None, "expected": ...}``.
``target`` None removes the alias. ``expected`` is the compare-and-swap
precondition on the alias's current target: left out, there is none; ``None``,
the alias must not exist yet. Re-pointing without ``expected``, and removing a
project's last name, still need ``force`` (DESIGN.md §2).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .collection_aliases import ANY, AliasChange
from .errors import InvalidArgument

if TYPE_CHECKING:
    from ..api import Workspace

ACTOR_DEFAULT = "cli"
_KEYS = frozenset({"alias", "target", "expected"})


def _parse_change(raw: Any) -> AliasChange:
    """One JSON change as an ``AliasChange``; a wrong shape is refused before anything runs."""
    if not isinstance(raw, dict) or "alias" not in raw or "target" not in raw:
        raise InvalidArgument('Each alias change needs "alias" and "target" (null removes it).')
    unknown = set(raw) - _KEYS
    if unknown:
        raise InvalidArgument(f"Unknown keys in an alias change: {', '.join(sorted(unknown))}.")
    alias, target = raw["alias"], raw["target"]
    if not isinstance(alias, str) or not (target is None or isinstance(target, str)):
        raise InvalidArgument("An alias change's alias must be text and its target text or null.")
    expected = raw.get("expected", ANY)
    if expected is not ANY and not (expected is None or isinstance(expected, str)):
        raise InvalidArgument("An alias change's expected target must be text or null.")
    return AliasChange(alias, target, expected=expected)


def alias_switch(
    ws: Workspace,
    changes: list[dict[str, Any]],
    force: bool = False,
    actor: str = ACTOR_DEFAULT,
    reason: str | None = None,
) -> dict[str, Any]:
    """Apply ``changes`` (create, re-point or delete aliases) in one atomic step.

    Returns ``{"status": "applied", "change_id", "operations"}`` where
    ``operations`` lists ``{"alias", "before", "after"}`` for each alias that
    changed (one audit event each), or ``{"status": "nothing_to_do", ...}`` with
    no operations when every alias already points where asked. Raises the
    alias errors of ``AliasManager.switch_sync`` (``InvalidName``,
    ``AliasConflict``, ``CollectionNotFound``, ``AliasNotFound``,
    ``PreconditionFailed``, ``LastNameError``) with nothing changed.
    """
    if not isinstance(changes, list) or not changes:
        raise InvalidArgument("alias_switch needs a non-empty list of changes.")
    parsed = [_parse_change(raw) for raw in changes]
    record = ws.aliases.switch_sync(
        parsed, actor=actor, reason=reason or "alias_switch", force=bool(force)
    )
    if record is None:
        return {"status": "nothing_to_do", "change_id": None, "operations": []}
    operations = [
        {"alias": op["alias"], "before": op["before"], "after": op["after"]}
        for op in record.operations
    ]
    return {"status": "applied", "change_id": record.id, "operations": operations}


__all__ = ["alias_switch"]
