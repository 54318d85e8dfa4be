"""Ingestion: chunking, the file walk, and incremental indexing against a real embedded Qdrant.

Real git repositories, the real model, a real store; nothing is mocked. The
incremental tests each get their own data directory; the model loads once.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from conftest import git
from workspace_qdrant_mcp.cli import app
from workspace_qdrant_mcp.config import Settings
from workspace_qdrant_mcp.core.errors import Cancelled, InvalidArgument
from workspace_qdrant_mcp.ingest import chunker, walker
from workspace_qdrant_mcp.ingest.chunker import chunk_text, language_of, split_lines
from workspace_qdrant_mcp.ops import ingest as pipeline
from workspace_qdrant_mcp.ops.search import search
from workspace_qdrant_mcp.workspace import indexer
from workspace_qdrant_mcp.workspace.index_state import dense_missing
from workspace_qdrant_mcp.workspace.indexer import indexed_files
from workspace_qdrant_mcp.workspace.workspace import Workspace

#: Every test here runs on each embedded engine (conftest.engine).
pytestmark = pytest.mark.usefixtures("engine")

# ----------------------------------------------------------------------------- chunker


def _random_text(rng: random.Random) -> str:
    lines = []
    for _ in range(rng.randint(0, 250)):
        width = rng.choice([0, 0, 5, 30, 80, 400, 3000])
        lines.append("a" * rng.randint(0, width) + rng.choice(["\n", "\r\n"]))
    text = "".join(lines)
    return text.rstrip("\n") if rng.random() < 0.3 else text


@pytest.mark.parametrize("seed", range(30))
def test_chunks_are_exact_ranges_bounded_and_always_advance(seed: int) -> None:
    text = _random_text(random.Random(seed))
    lines = split_lines(text)
    previous = (0, 0)  # (end line, end column of a piece; 0 for whole lines)
    for chunk in chunk_text(text):
        assert len(chunk.content) <= chunker.MAX_CHARS
        if chunk.start_col is None:  # whole lines
            assert chunk.content == "".join(lines[chunk.start_line - 1:chunk.end_line])
            assert chunk.end_line > previous[0]
            assert chunk.start_line > previous[0] - 4  # at most 3 lines of overlap
            assert chunk.end_line - chunk.start_line < chunker.MAX_LINES
            previous = (chunk.end_line, 0)
        else:  # a piece of one overlong line
            line = lines[chunk.start_line - 1]
            assert len(line) > chunker.MAX_CHARS and chunk.start_line == chunk.end_line
            assert chunk.content == line[chunk.start_col:chunk.end_col]
            assert (chunk.start_line, chunk.start_col) >= previous
            previous = (chunk.end_line, chunk.end_col or 0)


@pytest.mark.parametrize("seed", range(10))
def test_chunks_without_overlap_join_back_exactly(seed: int) -> None:
    text = _random_text(random.Random(seed))
    assert "".join(c.content for c in chunk_text(text, overlap=0, keep_blank=True)) == text


def test_a_huge_line_is_cut_into_pieces_with_column_ranges() -> None:
    text = "short\n" * 10 + "x" * 5000 + "\n" + "tail\n"
    chunks = chunk_text(text)
    pieces = [c for c in chunks if c.start_col is not None]
    assert [(c.start_line, c.start_col, c.end_col) for c in pieces] == [
        (11, start, start + chunker.MAX_CHARS) for start in range(0, 5000, chunker.MAX_CHARS)]
    assert "".join(c.content for c in pieces) == "x" * 5000  # the bare newline holds nothing
    assert chunks[-1].end_line == 12 and chunks[-1].content == "tail\n"


def test_line_numbers_count_newlines_only() -> None:
    chunks = chunk_text("a\x0cb\nc\u2028d\ne\n")
    assert [(c.start_line, c.end_line) for c in chunks] == [(1, 3)]


@pytest.mark.parametrize(
    ("path", "language"),
    [("src/a.py", "python"), ("web/App.TSX", "typescript"), ("Makefile", "make"),
     ("deploy/Dockerfile.prod", "dockerfile"), ("x/main.go", "go"), ("notes.md", "markdown"),
     ("LICENSE", "text"), ("data.unknownext", "text")],
)
def test_language_from_name(path: str, language: str) -> None:
    assert language_of(path) == language


# ----------------------------------------------------------------------------- walker


def test_walk_in_git_uses_git_rules(make_repo: Callable[..., Path]) -> None:
    root = make_repo(files={
        ".gitignore": "*.log\nsecret/\n",
        "a.py": "print(1)\n",
        "sub/.gitignore": "local.txt\n",
        "sub/local.txt": "ignored by a nested .gitignore\n",
        "sub/b.md": "# b\n",
        "node_modules/dep/index.js": "module.exports = 1\n",
        "package-lock.json": "{}\n",
    })
    (root / "debug.log").write_text("ignored\n")
    (root / "secret").mkdir()
    (root / "secret" / "key.txt").write_text("ignored\n")
    (root / "untracked.py").write_text("x = 1\n")
    (root / "a_link.py").symlink_to(root / "a.py")
    result = walker.walk(root)
    assert result.git
    assert result.files == [".gitignore", "a.py", "sub/.gitignore", "sub/b.md", "untracked.py"]
    assert result.skipped == {walker.SKIP_VENDORED: 2, walker.SKIP_SPECIAL: 1}


def test_walk_outside_git_follows_gitignore_files(tmp_path: Path) -> None:
    root = tmp_path / "plain"
    for rel, text in {
        ".gitignore": "*.tmp\nbuildout/\n!keep.tmp\n",
        "a.txt": "a\n", "x.tmp": "x\n", "keep.tmp": "k\n", "buildout/o.txt": "o\n",
        "deep/.gitignore": "*.txt\n!wanted.txt\n", "deep/no.txt": "n\n", "deep/wanted.txt": "w\n",
        "deep/code.py": "pass\n", ".venv/lib/site.py": "pass\n",
    }.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    result = walker.walk(root)
    assert not result.git
    assert result.files == [".gitignore", "a.txt", "deep/.gitignore", "deep/code.py",
                            "deep/wanted.txt", "keep.tmp"]
    assert result.skipped == {walker.SKIP_VENDORED: 1}


@pytest.mark.parametrize(
    ("content", "reason"),
    [(b"\x89PNG\r\n\x1a\n\x00\x00\x00", walker.SKIP_BINARY), (b"caf\xe9\n", walker.SKIP_NOT_UTF8),
     (b"y" * 200, walker.SKIP_TOO_LARGE), (b"  \n\n", walker.SKIP_EMPTY), (b"", walker.SKIP_EMPTY),
     (b"ok\n", None),
     (b"\xef\xbb\xbfbom ok\n", None)],
)
def test_read_file_reasons(tmp_path: Path, content: bytes, reason: str | None) -> None:
    target = tmp_path / "f"
    target.write_bytes(content)
    read = walker.read_file(target, max_bytes=100)
    assert read.reason == reason
    assert (read.text is None) == (reason is not None)


# ----------------------------------------------------------------------------- ingest

FILES: dict[str, str | bytes] = {
    ".gitignore": "*.log\nprivate/\n",
    "src/geometry.py": "import math\n\n\ndef circle_area(radius):\n"
                       "    \"\"\"Area of a circle.\"\"\"\n    return math.pi * radius ** 2\n",
    "src/mailer.py": "def send_welcome_email(user):\n    smtp.send(user.address, 'Welcome!')\n",
    "README.md": "# Demo\n\nA demo project.\n",
    "logo.png": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",
    "latin1.txt": b"caf\xe9 cr\xe8me\n",
    "big.txt": "word " * 2000,
    "node_modules/left-pad/index.js": "module.exports = leftPad\n",
}


def indexed_paths(ws: Workspace, project: Path) -> dict[str, set[str]]:
    """path -> content hashes of its file points."""
    ctx = ws.project(project)
    found = indexed_files(ws, ctx.query_name)
    return {path: set(entry.ids) for path, entry in found.items()}


@pytest.fixture
def small_settings(settings: Settings) -> Settings:
    return settings.with_overrides(max_file_bytes=4096)


@pytest.fixture
def repo(make_repo: Callable[..., Path]) -> Path:
    root = make_repo(files=FILES)
    (root / "debug.log").write_text("ignored by .gitignore\n")
    (root / "private").mkdir()
    (root / "private" / "token.txt").write_text("ignored too\n")
    return root


def test_first_ingest_indexes_text_and_counts_skips(small_settings: Settings, repo: Path) -> None:
    ws = Workspace(small_settings).open()
    try:
        events: list[dict[str, Any]] = []
        result = ws_ingest(ws, repo, events.append)
        assert result["files_indexed"] == 4  # .gitignore, two sources, README
        assert result["skipped"] == {"binary": 1, "generated_or_vendored": 1, "not_utf8": 1,
                                     "too_large": 1}
        reasons = {item["path"]: item["reason"] for item in result["skipped_files"]}
        assert reasons == {"latin1.txt": "not_utf8", "big.txt": "too_large"}
        assert result["files_seen"] == (result["files_indexed"] + result["files_unchanged"]
                                        + result["files_skipped"])
        assert result["collection"] == ws.project(repo).current_name
        assert set(indexed_paths(ws, repo)) == {".gitignore", "src/geometry.py", "src/mailer.py",
                                                 "README.md"}
        assert events[-1]["phase"] == "done"
        embed = [e for e in events if e["phase"] == "embed"]
        assert embed and embed[-1]["done"] == embed[-1]["total"] == result["chunks_written"]
        assert result["chunks_dense"] == result["chunks_written"]
    finally:
        ws.close()


def ws_ingest(ws: Workspace, root: Path, progress: Any = None) -> dict[str, Any]:
    return pipeline.ingest(ws, project_path=str(root), progress=progress)


def test_incremental_unchanged_changed_deleted_renamed(small_settings: Settings, repo: Path) -> None:
    ws = Workspace(small_settings).open()
    try:
        ws_ingest(ws, repo)
        before = indexed_paths(ws, repo)
        again = ws_ingest(ws, repo)
        assert again["chunks_written"] == 0 and again["files_indexed"] == 0
        assert again["files_unchanged"] == 4 and again["files_deleted"] == 0

        (repo / "src" / "mailer.py").write_text("def send_goodbye_email(user):\n    pass\n")
        (repo / "README.md").unlink()
        git(repo, "mv", "src/geometry.py", "src/shapes.py")
        (repo / "new.py").write_text("VALUE = 42\n")
        result = ws_ingest(ws, repo)
        assert result["files_indexed"] == 3  # changed, renamed (new path), new
        assert result["files_deleted"] == 2  # deleted, renamed (old path)
        after = indexed_paths(ws, repo)
        assert set(after) == {".gitignore", "src/shapes.py", "src/mailer.py", "new.py"}
        assert after["src/mailer.py"] != before["src/mailer.py"]
        assert len(after["src/mailer.py"]) == 1  # old chunks gone
        assert after["src/shapes.py"] == before["src/geometry.py"]
    finally:
        ws.close()


def test_a_file_that_becomes_binary_leaves_the_index(small_settings: Settings, repo: Path) -> None:
    ws = Workspace(small_settings).open()
    try:
        ws_ingest(ws, repo)
        (repo / "README.md").write_bytes(b"\x00\x01binary now")
        result = ws_ingest(ws, repo)
        assert result["files_deleted"] == 1 and result["skipped"]["binary"] == 2
        assert "README.md" not in indexed_paths(ws, repo)
    finally:
        ws.close()


def test_wqmignore_leaves_out_what_git_keeps_and_a_new_rule_removes_indexed_files(
    small_settings: Settings, repo: Path
) -> None:
    ws = Workspace(small_settings).open()
    try:
        ws_ingest(ws, repo)
        assert "README.md" in indexed_paths(ws, repo)
        (repo / ".wqmignore").write_text("# data a search should not see\n*.md\nsrc/mail*\n")
        result = ws_ingest(ws, repo)
        assert result["skipped"]["wqmignore"] == 2 and result["files_deleted"] == 2
        assert set(indexed_paths(ws, repo)) == {".gitignore", ".wqmignore", "src/geometry.py"}
        (repo / ".wqmignore").write_text("src/mail*\n")  # a rule dropped: the file comes back
        ws_ingest(ws, repo)
        assert "README.md" in indexed_paths(ws, repo)
    finally:
        ws.close()


def test_ingest_outside_git(settings: Settings, tmp_path: Path) -> None:
    root = tmp_path / "folder"
    (root / "pkg").mkdir(parents=True)
    (root / "pkg" / "util.py").write_text("def helper():\n    return 1\n")
    (root / ".gitignore").write_text("*.bak\n")
    (root / "old.bak").write_text("backup\n")
    ws = Workspace(settings).open()
    try:
        result = ws_ingest(ws, root)
        assert not result["git"] and result["collection"].startswith("_path_")
        assert set(indexed_paths(ws, root)) == {".gitignore", "pkg/util.py"}
    finally:
        ws.close()


def test_the_file_system_root_is_refused(settings: Settings) -> None:
    ws = Workspace(settings).open()
    try:
        with pytest.raises(InvalidArgument, match="Refusing to index the whole file system"):
            ws_ingest(ws, Path("/"))
    finally:
        ws.close()


def test_an_ingest_stopped_midway_leaves_every_file_findable_then_completes(
    settings: Settings, make_repo: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Stopped in the dense pass (a service stopping): keywords already cover every file."""
    monkeypatch.setattr(indexer, "DENSE_BATCH", 2)
    body = "".join(f"def function_{i}():\n    return {i}\n\n" for i in range(120))
    root = make_repo(files={"big.py": body, "a.py": "A = 1\n", "z.py": "Z = 1\n"})
    ws = Workspace(settings).open()
    try:
        ws_ingest(ws, root)
        old = indexed_paths(ws, root)["big.py"]
        (root / "big.py").write_text(body.replace("return", "yield"))
        (root / "z.py").write_text("Z = 2\n")

        def stop(event: dict[str, Any]) -> None:
            if event["phase"] == "embed" and event["done"] >= 4:
                ws.stopping.set()

        with pytest.raises(Cancelled):
            ws_ingest(ws, root, stop)
        ws.stopping.clear()
        mid = indexed_paths(ws, root)
        assert len(mid["big.py"]) == 1 and mid["big.py"] != old  # the new version, whole
        name = ws.project(root).query_name
        assert dense_missing(ws, name) > 0  # ...found by keyword, not all embedded yet
        found = search(ws, "function_7 yield", project_path=str(root), mode="sparse")
        assert found["results"][0]["path"] == "big.py"
        resumed = ws_ingest(ws, root)
        assert resumed["files_indexed"] == 0 and resumed["chunks_dense"] > 0
        assert dense_missing(ws, name) == 0
        assert ws_ingest(ws, root)["chunks_written"] == 0
    finally:
        ws.close()


# ----------------------------------------------------------------------------- CLI


def test_cli_ingest_says_nothing_to_embed_the_second_time(
    data_dir: Path, repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WQM_MAX_FILE_BYTES", "4096")
    monkeypatch.chdir(repo / "src")  # no PATH: the project of the working directory
    runner = CliRunner()
    first = runner.invoke(app, ["ingest", "--format", "json"])
    assert first.exit_code == 0, first.output
    assert json.loads(first.stdout)["project_root"] == str(repo.resolve())
    second = runner.invoke(app, ["ingest", str(repo)])
    assert second.exit_code == 0, second.output
    assert "Nothing to embed: the index was already up to date" in second.stdout
    assert "skipped latin1.txt: not_utf8" in second.stdout


def test_cli_ingest_of_a_missing_folder_is_one_error_line(data_dir: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["ingest", str(tmp_path / "nope")])
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: Path ")
    assert result.stderr.count("\n") == 1
