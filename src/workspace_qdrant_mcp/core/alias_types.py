"""The data of the alias system: an alias, a requested change, a reconcile finding.

Plain values with no I/O, shared by ``collection_aliases`` (which re-exports
them: ``CollectionAlias`` is part of the seed's public API there) and by
whatever reports on aliases.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final, NotRequired, TypedDict

from .naming import is_opaque_physical_name
from .state import ChangeRecord


class _Any:
    """Sentinel: no precondition on an alias's current target."""

    def __repr__(self) -> str:
        return "ANY"


ANY: Final = _Any()


class AliasRow(TypedDict):
    """A registered alias as JSON: what it reaches, who made it, and its use."""

    alias_name: str
    collection_name: str
    created_at: str | None
    created_by: str
    metadata: dict[str, Any]
    hit_count: int
    last_used_at: str | None


class ProblemRow(TypedDict):
    """A reconcile finding as JSON (``warning``: worth knowing, not wrong: doctor stays green)."""

    kind: str
    name: str
    detail: str
    fixed: bool
    warning: NotRequired[bool]


@dataclass
class CollectionAlias:
    """A registered alias: a logical name and the physical collection it reaches."""

    alias_name: str
    collection_name: str
    created_at: datetime | None = None
    created_by: str = "system"
    metadata: dict[str, Any] | None = None
    hit_count: int = 0
    last_used_at: datetime | None = None

    def __post_init__(self) -> None:
        if self.created_at is None:
            self.created_at = datetime.now(UTC)

    def to_dict(self) -> AliasRow:
        """JSON-ready form with the keys the CLI promises."""
        return {
            "alias_name": self.alias_name,
            "collection_name": self.collection_name,
            "created_at": self.created_at.isoformat() if self.created_at else None,
            "created_by": self.created_by,
            "metadata": self.metadata or {},
            "hit_count": self.hit_count,
            "last_used_at": self.last_used_at.isoformat() if self.last_used_at else None,
        }


@dataclass(frozen=True)
class AliasChange:
    """One step of an atomic switch: point ``alias`` at ``target`` (None removes it).

    ``expected`` is the compare-and-swap precondition on the alias's current
    target (None: the alias must not exist; ``ANY``: no precondition).
    """

    alias: str
    target: str | None
    expected: str | None | _Any = ANY


@dataclass
class Problem:
    """One disagreement found by ``reconcile``."""

    kind: str
    name: str
    detail: str
    fixed: bool = False
    warning: bool = False

    def to_dict(self) -> ProblemRow:
        """JSON-ready form."""
        row: ProblemRow = {"kind": self.kind, "name": self.name, "detail": self.detail,
                           "fixed": self.fixed}
        if self.warning:
            row["warning"] = True
        return row


@dataclass
class ReconcileReport:
    """What ``reconcile`` found and, with ``fix=True``, repaired."""

    problems: list[Problem] = field(default_factory=list)

    @property
    def remaining(self) -> list[Problem]:
        """Problems still present after the run (warnings are not problems)."""
        return [p for p in self.problems if not p.fixed and not p.warning]

    @property
    def ok(self) -> bool:
        """True when registry and Qdrant agree (after fixes)."""
        return not self.remaining

    def problem_rows(self) -> list[ProblemRow]:
        """Every problem found, as JSON."""
        return [p.to_dict() for p in self.problems]


def _parse_time(text: str | None) -> datetime | None:
    if not text:
        return None
    parsed = datetime.fromisoformat(text)
    # seed-era rows hold naive UTC (SQLite CURRENT_TIMESTAMP); compare safely with ours
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def touches(change: ChangeRecord, scope: Collection[str]) -> bool:
    """True when ``change`` moved a name in ``scope`` or a name to or from a collection in it."""
    return any(
        op["alias"] in scope or op["before"] in scope or op["after"] in scope
        for op in change.operations
    )


def names_reaching(live: dict[str, str], physical: str, exists: bool = True) -> list[str]:
    """Names that reach ``physical`` in the alias table ``live``: its aliases, sorted, after
    its own name when it is a logical one (an adopted collection) and ``exists``."""
    names = sorted(a for a, c in live.items() if c == physical)
    if exists and not is_opaque_physical_name(physical):
        names.insert(0, physical)
    return names
