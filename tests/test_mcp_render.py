"""The assistant's text for a search: hits of one file whose lines follow on become one block.

``render.search`` is a pure function of the search result, so these tests give it
results shaped as ``ops.search`` returns them and read the text back with the
same parser the MCP tests use.
"""

from __future__ import annotations

from typing import Any

from _mcp_text import parse_search
from workspace_qdrant_mcp.mcp_server.render import search


def _hit(path: str, start: int, end: int, score: float, symbol: str | None = None,
         stale: bool = False, **payload: Any) -> dict[str, Any]:
    content = "\n".join(f"line {n} of {path}" for n in range(start, end + 1)) + "\n"
    return {"path": path, "start_line": start, "end_line": end, "score": score, "stale": stale,
            "payload": {"source": "file", "content": content, "symbol": symbol, **payload}}


def _result(*hits: dict[str, Any]) -> dict[str, Any]:
    return {"collection": "_path_x", "mode": "hybrid", "notices": [], "results": list(hits)}


def test_following_chunks_of_one_file_are_one_block_in_the_better_place() -> None:
    text = search(_result(
        _hit("a.py", 10, 19, 0.9, symbol="run"),
        _hit("b.py", 1, 5, 0.8),
        _hit("a.py", 20, 31, 0.7, symbol="run", stale=True),  # follows a.py:10-19
        _hit("a.py", 1, 8, 0.6),  # a gap (line 9): a block of its own
    ))
    found = parse_search(text)
    assert [(r["path"], r["start_line"], r["end_line"]) for r in found["results"]] == [
        ("a.py", 10, 31), ("b.py", 1, 5), ("a.py", 1, 8)]
    first = found["results"][0]
    assert first["score"] == 0.9 and first["stale"] is True  # the better score; stale if any is
    assert first["content"].split("\n") == [f"line {n} of a.py" for n in range(10, 32)]
    assert found["count"] == 3


def test_a_block_can_grow_backwards_and_pieces_of_long_lines_stay_apart() -> None:
    found = parse_search(search(_result(
        _hit("a.py", 20, 29, 0.9),
        _hit("a.py", 12, 19, 0.5),  # comes before the better hit's lines
        _hit("long.min.js", 1, 1, 0.4, start_col=1, end_col=2000),
        _hit("long.min.js", 1, 1, 0.3, start_col=2001, end_col=4000),
    )))
    assert [(r["path"], r["start_line"], r["end_line"]) for r in found["results"]] == [
        ("a.py", 12, 29), ("long.min.js", 1, 1), ("long.min.js", 1, 1)]
    assert found["results"][0]["content"].split("\n")[0] == "line 12 of a.py"
