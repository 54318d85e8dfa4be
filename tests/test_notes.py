"""Notes: stored beside the files, searchable like them, untouched by ingestion; retrieval."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from test_search import SOURCES, build_repo, indexed_repo
from workspace_qdrant_mcp.config import Settings
from workspace_qdrant_mcp.core.errors import CollectionNotFound, InvalidArgument
from workspace_qdrant_mcp.ops import ingest as pipeline
from workspace_qdrant_mcp.ops.notes import retrieve, stitch, store_note
from workspace_qdrant_mcp.ops.search import search
from workspace_qdrant_mcp.workspace.workspace import Workspace

#: Every test here runs on each embedded engine (conftest.engine).
pytestmark = pytest.mark.usefixtures("engine")


@pytest.fixture(scope="module")
def project(
    tmp_path_factory: pytest.TempPathFactory, model_cache_dir: Path, module_engine: str
) -> Iterator[tuple[Workspace, Path]]:
    with indexed_repo(tmp_path_factory.mktemp("notes"), model_cache_dir, module_engine) as pair:
        yield pair


def test_store_then_retrieve_by_id(project: tuple[Workspace, Path]) -> None:
    ws, root = project
    stored = store_note(ws, "Deploys go out on Tuesdays after the freeze.\n", title="Deploy day",
                        metadata={"tags": ["ops"]}, project_path=str(root))
    assert stored["collection"] == ws.project(root).current_name
    got = retrieve(ws, document_id=stored["id"], project_path=str(root))
    assert got["content"] == "Deploys go out on Tuesdays after the freeze.\n"
    assert got["source"] == "note" and got["title"] == "Deploy day"
    assert got["metadata"] == {"tags": ["ops"]}
    assert got["path"] == f"notes/{stored['id']}"


def test_a_long_note_comes_back_exactly(project: tuple[Workspace, Path]) -> None:
    ws, root = project
    text = "".join(f"Paragraph {i}: the quick brown fox jumps over the lazy dog.\n\n"
                   for i in range(150))
    stored = store_note(ws, text, project_path=str(root))
    assert stored["chunks"] > 1
    got = retrieve(ws, document_id=stored["id"], project_path=str(root))
    assert got["content"] == text
    assert [c["chunk_index"] for c in got["chunks"]] == list(range(stored["chunks"]))


def test_notes_are_searchable_and_survive_ingest(project: tuple[Workspace, Path]) -> None:
    ws, root = project
    stored = store_note(ws, "The staging database password rotates every ninety days.",
                        title="Credential rotation policy", project_path=str(root))
    result = pipeline.ingest(ws, project_path=str(root))
    assert result["chunks_written"] == 0 and result["files_deleted"] == 0
    hits = search(ws, "how often do passwords rotate", project_path=str(root), limit=3)
    assert hits["results"][0]["payload"]["document_id"] == stored["id"]
    assert hits["results"][0]["payload"]["source"] == "note"
    assert retrieve(ws, document_id=stored["id"], project_path=str(root))["title"] == (
        "Credential rotation policy")


def test_retrieve_a_file_by_path(project: tuple[Workspace, Path]) -> None:
    ws, root = project
    got = retrieve(ws, path="src/geometry.py", project_path=str(root))
    assert got["content"] == SOURCES["src/geometry.py"] and got["source"] == "file"
    absolute = retrieve(ws, path=str(root / "src" / "geometry.py"), project_path=str(root))
    assert absolute["chunks"] == got["chunks"]
    by_chunk_id = retrieve(ws, document_id=got["chunks"][0]["id"], project_path=str(root))
    assert by_chunk_id["path"] == "src/geometry.py"


def test_stitch_drops_overlapping_lines() -> None:
    chunks = [
        {"content": "a\nb\nc\n", "start_line": 1, "end_line": 3},
        {"content": "b\nc\nd\n", "start_line": 2, "end_line": 4},
    ]
    assert stitch(chunks) == "a\nb\nc\nd\n"


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({}, "exactly one"),
        ({"document_id": "x", "path": "y"}, "exactly one"),
        ({"path": "../elsewhere.py"}, "outside the project"),
        ({"path": "/etc/passwd"}, "outside the project"),
        ({"path": "."}, "project folder itself"),
        ({"path": "src/missing.py"}, "not in the index"),
        ({"document_id": "no-such-note"}, "No note or chunk"),
        ({"document_id": "00000000-0000-0000-0000-000000000000"}, "No note or chunk"),
    ],
)
def test_retrieve_errors(
    project: tuple[Workspace, Path], params: dict[str, str], fragment: str
) -> None:
    ws, root = project
    with pytest.raises(InvalidArgument, match=fragment):
        retrieve(ws, project_path=str(root), **params)


@pytest.mark.parametrize(
    ("content", "metadata", "fragment"),
    [("", None, "note is empty"), ("  \n", None, "note is empty"),
     ("x", {"bad": {1, 2}}, "JSON-serialisable")],
)
def test_store_errors(
    project: tuple[Workspace, Path], content: str, metadata: dict[str, object] | None,
    fragment: str,
) -> None:
    ws, root = project
    with pytest.raises(InvalidArgument, match=fragment):
        store_note(ws, content, metadata=metadata, project_path=str(root))


def test_unknown_collection(project: tuple[Workspace, Path]) -> None:
    ws, root = project
    with pytest.raises(CollectionNotFound, match="'_nope'"):
        store_note(ws, "text", collection="_nope", project_path=str(root))
    with pytest.raises(CollectionNotFound, match="'_nope'"):
        retrieve(ws, document_id="abc", collection="_nope", project_path=str(root))


def test_a_note_creates_the_collection_of_a_new_project(
    settings: Settings, tmp_path: Path
) -> None:
    root = build_repo(tmp_path / "fresh", {"a.txt": "a\n"})
    ws = Workspace(settings).open()
    try:
        stored = store_note(ws, "first note", project_path=str(root))
        assert stored["collection"] == ws.project(root).current_name
        assert pipeline.ingest(ws, project_path=str(root))["files_indexed"] == 1
        assert retrieve(ws, document_id=stored["id"], project_path=str(root))["content"] == (
            "first note")
    finally:
        ws.close()
