"""Notes: text an assistant or user stores beside the project's files, and retrieval by id or path.

A note lives in the project's collection like a file (same vectors, same
search) but with ``source == "note"``, which is what keeps it out of reach of
ingestion's clean-up: ingest only ever deletes file points. Long notes are
chunked without overlap so that the chunks join back to exactly what was stored.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from qdrant_client import models as qm

from ..core import schema, store
from ..core.errors import InvalidArgument
from ..core.index_registry import IndexRegistry
from ..core.requests import current_request_id
from ..ingest.chunker import chunk_text, split_lines
from ..workspace.gates import writing_to
from ..workspace.points import embedding_text, make_points
from ..workspace.projects import ProjectContext, ensure_project_collection
from ..workspace.routing import Route, choose_collection, recipe_of
from ..workspace.sync import collection_recipe
from ..workspace.workspace import Workspace
from .registry import operation
from .results import NoteStored, Retrieved, RetrievedChunk

NOTE_PATH_PREFIX = "notes/"
#: The longest note accepted: its retrieval (text and chunks) must fit in one reply.
MAX_NOTE_CHARS = 1_000_000
_NOTE_NAMESPACE = uuid.UUID("0b8c4f55-2f0e-5d59-8e55-3c1f3c6b9a10")
#: Chunks read per scroll when retrieving a document.
_PAGE = 1024
#: The largest ``retrieve`` reply a note may need, in JSON bytes: the service sends at most
#: 16 MiB in one frame (``backends/protocol.MAX_FRAME_BYTES``), less the frame's envelope.
MAX_NOTE_REPLY_BYTES = 15 * 1024 * 1024
#: JSON bytes ``retrieve`` adds per chunk besides its content and payload (keys, id, numbers).
_CHUNK_ENVELOPE = 160


def _reply_bytes(content: str, ids: list[str], payloads: list[dict[str, Any]]) -> int:
    """The size of the JSON ``retrieve`` returns for a note: its text, then each chunk's text
    and payload (a note's title and metadata ride in every chunk's payload)."""
    size = len(json.dumps(content))
    for point_id, payload in zip(ids, payloads, strict=True):
        size += (len(point_id) + len(json.dumps(payload["content"]))
                 + len(json.dumps(payload, default=str)) + _CHUNK_ENVELOPE)
    return size


def note_point_id(document_id: str, chunk_index: int) -> str:
    """The id of chunk ``chunk_index`` of note ``document_id``."""
    return str(uuid.uuid5(_NOTE_NAMESPACE, f"note\0{document_id}\0{chunk_index}"))


@operation(takes_project=True, retry_safe=True, mcp_tool="store")
def store_note(
    ws: Workspace,
    content: str,
    title: str | None = None,
    metadata: dict[str, Any] | None = None,
    collection: str | None = None,
    project_path: str | None = None,
) -> NoteStored:
    """Store ``content`` as a searchable note in the project's collection (or ``collection``).

    Returns ``{"id", "collection", "path", "chunks", "notices"}``.
    """
    if not isinstance(content, str) or not content.strip():
        raise InvalidArgument("The note is empty; give some text to store.")
    if len(content) > MAX_NOTE_CHARS:
        raise InvalidArgument(
            f"The note is {len(content):,} characters; a note holds at most {MAX_NOTE_CHARS:,} "
            "(split it, or put the text in a file of the project, which ingest indexes)."
        )
    if title is not None and not isinstance(title, str):
        raise InvalidArgument("The note title must be text.")
    if metadata is not None:
        if not isinstance(metadata, dict):
            raise InvalidArgument("The note metadata must be a JSON object.")
        try:
            json.dumps(metadata)
        except (TypeError, ValueError):
            raise InvalidArgument("The note metadata must be JSON-serialisable.") from None
    ctx: ProjectContext | None = None
    if collection is None:
        ctx = ensure_project_collection(ws.aliases, ws.project(project_path))
        assert ctx.physical is not None
        collection_recipe(ws, ctx.physical, ctx.project_id)  # a new collection: this recipe
        route = Route(ws, ctx.query_name, project_path, ctx)
    else:
        route = choose_collection(ws, collection, project_path)
    # Derived from the caller's request id when there is one: the same request sent
    # twice (a retry after the service died) stores the same note, not a second one.
    request_id = current_request_id()
    document_id = uuid.uuid5(_NOTE_NAMESPACE, request_id).hex if request_id else uuid.uuid4().hex
    path = NOTE_PATH_PREFIX + document_id
    chunks = chunk_text(content, overlap=0, keep_blank=True)
    digest = hashlib.sha256(content.encode("utf-8")).hexdigest()
    created = datetime.now(UTC).isoformat()
    payloads = [
        {
            "path": path,
            "language": "text",
            "start_line": c.start_line,
            "end_line": c.end_line,
            "content": c.content,
            "content_hash": digest,
            "chunk_index": c.index,
            "chunk_count": len(chunks),
            "project_id": ctx.project_id if ctx else None,
            "source": schema.SOURCE_NOTE,
            "document_id": document_id,
            "title": title,
            "metadata": metadata or {},
            "created_at": created,
            **({"start_col": c.start_col, "end_col": c.end_col} if c.start_col is not None
               else {}),
        }
        for c in chunks
    ]
    ids = [note_point_id(document_id, c.index) for c in chunks]
    # What can be stored must be readable: the limit is the reply's size on the wire (text
    # that JSON escapes, and metadata repeated per chunk, can grow it far beyond the text).
    reply = _reply_bytes(content, ids, payloads)
    if reply > MAX_NOTE_REPLY_BYTES:
        raise InvalidArgument(
            f"Reading this note back would take {reply / 2**20:.1f} MiB, more than the "
            f"{MAX_NOTE_REPLY_BYTES // 2**20} MiB one answer holds; store less text or "
            "smaller metadata (metadata is kept with each of its chunks), or split the note."
        )
    header = title.strip() if title and title.strip() else path
    points = make_points(
        ws,
        ids,
        [embedding_text(header, c.content) for c in chunks],
        payloads,
        recipe_of(ws, route.name),
    )
    client = ws.client
    # Under the gate of the collection the note goes to, so a rebuild's last copy of the
    # notes and its switch cannot run between; labelled with that collection's recipe.
    with writing_to(ws, route.name) as physical:
        record = IndexRegistry(ws.state).collection(physical)
        for point in points:
            if record is not None and record.recipe is not None and point.payload is not None:
                point.payload["recipe"] = record.recipe.id
        route.run(lambda name: store.call(client, f"store a note in {name}",
                                          lambda: client.upsert(name, points=points, wait=True)))
    return {"id": document_id, "collection": route.name, "path": path, "chunks": len(points),
            "notices": list(ctx.notices) if ctx else []}


@operation(takes_project=True, read_only=True, mcp_tool="retrieve")
def retrieve(
    ws: Workspace,
    document_id: str | None = None,
    path: str | None = None,
    collection: str | None = None,
    project_path: str | None = None,
) -> Retrieved:
    """A note by its id (or any chunk by its point id), or the indexed chunks of a file by path.

    Exactly one of ``document_id`` and ``path`` is required; ``path`` is relative to
    the project root (or absolute inside it). Chunks come ordered by ``chunk_index``.
    """
    if (document_id is None) == (path is None):
        raise InvalidArgument("Give exactly one of a document id and a path.")
    route = choose_collection(ws, collection, project_path)
    client = ws.client
    key = document_id.strip() if document_id is not None else None
    if key == "":
        raise InvalidArgument("The document id is empty.")
    rel = None
    if path is not None:
        rel = relative_to_project(ws.project(project_path, auto_migrate=False), path)

    def fetch(name: str) -> list[qm.Record]:
        if key is not None:
            found = _scroll(ws, name, "document_id", key)
            if not found and _is_uuid(key):
                found = store.call(client, f"read a point of {name}",
                                   lambda: client.retrieve(name, ids=[key], with_payload=True))
            return found
        assert rel is not None
        found = _scroll(ws, name, "path", rel)
        files = [r for r in found if (r.payload or {}).get("source") == schema.SOURCE_FILE]
        return files or found  # a file wins over a note that happens to share its path

    records = route.run(fetch)
    name, notices = route.name, list(route.ctx.notices) if route.ctx else []
    if not records and key is not None:
        raise InvalidArgument(f"No note or chunk with id {key!r} is in {name}.")
    if not records:
        raise InvalidArgument(f"{rel} is not in the index of {name}; run `wqm ingest` if it "
                              "should be.")
    records.sort(key=lambda r: int((r.payload or {}).get("chunk_index", 0)))
    chunks = [_chunk(r) for r in records]
    first = records[0].payload or {}
    return {
        "collection": name,
        "document_id": first.get("document_id"),
        "path": first.get("path"),
        "source": first.get("source"),
        "title": first.get("title"),
        "metadata": first.get("metadata"),
        "content": stitch(chunks),
        "chunks": chunks,
        "notices": notices,
    }


def _scroll(ws: Workspace, name: str, key: str, value: str) -> list[qm.Record]:
    client = ws.client
    flt = qm.Filter(must=[qm.FieldCondition(key=key, match=qm.MatchValue(value=value))])
    found: list[qm.Record] = []
    offset: Any = None
    while True:
        with store.guarded(client, f"read {value} from {name}"):
            records, offset = client.scroll(name, scroll_filter=flt, limit=_PAGE, offset=offset,
                                            with_payload=True, with_vectors=False)
        found.extend(records)
        if offset is None:
            return found


def _chunk(record: qm.Record) -> RetrievedChunk:
    payload = dict(record.payload or {})
    return {
        "id": str(record.id),
        "chunk_index": payload.get("chunk_index"),
        "start_line": payload.get("start_line"),
        "end_line": payload.get("end_line"),
        "content": payload.get("content", ""),
        "payload": payload,
    }


def stitch(chunks: list[RetrievedChunk]) -> str:
    """Join ordered chunks back into text: overlapping lines once, blank gaps restored.

    Syntax chunks leave the blank lines between definitions out; they are put
    back as empty lines, so the text keeps its line numbers.
    """
    parts: list[str] = []
    last_end = 0
    for chunk in chunks:
        if (chunk.get("payload") or {}).get("start_col") is not None:  # piece of a long line
            parts.append(str(chunk["content"]))
            end = chunk.get("end_line")
            last_end = max(last_end, int(end)) if isinstance(end, int) else last_end
            continue
        lines = split_lines(str(chunk["content"]))
        start = chunk.get("start_line")
        skip = max(0, last_end - int(start) + 1) if isinstance(start, int) else 0
        if isinstance(start, int) and last_end and start > last_end + 1:
            parts.append("\n" * (start - last_end - 1))  # blank lines between definitions
        parts.extend(lines[skip:])
        end = chunk.get("end_line")
        last_end = max(last_end, int(end)) if isinstance(end, int) else last_end
    return "".join(parts)


def _is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True


def relative_to_project(ctx: ProjectContext, path: str) -> str:
    """``path`` (absolute, or relative to the project root) as a POSIX path inside the project."""
    raw = Path(path).expanduser()
    candidate = raw if raw.is_absolute() else ctx.root / raw
    real = os.path.realpath(candidate) if candidate.exists() else os.path.abspath(candidate)
    root = os.path.realpath(ctx.root)
    try:
        rel = Path(os.path.normpath(real)).relative_to(root).as_posix()
    except ValueError:
        raise InvalidArgument(
            f"The path {path!r} is outside the project at {ctx.root}; give a path inside it."
        ) from None
    if rel in ("", "."):
        raise InvalidArgument("The path is the project folder itself; give a file inside it.")
    return rel
