"""From a tree-sitter parse tree to layout units.

Generic over grammars: the units of a node are its children, grouped so that
no cut falls inside a line (children sharing a line stay together) and so that
comments, decorators and attributes stay with the node that follows them on
the next line. A group is a named definition when its main node is one by the
language's ``Rules``. Splitting a group gives the groups of its members'
children (a definition's own children, looking through its wrapper: the
decorators and the ``def`` line of a split function are units of the split).
Only the groups being split are visited, so a file whose definitions all fit
costs a walk over the top-level nodes and the bodies of big classes.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Sequence
from functools import cache
from typing import Any

from tree_sitter import Language, Parser

from .layout import Unit
from .rules import LANGUAGES, Rules

__all__ = ["error_share", "parse", "root_units"]

log = logging.getLogger(__name__)

Node = Any  # tree_sitter.Node: the binding ships no type information mypy reads


@cache
def _language(grammar: str) -> Language:
    """The compiled grammar, imported by name: a missing grammar package fails only its files."""
    module, function = LANGUAGES[grammar].module
    return Language(getattr(importlib.import_module(module), function)())


def parse(grammar: str, source: bytes) -> Node:
    """The root node of ``source`` parsed with ``grammar`` (a ``LANGUAGES`` key)."""
    return Parser(_language(grammar)).parse(source).root_node


def last_row(node: Node) -> int:
    """The last line a node occupies (a node ending at column 0 ended on the line before)."""
    start, end = node.start_point, node.end_point
    if end.column == 0 and end.row > start.row:
        return int(end.row) - 1
    return int(end.row)


def error_share(root: Node, lines: Sequence[str]) -> float:
    """The share of non-blank lines the parser could not make sense of (0 for a clean parse).

    A line counts when it holds a MISSING node or a loose token of an ERROR
    node. Well-formed nodes inside an ERROR node do not count: an unbalanced
    ``#ifndef`` guard makes the whole of a C header one ERROR node whose
    children are all fine declarations. Walks only the subtrees that contain an
    error, so a clean file costs nothing.
    """
    if not root.has_error:
        return 0.0
    bad: set[int] = set()
    stack = [root]
    while stack:
        node = stack.pop()
        if node.is_missing:
            bad.add(node.start_point.row)
            continue
        for child in node.children:
            if child.has_error or child.is_error or child.is_missing:
                stack.append(child)
            elif node.is_error and not child.is_named:
                bad.update(range(child.start_point.row, last_row(child) + 1))
    total = sum(1 for line in lines if line.strip())
    return len([i for i in bad if i < len(lines) and lines[i].strip()]) / max(total, 1)


class _Builder:
    """Turns nodes into units for one file and one grammar."""

    def __init__(self, rules: Rules) -> None:
        self.rules = rules

    def units(self, nodes: Sequence[Node]) -> list[Unit]:
        """Group sibling nodes into units (see the module docstring)."""
        groups: list[list[Node]] = []
        ends: list[int] = []
        leading_only: list[bool] = []
        leading = self.rules.leading
        for node in nodes:
            start, end = node.start_point[0], node.end_point
            end = end[0] - 1 if end[1] == 0 and end[0] > start else end[0]
            named = node.is_named
            lead = (not named) or node.type in leading
            if groups and (
                start <= ends[-1] or (leading_only[-1] and start == ends[-1] + 1)
            ):
                groups[-1].append(node)
                ends[-1] = max(ends[-1], end)
                leading_only[-1] = leading_only[-1] and lead
                continue
            groups.append([node])
            ends.append(end)
            leading_only.append(named and lead)
        return [self._unit(group, end) for group, end in zip(groups, ends, strict=True)]

    def _unit(self, group: list[Node], end: int) -> Unit:
        start = group[0].start_point.row
        main = next(
            (n for n in group if n.is_named and n.type not in self.rules.leading), None
        )
        found = self.rules.definition(main) if main is not None else None
        if found is None:
            return Unit(start, end, split=lambda: self._split(group, None))
        name, kind = found
        return Unit(start, end, name, kind, split=lambda: self._split(group, main))

    def _split(self, group: list[Node], own: Node | None) -> list[Unit] | None:
        """The units of the members' children; ``own`` (a definition) opens its wrappers."""
        children: list[Node] = []
        for node in group:
            if node is own:
                children.extend(self._own_children(node))
            elif node.child_count and last_row(node) > node.start_point.row:
                children.extend(node.children)
            else:
                children.append(node)
        if len(children) <= len(group) and all(a is b for a, b in zip(children, group)):
            return None  # nothing smaller than the group itself: split into lines
        return self.units(children)

    def _own_children(self, node: Node) -> list[Node]:
        """A definition's children, with the definition it wraps opened too."""
        inner = self.rules.inner(node)
        out: list[Node] = []
        for child in node.children:
            if inner is not None and child.id == inner.id:
                out.extend(self._own_children(child))
            else:
                out.append(child)
        return out


def root_units(grammar: str, root: Node) -> list[Unit]:
    """The top-level units of a parsed file."""
    return _Builder(LANGUAGES[grammar]).units(root.children)
