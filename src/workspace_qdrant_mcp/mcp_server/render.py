"""What an assistant reads: each fact once, the code as code, nothing internal.

Tool results are sent as **text only**, never also as ``structuredContent``:
clients disagree on which of the two reaches the model (Claude Code forwards
only the structured part when both are present, GitHub Copilot CLI forwards
both, others drop the structured part), so one text block is the only form
every client shows exactly once. Searches and retrievals are rendered as plain
text (JSON would escape every newline and quote of the code); the other tools
answer with compact JSON.

Search, for each hit: a header line ``@@ path:start-end symbol score`` (the
symbol only when the chunk's first line does not already name it; a note:
``@@ note <id> "title" score``; a piece of an overlong line adds ``:cols``),
then the chunk's lines exactly, once. A stale hit's header ends with
``stale``. Notices (index still being built, files changed) come first. Hits of
one file whose lines follow on from each other (two chunks of one long
function) are one block, in the better hit's place, with its score: the
assistant reads the code in one piece, and the path is not paid for twice.
"""

from __future__ import annotations

import json
from typing import Any

HIT_MARK = "@@ "


def compact_json(data: Any) -> str:
    """JSON without spaces (the smallest text a client can still parse)."""
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"), default=str)


def _lines(start: Any, end: Any) -> str:
    return f"{start}-{end}" if start != end else f"{start}"


def _score(value: Any) -> str:
    return f"{float(value):.2g}"


def _symbol(payload: dict[str, Any], code: str) -> str:
    """The enclosing symbol, unless the chunk's first line already names it (a def line)."""
    symbol = payload.get("symbol")
    if not symbol:
        return ""
    first = next((line for line in code.splitlines() if line.strip()), "")
    return "" if str(symbol).rsplit(".", 1)[-1] in first else f" {symbol}"


def _joinable(hit: dict[str, Any]) -> bool:
    payload = hit.get("payload") or {}
    return (payload.get("source") != "note" and payload.get("start_col") is None
            and isinstance(hit.get("start_line"), int) and isinstance(hit.get("end_line"), int))


def _blocks(hits: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The hits in rank order, those of one file whose lines follow on joined into one."""
    blocks: list[dict[str, Any]] = []
    for hit in hits:
        block = None
        if _joinable(hit):
            block = next((b for b in blocks if _joinable(b) and b["path"] == hit.get("path")
                          and (b["end_line"] + 1 == hit["start_line"]
                               or hit["end_line"] + 1 == b["start_line"])), None)
        if block is None:
            blocks.append(dict(hit))
            continue
        payload = dict(block.get("payload") or {})
        before, after = (block, hit) if block["end_line"] < hit["start_line"] else (hit, block)
        payload["content"] = (str((before.get("payload") or {}).get("content", "")).rstrip("\n")
                              + "\n" + str((after.get("payload") or {}).get("content", "")))
        block.update(payload=payload, start_line=before["start_line"],
                     end_line=after["end_line"], stale=bool(block.get("stale") or hit.get("stale")))
    return blocks


def search(result: dict[str, Any]) -> str:
    """A search result for an assistant (see the module docstring)."""
    hits = _blocks(list(result.get("results") or []))
    head = [f"{len(hits)} results in {result.get('collection')} ({result.get('mode')})"]
    head += [f"notice: {n}" for n in result.get("notices") or []]
    parts = ["\n".join(head)]
    for hit in hits:
        payload = hit.get("payload") or {}
        if payload.get("source") == "note":
            title = f' "{payload["title"]}"' if payload.get("title") else ""
            header = f"{HIT_MARK}note {payload.get('document_id')}{title} {_score(hit['score'])}"
        else:
            where = f"{hit.get('path')}:{_lines(hit.get('start_line'), hit.get('end_line'))}"
            if payload.get("start_col") is not None:
                where += f":{payload['start_col']}-{payload.get('end_col')}"
            symbol = _symbol(payload, str(payload.get("content", "")))
            header = f"{HIT_MARK}{where}{symbol} {_score(hit['score'])}"
        if hit.get("stale"):
            header += " stale"
        code = str(payload.get("content", ""))
        parts.append(header + "\n" + code.rstrip("\n"))
    return "\n".join(parts) + "\n"


def retrieve(result: dict[str, Any]) -> str:
    """A retrieved note or file: one header line, then its text once."""
    chunks = result.get("chunks") or []
    where = result.get("collection")
    if result.get("source") == "note":
        title = f' "{result["title"]}"' if result.get("title") else ""
        meta = f" {compact_json(result['metadata'])}" if result.get("metadata") else ""
        header = f"note {result.get('document_id')}{title}{meta} in {where}"
    else:
        bounds = ", ".join(
            _lines(c.get("start_line"), c.get("end_line"))
            + (f" {c['payload']['symbol']}" if (c.get("payload") or {}).get("symbol") else "")
            for c in chunks
        )
        header = f"{result.get('path')} in {where}; {len(chunks)} chunks: {bounds}"
    notices = "".join(f"notice: {n}\n" for n in result.get("notices") or [])
    return f"{notices}{header}\n{result.get('content', '')}"


#: Operations whose results an assistant reads as text; the others get compact JSON.
RENDERERS = {"search": search, "retrieve": retrieve}


def render(op: str, result: Any) -> str:
    """The text an assistant gets for ``op``'s ``result``."""
    renderer = RENDERERS.get(op)
    if renderer is not None and isinstance(result, dict):
        return renderer(result)
    return compact_json(result)


__all__ = ["HIT_MARK", "compact_json", "render", "retrieve", "search"]
