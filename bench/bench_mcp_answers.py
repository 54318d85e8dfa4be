"""What an assistant pays per MCP answer: characters sent against characters of code returned.

Indexes a real project (default: this repository's ``src``; ``--project`` for
another), runs a set of queries with limit 10 through the library, and renders
each answer twice: as the MCP server sends it now (``mcp_server/render.py``:
one plain-text block, the code once) and as it did before (the full result as
JSON, sent both as text and as structured content). Prints the ratio of
characters sent to characters of code returned (goal: <= 1.1) and a token
estimate (characters / 4, and the all-MiniLM-L6-v2 word-piece count of the
text, a tokenizer of the same family as assistants' own).

    python bench/bench_mcp_answers.py [--project PATH]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from workspace_qdrant_mcp.config import Settings
from workspace_qdrant_mcp.mcp_server.render import render
from workspace_qdrant_mcp.ops.ingest import ingest
from workspace_qdrant_mcp.ops.notes import retrieve
from workspace_qdrant_mcp.ops.search import search
from workspace_qdrant_mcp.workspace.workspace import Workspace

ROOT = Path(__file__).resolve().parent.parent
QUERIES = [
    "switch a project's name without re-indexing",
    "where are alias changes recorded before Qdrant is touched",
    "how is a remote URL made canonical",
    "refuse a project that is too large to index",
    "retry a read when the service restarts",
    "cut a long line into pieces",
    "which files does git ignore",
    "render search results for an assistant",
]


def _before(result: dict[str, Any]) -> int:
    """Characters the old server sent: the JSON as text, and again as structured content."""
    text = json.dumps(result, ensure_ascii=False, default=str)
    return 2 * len(text)


def _code(result: dict[str, Any]) -> int:
    return sum(len(str((hit.get("payload") or {}).get("content", "")))
               for hit in result["results"])


def _pieces(text: str, tokenizer: Any) -> int:
    return len(tokenizer.encode(text, add_special_tokens=False).ids)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project", type=Path, default=None)
    parser.add_argument("--show", action="store_true", help="print the first answer")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        project = args.project
        if project is None:  # a copy of this repository's sources, as a git project
            project = Path(tmp) / "project"
            subprocess.run(["cp", "-r", str(ROOT / "src"), str(project)], check=True)
            for command in (["git", "init", "-q"], ["git", "add", "-A"],
                            ["git", "-c", "user.name=bench", "-c", "user.email=b@example.invalid",
                             "commit", "-qm", "sources"]):
                subprocess.run(command, cwd=project, check=True)
        settings = Settings.from_env({}, data_dir=Path(tmp) / "data", service="off",
                                     cache_dir=Settings.from_env().cache_dir)
        ws = Workspace(settings).open()
        try:
            ingest(ws, project_path=str(project))
            loaded = ws.dense._ensure_loaded()[0]
            tokenizer = type(loaded).from_str(loaded.to_str())  # a copy that does not truncate
            tokenizer.no_truncation()
            tokenizer.no_padding()
            now, before, code, now_pieces, before_pieces = [], [], [], [], []
            for query in QUERIES:
                result = search(ws, query, project_path=str(project), limit=10)
                text = render("search", dict(result))
                now.append(len(text))
                before.append(_before(dict(result)))
                code.append(_code(dict(result)))
                now_pieces.append(_pieces(text, tokenizer))
                if args.show and query == QUERIES[0]:
                    print(text)
                before_pieces.append(2 * _pieces(json.dumps(result, ensure_ascii=False,
                                                            default=str), tokenizer))
            path = next(iter(sorted(p.relative_to(project).as_posix()
                                    for p in project.rglob("*.py") if p.stat().st_size > 4000)))
            file = retrieve(ws, path=path, project_path=str(project))
            file_size = (project / path).stat().st_size
        finally:
            ws.close()
    ratio_now = sum(now) / sum(code)
    ratio_before = sum(before) / sum(code)
    print(f"search, limit 10, {len(QUERIES)} queries on {project.name}:")
    print(f"  characters sent / characters of code: now {ratio_now:.2f} (goal <= 1.1), "
          f"before {ratio_before:.2f}")
    print(f"  per answer: now {statistics.mean(now):,.0f} chars "
          f"({statistics.mean(now_pieces):,.0f} word pieces, ~{statistics.mean(now) / 4:,.0f} "
          f"tokens at 4 chars/token), before {statistics.mean(before):,.0f} chars "
          f"({statistics.mean(before_pieces):,.0f} word pieces)")
    print(f"retrieve of a {file_size:,}-byte file: now {len(render('retrieve', dict(file))):,} "
          f"chars, before {_before(dict(file)):,} chars")


if __name__ == "__main__":
    main()
