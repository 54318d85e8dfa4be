"""``status``: names (current marked), collection, counts, engine and registry; and the CLI journey."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from conftest import run_wqm
from test_search import SOURCES, build_repo
from workspace_qdrant_mcp.cli import app
from workspace_qdrant_mcp.config import Settings
from workspace_qdrant_mcp.ops import ingest as pipeline
from workspace_qdrant_mcp.ops.notes import store_note
from workspace_qdrant_mcp.ops.status import workspace_status
from workspace_qdrant_mcp.workspace.workspace import Workspace

#: Every test here runs on each embedded engine (conftest.engine).
pytestmark = pytest.mark.usefixtures("engine")


def test_status_before_and_after_ingest(settings: Settings, tmp_path: Path, engine: str) -> None:
    root = build_repo(tmp_path / "repo")
    ws = Workspace(settings).open()
    try:
        before = workspace_status(ws, project_path=str(root))
        assert before["indexed"] is False and before["physical_collection"] is None
        assert before["names"] == [{"name": before["current_name"], "current": True,
                                    "reachable": False}]
        assert before["points"] == before["files"] == before["notes"] == 0

        pipeline.ingest(ws, project_path=str(root))
        store_note(ws, "a note", project_path=str(root))
        ctx = ws.project(root)
        asyncio.run(ws.aliases.create_alias("_github_com_example_status", ctx.current_name))
        after = workspace_status(ws, project_path=str(root))
        assert after["project_root"] == str(root.resolve())
        assert after["physical_collection"] == ctx.physical
        assert after["files"] == len(SOURCES) and after["notes"] == 1
        # every definition is a chunk of its own; the note is one more point
        assert after["points"] >= len(SOURCES) + 1
        assert {n["name"]: n["current"] for n in after["names"]} == {
            "_github_com_example_status": False, ctx.current_name: True}
        assert all(n["reachable"] for n in after["names"])
        assert after["engine"] == settings.engine_description()
        assert after["engine"].startswith(f"embedded ({engine}) {settings.data_dir}")
        assert after["registry"] == str(settings.registry_path)
        assert after["data_dir"] == str(settings.data_dir)
        json.dumps(after)
    finally:
        ws.close()


def test_cli_status_table(data_dir: Path, tmp_path: Path) -> None:
    root = build_repo(tmp_path / "repo")
    runner = CliRunner()
    assert runner.invoke(app, ["ingest", str(root)]).exit_code == 0
    result = runner.invoke(app, ["status", str(root)])
    assert result.exit_code == 0, result.output
    lines = {line.split(None, 1)[0]: line for line in result.stdout.splitlines() if line.strip()}
    assert "(current)" in lines["Names"]
    assert lines["Files"].split()[-1] == str(len(SOURCES))
    assert lines["Engine"].split()[1] == "embedded"
    simple = runner.invoke(app, ["status", str(root), "--format", "simple"])
    assert f"Files: {len(SOURCES)}\n" in simple.stdout
    assert f"Engine: {Settings.from_env().engine_description()}\n" in simple.stdout


def test_journey_with_the_real_executable(
    data_dir: Path, make_repo: Callable[..., Path]
) -> None:
    """ingest -> search -> status, each a fresh `wqm` process on the same data dir."""
    root = make_repo(files=SOURCES)
    first = run_wqm("ingest", cwd=root)
    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith(f"Indexed {len(SOURCES)} files")
    assert "chunks to embed" in first.stderr  # plain progress lines: stderr is not a terminal
    again = run_wqm("ingest", str(root), "--format", "json")
    assert json.loads(again.stdout)["chunks_written"] == 0
    found = run_wqm("search", "retry with exponential backoff", "--format", "json", cwd=root)
    assert found.returncode == 0, found.stderr
    assert json.loads(found.stdout)["results"][0]["path"] == "web/retry.ts"
    status = run_wqm("status", "--format", "json", cwd=root / "src")
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["files"] == len(SOURCES)
