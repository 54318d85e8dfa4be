"""Read the text the MCP server sends for ``search`` and ``retrieve`` (mcp_server/render.py).

The server answers those tools in plain text for the assistant; the tests read
it back with these parsers, so a change of the format shows up here first.
"""

from __future__ import annotations

import json
import re
from typing import Any

_HEAD = re.compile(r"^(\d+) results in (\S+) \((\w+)\)$")
_SCORE = r"(-?\d+(?:\.\d+)?(?:e[-+]?\d+)?)"  # a number: "stale" after it is never taken for one
_FILE_HIT = re.compile(
    r"^@@ (.+?):(\d+)(?:-(\d+))?(?::(\d+)-(\d+))?(?: (\S+))? " + _SCORE + "( stale)?$")
_NOTE_HIT = re.compile(r'^@@ note (\S+)(?: "(.*)")? ' + _SCORE + "( stale)?$")


def parse_search(text: str) -> dict[str, Any]:
    """``{"count", "collection", "mode", "notices", "results"}`` from a search answer."""
    lines = text.rstrip("\n").split("\n")
    head = _HEAD.match(lines[0])
    assert head, f"not a search answer: {lines[0]!r}"
    found: dict[str, Any] = {"count": int(head.group(1)), "collection": head.group(2),
                             "mode": head.group(3), "notices": [], "results": []}
    current: dict[str, Any] | None = None
    for line in lines[1:]:
        if current is None and line.startswith("notice: "):
            found["notices"].append(line[len("notice: "):])
            continue
        note = _NOTE_HIT.match(line) if line.startswith("@@ note ") else None
        hit = _FILE_HIT.match(line) if note is None and line.startswith("@@ ") else None
        if note is not None:
            current = {"note_id": note.group(1), "title": note.group(2), "path": None,
                       "score": float(note.group(3)), "stale": bool(note.group(4)),
                       "lines": []}
            found["results"].append(current)
        elif hit is not None:
            start = int(hit.group(2))
            current = {"path": hit.group(1), "start_line": start,
                       "end_line": int(hit.group(3) or start), "symbol": hit.group(6),
                       "score": float(hit.group(7)), "stale": bool(hit.group(8)),
                       "note_id": None, "lines": []}
            found["results"].append(current)
        else:
            assert current is not None, f"text before the first hit: {line!r}"
            current["lines"].append(line)
    for result in found["results"]:
        result["content"] = "\n".join(result.pop("lines"))
    assert len(found["results"]) == found["count"]
    return found


def parse_retrieve(text: str) -> dict[str, Any]:
    """``{"collection", "content", ...}`` from a retrieve answer (a note or a file)."""
    lines = text.split("\n")
    notices = []
    while lines and lines[0].startswith("notice: "):
        notices.append(lines.pop(0)[len("notice: "):])
    header, content = lines[0], "\n".join(lines[1:])
    note = re.match(r'^note (\S+)(?: "(.*?)")?(?: (\{.*\}))? in (\S+)$', header)
    if note is not None:
        return {"document_id": note.group(1), "title": note.group(2),
                "metadata": json.loads(note.group(3)) if note.group(3) else {},
                "collection": note.group(4), "content": content, "notices": notices}
    file = re.match(r"^(.+) in (\S+); (\d+) chunks: (.*)$", header)
    assert file, f"not a retrieve answer: {header!r}"
    return {"path": file.group(1), "collection": file.group(2), "chunks": int(file.group(3)),
            "content": content, "notices": notices}
