"""Search: by meaning, by keyword, hybrid; filters; any of a project's names; clear errors.

One small repository of distinct functions is ingested once per module (real
model, real embedded Qdrant); the read-only tests share it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from conftest import git
from workspace_qdrant_mcp.cli import app
from workspace_qdrant_mcp.config import Settings
from workspace_qdrant_mcp.core.errors import CollectionNotFound, InvalidArgument
from workspace_qdrant_mcp.ops import ingest as pipeline
from workspace_qdrant_mcp.ops.search import glob_variants, search, snippet
from workspace_qdrant_mcp.workspace.workspace import Workspace

#: Every test here runs on each embedded engine (conftest.engine).
pytestmark = pytest.mark.usefixtures("engine")

SOURCES: dict[str, str] = {
    "src/geometry.py": (
        "import math\n\n\n"
        "def circle_area(radius: float) -> float:\n"
        '    """Return the area of a circle with the given radius."""\n'
        "    return math.pi * radius ** 2\n"
    ),
    "src/mailer.py": (
        "def send_welcome_email(user):\n"
        '    """Send the greeting message to a user who just signed up."""\n'
        "    smtp_client.send(to=user.address, subject='Welcome aboard!')\n"
    ),
    "src/csv_tools.py": (
        "def parse_csv_rows(text):\n"
        '    """Split comma separated values into rows of fields."""\n'
        "    return [line.split(',') for line in text.splitlines()]\n"
    ),
    "src/lru.go": (
        "package cache\n\n"
        "// EvictLeastRecentlyUsed drops the entry that was used longest ago.\n"
        "func (c *Cache) EvictLeastRecentlyUsed() {\n"
        "\tel := c.order.Back()\n\tc.order.Remove(el)\n\tdelete(c.items, el.Value.(string))\n}\n"
    ),
    "web/retry.ts": (
        "export async function retryWithBackoff(fn: () => Promise<void>, attempts = 5) {\n"
        "  // retry a failed network request, doubling the delay each time\n"
        "  for (let i = 0; i < attempts; i++) {\n"
        "    try { return await fn(); } catch { await sleep(2 ** i * 100); }\n"
        "  }\n}\n"
    ),
    "docs/install.md": (
        "# Installation\n\nInstall the package with pip, then run the setup command once.\n"
    ),
}


def build_repo(root: Path, files: dict[str, str] | None = None) -> Path:
    """A committed git repository holding ``files`` (default: SOURCES)."""
    root.mkdir(parents=True)
    git(root, "init", "-q", "-b", "main")
    for rel, text in (files or SOURCES).items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "initial")
    return root


@contextmanager
def indexed_repo(base: Path, model_cache_dir: Path, engine: str | None = None
                 ) -> Iterator[tuple[Workspace, Path]]:
    """A workspace with its own data dir under ``base`` (on ``engine``) and SOURCES ingested."""
    settings = Settings.from_env({}, data_dir=base / "data", cache_dir=model_cache_dir,
                                 service="off", engine=engine)
    root = build_repo(base / "repo")
    ws = Workspace(settings).open()
    try:
        pipeline.ingest(ws, project_path=str(root))
        yield ws, root
    finally:
        ws.close()


@pytest.fixture(scope="module")
def indexed(
    tmp_path_factory: pytest.TempPathFactory, model_cache_dir: Path, module_engine: str
) -> Iterator[tuple[Workspace, Path]]:
    """SOURCES indexed once per engine, shared by the module's read-only tests."""
    with indexed_repo(tmp_path_factory.mktemp("search"), model_cache_dir,
                      module_engine) as pair:
        yield pair


def run(indexed: tuple[Workspace, Path], query: str, **params: Any) -> dict[str, Any]:
    ws, root = indexed
    return search(ws, query, project_path=str(root), **params)


def top_path(result: dict[str, Any]) -> str:
    return str(result["results"][0]["path"])


@pytest.mark.parametrize("mode", ["hybrid", "dense"])
@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("compute the area of a circle from its radius", "src/geometry.py"),
        ("greet a new user by email after sign up", "src/mailer.py"),
        ("remove the oldest unused item from the cache", "src/lru.go"),
        ("try the request again with an increasing delay", "web/retry.ts"),
        ("how do I install it", "docs/install.md"),
    ],
)
def test_finds_a_function_by_description(
    indexed: tuple[Workspace, Path], mode: str, query: str, expected: str
) -> None:
    assert top_path(run(indexed, query, mode=mode)) == expected


def test_sparse_finds_an_identifier_by_its_words(indexed: tuple[Workspace, Path]) -> None:
    assert top_path(run(indexed, "parse csv rows", mode="sparse")) == "src/csv_tools.py"
    assert top_path(run(indexed, "retryWithBackoff", mode="sparse")) == "web/retry.ts"


def test_sparse_query_without_any_word_finds_nothing(indexed: tuple[Workspace, Path]) -> None:
    assert run(indexed, "!!! ???", mode="sparse")["results"] == []


def test_result_shape(indexed: tuple[Workspace, Path]) -> None:
    ws, root = indexed
    result = run(indexed, "circle area", limit=3)
    assert result["collection"] == ws.project(root).current_name
    assert result["mode"] == "hybrid" and result["notices"] == []
    hit = result["results"][0]
    assert set(hit) == {"score", "path", "start_line", "end_line", "snippet", "payload", "id",
                        "symbol"}
    assert hit["symbol"] == hit["payload"]["symbol"]
    lines = SOURCES["src/geometry.py"].splitlines(keepends=True)
    assert hit["payload"]["content"] == "".join(lines[hit["start_line"] - 1:hit["end_line"]])
    assert hit["payload"]["symbol"] == "circle_area"  # the chunk follows the definition
    assert (hit["start_line"], hit["end_line"]) == (4, 6)
    assert "circle_area" in hit["snippet"]
    assert hit["payload"]["language"] == "python" and hit["payload"]["source"] == "file"
    json.dumps(result)  # JSON-ready: the service sends it as is


@pytest.mark.parametrize("limit", [1, 2, 5])
def test_limit_is_honoured(indexed: tuple[Workspace, Path], limit: int) -> None:
    assert len(run(indexed, "function", limit=limit)["results"]) == limit


def test_language_filter(indexed: tuple[Workspace, Path]) -> None:
    result = run(indexed, "cache eviction", language="go")
    assert {h["path"] for h in result["results"]} == {"src/lru.go"}
    assert run(indexed, "circle", language="Python", limit=20)["results"]
    assert run(indexed, "circle", language="cobol")["results"] == []


@pytest.mark.parametrize(
    ("glob", "paths"),
    [
        ("src/*.py", {"src/geometry.py", "src/mailer.py", "src/csv_tools.py"}),
        ("*.md", {"docs/install.md"}),
        ("**/*.ts", {"web/retry.ts"}),
        ("src/**/*.go", {"src/lru.go"}),
        ("src/?eometry.py", {"src/geometry.py"}),
        ("nothing/*", set()),
        ("install.md", {"docs/install.md"}),  # matches nothing from the root: any folder
        ("geometry.*", {"src/geometry.py"}),
        ("/install.md", set()),  # anchored to the root: no fallback
        ("/docs/*.md", {"docs/install.md"}),
    ],
)
def test_path_glob_filter(indexed: tuple[Workspace, Path], glob: str, paths: set[str]) -> None:
    for mode in ("hybrid", "dense", "sparse"):
        result = run(indexed, "function values", path_glob=glob, limit=20, mode=mode)
        found = {h["path"] for h in result["results"]}
        assert found <= paths
        if mode == "dense":
            assert found == paths  # dense ranks every chunk: all matching paths come back


@pytest.mark.parametrize("mode", ["dense", "sparse", "hybrid"])
@pytest.mark.parametrize(("glob", "language"), [("src/*", None), (None, "python"),
                                                ("*.py", "python"), ("*", "go")])
def test_filters_over_candidates_equal_filters_in_the_query(
    indexed: tuple[Workspace, Path], monkeypatch: pytest.MonkeyPatch, mode: str,
    glob: str | None, language: str | None,
) -> None:
    """The embedded engine's two ways of filtering return the same hits."""
    import workspace_qdrant_mcp.ops.search as search_module

    params: dict[str, Any] = {"mode": mode, "path_glob": glob, "language": language, "limit": 2}
    monkeypatch.setattr(search_module, "LOCAL_MATCH_ANY", 1_000)
    monkeypatch.setattr(search_module, "MIN_POOL", 1)  # force several widening rounds
    monkeypatch.setattr(search_module, "POOL_FACTOR", 1)
    in_query = run(indexed, "send values to the user", **params)["results"]
    monkeypatch.setattr(search_module, "LOCAL_MATCH_ANY", 0)
    over_pool = run(indexed, "send values to the user", **params)["results"]
    assert len(over_pool) == len(in_query)
    assert in_query or mode == "sparse"  # the words need not occur in the Go file
    if mode == "hybrid":  # fused ranks count filtered-out points: same hits, maybe reordered
        assert {h["id"] for h in over_pool} <= {h["id"] for h in run(
            indexed, "send values to the user", **{**params, "limit": 6})["results"]}
    else:
        assert [h["id"] for h in over_pool] == [h["id"] for h in in_query]


def test_a_glob_matching_no_file_says_so(indexed: tuple[Workspace, Path]) -> None:
    missed = run(indexed, "circle area", path_glob="nothing/*")
    assert missed["results"] == []
    assert any("No indexed file matches --path-glob 'nothing/*'" in n
               for n in missed["notices"])
    found = run(indexed, "circle area", path_glob="geometry.py")
    assert {h["path"] for h in found["results"]} == {"src/geometry.py"}
    assert not any("--path-glob" in n for n in found["notices"])


def test_path_glob_and_limit_together(indexed: tuple[Workspace, Path]) -> None:
    result = run(indexed, "install", path_glob="src/*", limit=2, mode="dense")
    assert len(result["results"]) == 2
    assert all(h["path"].startswith("src/") for h in result["results"])


def test_glob_variants() -> None:
    assert glob_variants("src/**/*.py") == ["src/*.py", "src/*/*.py"]
    assert glob_variants("*.md") == ["*.md"]


def test_every_name_gives_the_same_results(indexed: tuple[Workspace, Path]) -> None:
    ws, root = indexed
    ctx = ws.project(root)
    import asyncio

    asyncio.run(ws.aliases.create_alias("_github_com_example_demo", ctx.current_name,
                                        created_by="test"))
    by_default = run(indexed, "send an email")
    by_alias = run(indexed, "send an email", collection="_github_com_example_demo")
    by_physical = run(indexed, "send an email", collection=ctx.physical)
    assert by_alias["collection"] == "_github_com_example_demo"
    strip = [(h["id"], h["score"]) for h in by_default["results"]]
    assert [(h["id"], h["score"]) for h in by_alias["results"]] == strip
    assert [(h["id"], h["score"]) for h in by_physical["results"]] == strip
    ws.state.flush_usage()
    alias = ws.aliases.get_alias_sync("_github_com_example_demo")
    assert alias is not None and alias.hit_count == 1


def test_unknown_collection_lists_the_project_names(indexed: tuple[Workspace, Path]) -> None:
    ws, root = indexed
    current = ws.project(root).current_name
    with pytest.raises(CollectionNotFound) as caught:
        run(indexed, "x", collection="_no_such_name")
    message = str(caught.value)
    assert "\n" not in message
    assert "'_no_such_name'" in message and f"{current} (current)" in message


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({"query": ""}, "query is empty"),
        ({"query": "   \n"}, "query is empty"),
        ({"query": "x", "limit": 0}, "from 1 to 100"),
        ({"query": "x", "limit": 101}, "from 1 to 100"),
        ({"query": "x", "mode": "fuzzy"}, "Unknown search mode"),
        ({"query": "x", "collection": " "}, "collection name is empty"),
    ],
)
def test_invalid_arguments(
    indexed: tuple[Workspace, Path], params: dict[str, Any], fragment: str
) -> None:
    ws, root = indexed
    with pytest.raises(InvalidArgument, match=fragment):
        search(ws, project_path=str(root), **params)


def test_project_without_data_when_automatic_indexing_is_off(
    settings: Settings, make_repo: Callable[..., Path]
) -> None:
    ws = Workspace(settings.with_overrides(auto_index=False)).open()
    try:
        root = make_repo()
        with pytest.raises(CollectionNotFound, match="no data yet; run `wqm ingest`"):
            search(ws, "anything", project_path=str(root))
    finally:
        ws.close()


def test_first_search_of_a_project_indexes_it_and_says_so(
    open_workspace: Callable[[], Workspace], make_repo: Callable[..., Path]
) -> None:
    ws = open_workspace()
    root = make_repo(files={"billing.py": "def invoice_total(lines):\n    return sum(lines)\n"})
    first = search(ws, "invoice total", project_path=str(root), mode="sparse")
    assert first["index"] is not None and first["index"]["state"] in ("building", "partial",
                                                                      "complete")
    if first["index"]["state"] != "complete":
        assert any("being built" in n or "not embedded" in n or "being completed" in n
                   for n in first["notices"])
    job = ws.jobs.get(str(root.resolve()))
    assert job is not None and job.join(timeout=120)
    done = search(ws, "invoice total", project_path=str(root))
    assert done["index"]["state"] == "complete"
    assert done["results"][0]["path"] == "billing.py"


def test_snippet_prefers_lines_sharing_query_words() -> None:
    text = "import os\n\n\ndef unrelated():\n    pass\n\ndef parse_config(path):\n    return 1\n"
    assert snippet(text, "parse config").startswith("def parse_config(path):")
    assert len(snippet("x" * 1000, "x")) == 240


# ----------------------------------------------------------------------------- CLI


@pytest.fixture
def cli_repo(data_dir: Path, tmp_path: Path) -> Path:
    root = build_repo(tmp_path / "cli-repo")
    result = CliRunner().invoke(app, ["ingest", str(root)])
    assert result.exit_code == 0, result.output
    return root


def test_cli_search_formats(cli_repo: Path) -> None:
    runner = CliRunner()
    args = ["search", "area of a circle", "--project", str(cli_repo), "--limit", "2"]
    table = runner.invoke(app, args)
    assert table.exit_code == 0, table.output
    assert " src/geometry.py:4-6" in table.stdout.splitlines()[0]  # rank, score, location
    # the matched lines as lines, with their numbers
    assert "        4 | def circle_area(radius: float) -> float:" in table.stdout.splitlines()
    simple = runner.invoke(app, [*args, "--format", "simple"])
    lines = simple.stdout.splitlines()
    assert len(lines) == 2 and lines[0].startswith("src/geometry.py:4-6\t")
    as_json = json.loads(runner.invoke(app, [*args, "--format", "json", "--mode", "dense"]).stdout)
    assert as_json["mode"] == "dense" and as_json["results"][0]["payload"]["path"] == (
        "src/geometry.py")
    filtered = runner.invoke(app, ["search", "function", "--project", str(cli_repo), "--language",
                                   "typescript", "--path-glob", "web/*", "-f", "simple"])
    assert [line.split("\t")[0] for line in filtered.stdout.splitlines()] == ["web/retry.ts:1-6"]


def test_cli_search_errors(cli_repo: Path) -> None:
    runner = CliRunner()
    empty = runner.invoke(app, ["search", "", "--project", str(cli_repo)])
    assert empty.exit_code == 1
    assert empty.stderr == "Error: The search query is empty; give some words to search for.\n"
    unknown = runner.invoke(app, ["search", "x", "--project", str(cli_repo),
                                  "--collection", "_nope"])
    assert unknown.exit_code == 1
    assert unknown.stderr.startswith("Error: No collection or alias is named '_nope'; this "
                                     "project's names are: _path_")
    assert unknown.stderr.count("\n") == 1
    bad_mode = runner.invoke(app, ["search", "x", "--mode", "fuzzy"])
    assert bad_mode.exit_code == 2
    nothing = runner.invoke(app, ["search", "zzzz", "--project", str(cli_repo),
                                  "--path-glob", "none/*"])
    assert nothing.exit_code == 0 and nothing.stdout == ""
    assert "No results" in nothing.stderr


def test_unknown_collection_is_reported_even_when_no_keyword_survives(
    indexed: tuple[Workspace, Path],
) -> None:
    ws, root = indexed
    with pytest.raises(CollectionNotFound):
        search(ws, "the a of", project_path=str(root), collection="_nope", mode="sparse")
