"""Rendering for ``wqm ingest``, ``wqm search`` and ``wqm status``: progress, tables, summaries.

Data goes to stdout; progress and notices go to stderr, so piping the output
of any command gives only its result. A progress bar needs a terminal on
stderr; elsewhere (CI logs, pipes) a few plain lines say how far it got.
"""

from __future__ import annotations

import sys
import time
from types import TracebackType
from typing import Any, Self

from rich.table import Table

from ..ops.results import (
    GcResult,
    IndexStarted,
    IngestResult,
    ReindexResult,
    SearchHit,
    SearchResult,
    StatusResult,
    WatchResult,
)
from .output import (
    Format,
    TextFormat,
    console,
    err_console,
    notice,
    print_json,
    printable,
    safe,
)

#: Seconds between plain progress lines when stderr is not a terminal.
PLAIN_INTERVAL = 5.0


class IngestProgress:
    """Receives ingest progress events; draws a bar on a terminal, plain lines elsewhere."""

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self.bar: Any = None
        self.task: Any = None
        self.last_line = 0.0

    def __enter__(self) -> Self:
        if self.enabled and sys.stderr.isatty():
            # Imported here: rich.progress costs ~10 ms that every other command would pay.
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeRemainingColumn,
            )

            self.bar = Progress(
                TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                TimeRemainingColumn(), console=err_console, transient=True,
            )
            self.bar.start()
            self.task = self.bar.add_task("Scanning", total=None)
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self.bar is not None:
            self.bar.stop()

    def __call__(self, event: dict[str, Any]) -> None:
        if not self.enabled:
            return
        phase = event.get("phase")
        if self.bar is not None:
            if phase == "plan":
                self.bar.update(self.task, description="Reading", completed=0,
                                total=event.get("total") or 0)
            elif phase == "keywords":
                self.bar.update(self.task, completed=event.get("done", 0))
            elif phase == "embed":
                self.bar.update(self.task, description="Embedding",
                                completed=event.get("done", 0), total=event.get("total") or 0)
            elif phase == "clean":
                self.bar.update(self.task, description="Cleaning up")
            return
        now = time.monotonic()
        if phase == "plan":
            notice(f"{event.get('files', 0)} files: {event.get('changed', 0)} to index, "
                   f"{event.get('unchanged', 0)} unchanged")
            self.last_line = now
        elif phase == "embed" and not event.get("done"):
            notice(f"{event.get('total', 0)} chunks to embed")
            self.last_line = now
        elif phase in ("keywords", "embed") and (now - self.last_line >= PLAIN_INTERVAL
                                                 or event.get("done") == event.get("total")):
            what = "files read (keywords)" if phase == "keywords" else "chunks embedded"
            notice(f"{event.get('done', 0)}/{event.get('total', 0)} {what}")
            self.last_line = now


def render_index_started(result: IndexStarted, fmt: TextFormat) -> None:
    """``ingest --detach``: the job runs; where to see it."""
    if fmt is TextFormat.json:
        print_json(result)
        return
    result = safe(result)
    verb = "Indexing started" if result["started"] else "Indexing had already finished"
    console.print(f"{verb} for {result['project_root']} in the background; `wqm status` shows "
                  "its progress.", markup=False)


def render_reindex(result: ReindexResult, fmt: TextFormat) -> None:
    """``reindex``: where the names went, or that the rebuild runs in the background."""
    if fmt is TextFormat.json:
        print_json(result)
        return
    result = safe(result)
    if result["status"] == "building":
        console.print(f"Rebuilding the index of {result['project_root']} in the background; "
                      "`wqm status` shows its progress.", markup=False)
        return
    names = result["names"]
    verb = "now reaches" if len(names) == 1 else "now reach"
    console.print(f"Rebuilt: {', '.join(names)} {verb} {result['new_collection']} "
                  f"(change {result['change_id']}); the old index {result['old_collection']} is "
                  "kept: `wqm project undo` switches back, `wqm gc` removes it.", markup=False)


def render_gc(result: GcResult, fmt: TextFormat) -> None:
    """``gc``: the retired indexes removed (or that would be)."""
    if fmt is TextFormat.json:
        print_json(result)
        return
    result = safe(result)
    if not result["removed"]:
        console.print("Nothing to remove: no retired index is left.", markup=False)
        return
    verb = "Would remove" if result["dry_run"] else "Removed"
    for item in result["removed"]:
        console.print(f"{verb} {item['collection']} ({item['state']}, "
                      f"{int(item.get('bytes') or 0) / 1e6:,.1f} MB, retired "
                      f"{str(item.get('retired_at') or '?')[:16].replace('T', ' ')})",
                      markup=False)


def render_watch(result: WatchResult, fmt: TextFormat) -> None:
    """``watch on|off``."""
    if fmt is TextFormat.json:
        print_json(result)
        return
    result = safe(result)
    state = "now watched: saved files are re-indexed" if result["watch"] else "no longer watched"
    console.print(f"{result['project_root']} is {state}.", markup=False)


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def render_ingest(result: IngestResult, fmt: TextFormat) -> None:
    """Summary of an ingest run: what was indexed, skipped (and why) and how long it took."""
    if fmt is TextFormat.json:
        print_json(result)
        return
    result = safe(result)
    for item in result.get("skipped_files", []):
        detail = f" ({item['detail']})" if item.get("detail") else ""
        console.print(f"skipped {item['path']}: {item['reason']}{detail}", markup=False)
    reasons = ", ".join(f"{k}: {v}" for k, v in result.get("skipped", {}).items())
    skipped = f"{result['files_skipped']} skipped"
    tail = (f"{result['files_unchanged']} unchanged, {result['files_deleted']} removed, "
            f"{skipped}{f' ({reasons})' if reasons else ''}")
    if result["chunks_written"] == 0:
        head = "Nothing to embed: the index was already up to date"
    else:
        head = (f"Indexed {_plural(result['files_indexed'], 'file')} "
                f"({_plural(result['chunks_written'], 'chunk')})")
    console.print(f"{head}; {result['files_seen']} files seen: {tail}. "
                  f"{result['seconds']:.1f} s, collection {result['collection']}.", markup=False)


#: Lines of a hit shown in the human output (the window around the best-matching line).
SHOWN_LINES = 8


def render_search(result: SearchResult, fmt: Format) -> None:
    """Hits as blocks of numbered lines, JSON with full payloads, or one line each (simple)."""
    if fmt is Format.json:
        print_json(result)
        return
    hits = result.get("results", [])
    if not hits:
        notice(printable(f"No results in {result.get('collection')}."))
        return
    if fmt is Format.simple:
        for hit in hits:
            symbol = hit["payload"].get("symbol") or ""
            sys.stdout.write(f"{printable(_location(hit))}\t{hit['score']:.4f}\t"
                             f"{printable(symbol)}\t{printable(hit['snippet'])}\n")
        return
    for number, hit in enumerate(hits, 1):
        payload = hit["payload"]
        symbol = f"  {payload['symbol']}" if payload.get("symbol") else ""
        stale = "  [stale: the file changed since]" if hit.get("stale") else ""
        console.print(f"{number:>2}. {hit['score']:.4f}  {printable(_location(hit))}"
                      f"{printable(symbol)}{stale}", markup=False, style="bold")
        for line_number, line in _shown(hit, result.get("query", "")):
            console.print(f"    {line_number:>5} | {printable(line)}", markup=False)
        console.print("", markup=False)


def _shown(hit: SearchHit, query: str) -> list[tuple[int, str]]:
    """The hit's lines to show, numbered: all of a short chunk, else the best window."""
    payload = hit["payload"]
    lines = str(payload.get("content", "")).split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    start = int(hit.get("start_line") or 1)
    if len(lines) <= SHOWN_LINES:
        return [(start + i, line) for i, line in enumerate(lines)]
    words = {w.lower() for w in query.split() if len(w) > 2}
    scores = [sum(w in line.lower() for w in words) for line in lines]
    best = max(range(len(lines) - SHOWN_LINES + 1),
               key=lambda i: (sum(scores[i:i + SHOWN_LINES]), -i))
    return [(start + i, lines[i]) for i in range(best, best + SHOWN_LINES)]


def _location(hit: SearchHit) -> str:
    return f"{hit.get('path')}:{hit.get('start_line')}-{hit.get('end_line')}"


def _index_rows(index: dict[str, Any] | None) -> list[tuple[str, str]]:
    """The index's state, the running job and watching, as status rows."""
    if not index:
        return []
    state = str(index["state"])
    job = index.get("job") or {}
    if state == "building":
        if job.get("phase") == "dense":
            eta = job.get("eta_seconds")
            state += (f" (meaning {job.get('dense_done', 0)}/{job.get('dense_total', 0)} chunks"
                      + (f", about {eta:.0f} s left)" if isinstance(eta, int | float) else ")"))
        else:
            state += f" (reading {job.get('keywords_done', 0)}/{job.get('keywords_total', 0)} files)"
    elif state == "partial":
        state += f" ({index['dense_missing']} chunks not embedded yet)"
    if job.get("error") and not job.get("running"):
        state += f"; last job: {job['error']}"
    watched = "yes" if index.get("watched") else "no"
    if index.get("pending_paths"):
        watched += f" ({index['pending_paths']} changed files queued)"
    rows = [("Index", state), ("Watched", watched),
            ("Last sync", str(index.get("last_sync_at") or "never")[:19].replace("T", " "))]
    return rows


def render_status(result: StatusResult, fmt: Format) -> None:
    """The project's names, collection, counts and where the data lives."""
    if fmt is Format.json:
        print_json(result)
        return
    result = safe(result)
    names = ", ".join(
        n["name"] + (" (current)" if n["current"] else "") + ("" if n["reachable"] else " [no data]")
        for n in result["names"]
    )
    rows = [
        ("Project", result["project_root"]),
        ("Names", names),
        ("Physical collection", result["physical_collection"] or "none (run `wqm ingest`)"),
        ("Points", str(result["points"])),
        ("Files", str(result["files"])),
        ("Notes", str(result["notes"])),
        *_index_rows(result.get("index")),
        ("Engine", result["engine"]),
        ("Registry", result["registry"]),
        ("Data dir", result["data_dir"]),
    ]
    if fmt is Format.simple:
        for key, value in rows:
            sys.stdout.write(f"{key}: {value}\n")
        return
    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column(style="bold", no_wrap=True)
    table.add_column(overflow="fold")
    for key, value in rows:
        table.add_row(key, value)
    console.print(table, markup=False)
