"""Markdown as layout units: a section per heading, split at blank-line blocks when too big.

A line scanner rather than a grammar: ATX headings (``## Title``) and setext
headings (a line underlined with ``===`` or ``---``) start sections, except
inside fenced code blocks (````` or ``~~~``) and a leading YAML front matter. Sections
nest by level, so a big section splits into its introduction and its
subsections, which are named ``Parent > Child``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from .layout import Unit

__all__ = ["markdown_units"]

_ATX = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")
_SETEXT = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")


@dataclass
class _Section:
    level: int
    title: str | None
    start: int
    end: int = -1
    children: list[_Section] = field(default_factory=list)


def _headings(lines: Sequence[str]) -> list[tuple[int, int, str]]:
    """``(line, level, title)`` of each heading; a setext heading starts at its text line."""
    found: list[tuple[int, int, str]] = []
    fence: str | None = None
    i = 0
    if lines and lines[0].rstrip() == "---":  # YAML front matter
        for j in range(1, len(lines)):
            if lines[j].rstrip() in {"---", "..."}:
                i = j + 1
                break
    while i < len(lines):
        line = lines[i].rstrip("\r\n")
        opened = _FENCE.match(line)
        if fence is not None:
            if opened and opened.group(1)[0] == fence[0] and len(opened.group(1)) >= len(fence):
                fence = None
        elif opened:
            fence = opened.group(1)
        elif atx := _ATX.match(line):
            found.append((i, len(atx.group(1)), (atx.group(2) or "").strip()))
        elif (
            i + 1 < len(lines) and line.strip() and not line.startswith(("    ", "\t"))
            and _SETEXT.match(lines[i + 1].rstrip("\r\n"))
            and not re.match(r"^ {0,3}([-*+]|\d+[.)])\s", line)
        ):
            level = 1 if lines[i + 1].strip()[0] == "=" else 2
            found.append((i, level, line.strip()))
            i += 1
        i += 1
    return found


def _tree(lines: Sequence[str]) -> _Section:
    root = _Section(0, None, 0, len(lines) - 1)
    stack = [root]
    for line, level, title in _headings(lines):
        while stack[-1] is not root and stack[-1].level >= level:
            stack.pop().end = line - 1
        section = _Section(level, title or f"(heading {line + 1})", line)
        stack[-1].children.append(section)
        stack.append(section)
    for section in stack[1:]:
        section.end = len(lines) - 1
    return root


def _blocks(lines: Sequence[str], start: int, end: int) -> list[Unit]:
    """Blank-line-separated blocks (a fenced code block is one block, blank lines and all)."""
    units: list[Unit] = []
    i = start
    while i <= end:
        if not lines[i].strip():
            i += 1
            continue
        first = i
        fence = _FENCE.match(lines[i])
        i += 1
        if fence:
            mark = fence.group(1)
            while i <= end and not lines[i].lstrip().startswith(mark):
                i += 1
            i += 1
        else:
            while i <= end and lines[i].strip() and not _FENCE.match(lines[i]):
                i += 1
        units.append(Unit(first, min(i - 1, end)))
    return units


def _units_of(lines: Sequence[str], section: _Section) -> list[Unit]:
    """A section's own text (heading and introduction) then its subsections."""
    first_child = section.children[0].start if section.children else section.end + 1
    units: list[Unit] = []
    if first_child > section.start:
        intro = (section.start, first_child - 1)
        units.append(Unit(*intro, split=lambda: _blocks(lines, *intro)))
    for child in section.children:
        units.append(Unit(child.start, child.end, child.title, "section",
                          split=lambda child=child: _units_of(lines, child)))  # type: ignore[misc]
    return units


def markdown_units(lines: Sequence[str]) -> list[Unit]:
    """The top-level units of a Markdown file."""
    if not lines:
        return []
    return _units_of(lines, _tree(lines))
