"""Pack units of a file (definitions, statements, sections) into chunks that fit the budget.

Language-agnostic: a parser (tree-sitter, the Markdown heading scanner) turns a
file into ``Unit``s, line ranges that may be named definitions and that know how
to split themselves into smaller units (their children, and in the end their
lines). The packer walks the units of one level in order and:

* keeps a named definition whole when it fits the budget, and merges small
  adjacent definitions while the merged chunk stays within ``merge_pieces``;
* splits a definition over the budget into its own children (a barrier: its
  pieces never share a chunk with its neighbours) and names them after it;
* packs unnamed units (statements, blocks, lines) up to the full budget,
  splitting a unit only when it does not fit alone, or when the chunk being
  filled is still nearly empty (so a signature line never ends up alone);
* lets a short closing line (``}``, ``end``) join the chunk before it.

Every cut is between lines. ``assemble`` then turns the pieces into exact line
ranges that cover every non-blank line once (a piece runs up to the line before
the next piece starts, minus blank lines at either end).
"""

from __future__ import annotations

import math
import re
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

__all__ = ["Budget", "Layout", "Piece", "Unit", "assemble", "line_units"]

#: Kinds that only group definitions: a chunk is not named after their opening line.
_CONTAINER_KINDS = frozenset({"namespace", "module"})

# A line that only closes blocks, maybe with a comment: "};", "end", "}  // namespace shop".
_CLOSING = re.compile(r"^\s*(?:[}\])]+|end)[;,)]*\s*(?:(?://|#|/\*|--).*)?$")

#: Kinds whose functions are methods.
CLASS_KINDS = frozenset({
    "class", "struct", "interface", "trait", "impl", "enum", "object", "record", "protocol",
    "extension", "module", "type",
})


@dataclass(eq=False)
class Unit:
    """Lines ``start``..``end`` (0-based, inclusive), cut only at their own inner boundaries.

    ``name`` is set when the unit is one whole definition (its own name, not
    qualified); ``split`` returns the smaller units covering the same lines
    (children, leading comments included), or None when only lines remain.
    """

    start: int
    end: int
    name: str | None = None
    kind: str = "code"
    split: Callable[[], list[Unit] | None] | None = None


@dataclass(frozen=True)
class Budget:
    """Sizes in estimated word pieces of the chunk's content."""

    max_pieces: float
    merge_pieces: float
    #: A chunk under this share of ``max_pieces`` is filled by splitting the next unit.
    fill_share: float = 0.25
    #: A one-line unit this small (a closing brace, ``end``) always joins the chunk before it.
    trivial_pieces: float = 3.0


@dataclass
class Piece:
    """A run of units that becomes one chunk: its lines and what it defines."""

    start: int
    end: int
    symbols: list[str] = field(default_factory=list)
    kind: str = "code"


@dataclass
class _Scope:
    qualified: str
    kind: str


class Layout:
    """Packs the units of one file; ``pieces`` holds the result of ``pack`` calls, in order."""

    def __init__(self, lines: Sequence[str], prefix: Sequence[float], budget: Budget,
                 separator: str = ".") -> None:
        self.lines = lines
        self.prefix = prefix
        self.budget = budget
        self.separator = separator
        self.pieces: list[Piece] = []
        self._opened: set[int] = set()

    def size(self, start: int, end: int) -> float:
        """Estimated pieces of lines ``start..end``."""
        return self.prefix[end + 1] - self.prefix[start]

    def pack(self, units: list[Unit], scope: _Scope | None = None, cap: float | None = None,
             opening: _Scope | None = None) -> None:
        """Pack the units of one level (inside the definition ``scope``, if any).

        ``cap`` (at most the budget) bounds the runs of a split definition so
        that its pieces come out of similar sizes instead of full ones and a stub.
        ``opening`` is an enclosing definition whose first lines open these units:
        the first chunk is named after it.
        """
        budget = self.budget
        full = budget.max_pieces if cap is None else min(cap, budget.max_pieces)
        queue = deque(units)
        run: list[Unit] = []
        run_named = False  # does the run hold a whole definition?
        # The first run of a split definition is its signature: never a chunk on its own.
        prelude = scope is not None
        while queue:
            unit = queue.popleft()
            size = self.size(unit.start, unit.end)
            if run and self.trivial(unit.start, unit.end):
                run.append(unit)
                continue
            if unit.name is not None and size > budget.max_pieces:
                inner = unit.split() if unit.split else None
                inner = inner or line_units(self.lines, unit)
                opens = None
                if prelude and not run_named and self._small(run):
                    inner = run + inner  # "namespace shop {" opens the first chunk of its class
                    opens = scope if opening is None or self.pieces_done(opening) else opening
                    if opens is not None and opens.kind in _CONTAINER_KINDS:
                        opens = None  # "namespace shop {" + class Product: named Product
                else:
                    self._flush(run, scope, opening)
                run, run_named, prelude = [], False, False
                parts = math.ceil(size / budget.max_pieces)
                self.pack(inner, self._enter(scope, unit), cap=1.2 * size / parts, opening=opens)
                continue
            total = self.size(run[0].start, unit.end) if run else size
            named = unit.name is not None
            limit = budget.merge_pieces if run and (named or run_named) else full
            if prelude and not run_named and self._small(run):
                limit = full  # a class line is no chunk: it takes the first member
            if total <= limit:
                run.append(unit)
                run_named = run_named or named
                continue
            filling = bool(run) and total > full and (
                (prelude and not run_named) or self._small(run)
            )
            if not named and unit.end > unit.start and (size > budget.max_pieces or filling):
                inner = unit.split() if unit.split else None
                queue.extendleft(reversed(inner or line_units(self.lines, unit)))
                continue
            self._flush(run, scope, opening)
            run, run_named, prelude = [unit], named, False
        self._flush(run, scope, opening)

    def trivial(self, start: int, end: int) -> bool:
        """Is this one closing line (``}``, ``end``, ``}  // ns``) that joins the chunk before?"""
        return start == end and (
            self.size(start, end) <= self.budget.trivial_pieces
            or _CLOSING.match(self.lines[start]) is not None
        )

    def _small(self, run: list[Unit]) -> bool:
        """Is the run too small to be a chunk of its own when something can fill it?"""
        budget = self.budget
        return bool(run) and (
            self.size(run[0].start, run[-1].end) < budget.fill_share * budget.max_pieces
        )

    def _enter(self, scope: _Scope | None, unit: Unit) -> _Scope:
        return _Scope(self._qualify(scope, unit.name or ""), self._kind(scope, unit.kind))

    def _qualify(self, scope: _Scope | None, name: str) -> str:
        return f"{scope.qualified}{self.separator}{name}" if scope else name

    @staticmethod
    def _kind(scope: _Scope | None, kind: str) -> str:
        if kind == "function" and scope is not None and scope.kind in CLASS_KINDS:
            return "method"
        return kind

    def pieces_done(self, opening: _Scope) -> bool:
        """Has a chunk named after ``opening`` been made already (only the first one is)?"""
        return id(opening) in self._opened

    def _flush(self, run: list[Unit], scope: _Scope | None, opening: _Scope | None = None
               ) -> None:
        if not run:
            return
        symbols: list[str] = []
        kind = "code"
        if opening is not None and id(opening) not in self._opened:
            self._opened.add(id(opening))
            symbols.append(opening.qualified)
            kind = opening.kind
        if run[0].name is None and scope is not None:
            if not symbols:
                kind = scope.kind
            symbols.append(scope.qualified)
        for unit in run:
            if unit.name is not None:
                if not symbols:
                    kind = self._kind(scope, unit.kind)
                qualified = self._qualify(scope, unit.name)
                symbols.append(qualified)
                if unit.kind in CLASS_KINDS or unit.kind == "section":
                    symbols.extend(f"{qualified}{self.separator}{m}" for m in _members(unit))
        self.pieces.append(Piece(run[0].start, run[-1].end, symbols, kind))


def _members(unit: Unit, depth: int = 0) -> list[str]:
    """The names of the definitions right inside a whole class (its methods, nested classes)."""
    if depth > 3 or unit.split is None:
        return []
    names: list[str] = []
    for sub in unit.split() or []:
        if sub.name is not None:
            names.append(sub.name)
        elif sub.end > sub.start:
            names.extend(_members(sub, depth + 1))
    return names


def line_units(lines: Sequence[str], unit: Unit) -> list[Unit]:
    """The non-blank lines of ``unit`` as units: the last resort of a split."""
    return [Unit(i, i) for i in range(unit.start, unit.end + 1) if lines[i].strip()]


def assemble(lines: Sequence[str], pieces: list[Piece], trivial: Callable[[int, int], bool]
             ) -> list[Piece]:
    """Exact, disjoint line ranges covering every non-blank line, in file order.

    A piece runs from its start to the line before the next piece's start (so
    no line is lost between units), trimmed of blank lines; a piece that is
    only closing punctuation joins the one before it.
    """
    ordered: list[Piece] = []
    for piece in pieces:
        if ordered and piece.start <= ordered[-1].start:
            ordered[-1].symbols.extend(s for s in piece.symbols if s not in ordered[-1].symbols)
            continue
        ordered.append(piece)
    if ordered:
        ordered[0].start = 0
    out: list[Piece] = []
    for i, piece in enumerate(ordered):
        start = piece.start
        end = ordered[i + 1].start - 1 if i + 1 < len(ordered) else len(lines) - 1
        while start <= end and not lines[start].strip():
            start += 1
        while end >= start and not lines[end].strip():
            end -= 1
        if start > end:
            continue
        if out and trivial(start, end):
            out[-1].end = end
            continue
        out.append(Piece(start, end, piece.symbols, piece.kind))
    return out
