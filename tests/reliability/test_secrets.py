"""A token in a remote URL is found nowhere: not on disk, not in the service log, not in any output.

A project with data gains the remote ``https://user:tok_SECRET123@github.com/u/r.git``;
then, with the workspace service ON (so there is a service log), the real
``wqm`` executable runs every command that touches the project's identity or
its names: update-remote (dry run, apply, again), status, searches through the
old and new names and through a name that does not exist (an error that lists
the project's names), list-aliases, history, undo and redo, doctor,
stale-aliases, service status and service logs, in text and JSON. Then every
byte under the data directory (registry, its ``-wal``/``-shm``, the whole
Qdrant storage folder, the service log) is scanned, while the service runs and
again after it stopped, and so is the stdout and stderr of every command: no
``tok_SECRET123``, no ``user:``.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from _project_support import add_points, files_containing, opened
from conftest import git, run_wqm
from workspace_qdrant_mcp.backends.service import stop_service
from workspace_qdrant_mcp.config import Settings
from workspace_qdrant_mcp.core import engines
from workspace_qdrant_mcp.core.identity import detect_identity
from workspace_qdrant_mcp.core.runfiles import ServicePaths
from workspace_qdrant_mcp.workspace.projects import ensure_project_collection, locate_project

from ._support import make_repo

pytestmark = pytest.mark.reliability

TOKEN = "tok_SECRET123"
REMOTE = f"https://user:{TOKEN}@github.com/u/r.git"
NEW_NAME = "_github_com_u_r"
FORBIDDEN = (TOKEN.encode(), b"user:")


def _scan(root: Path) -> list[str]:
    return [f"{path} holds {secret!r}" for secret in FORBIDDEN
            for path in files_containing(root, secret)]


def test_token_in_remote_appears_nowhere(data_dir: Path, tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    repo = make_repo(tmp_path / "proj", files={"src/billing.py": "def invoice_total(x):\n"
                                               "    return x * 2\n"})
    settings = Settings.from_env()
    with opened(settings) as ws:  # data under the path-based name, before the remote exists
        ctx = ensure_project_collection(ws.aliases, locate_project(ws.aliases,
                                                                   detect_identity(repo)))
        add_points(ws, ctx.current_name, 20)
        old_name = ctx.current_name
    git(repo, "remote", "add", "origin", REMOTE)
    monkeypatch.setenv("WQM_SERVICE", "auto")
    served = Settings.from_env()
    outputs: list[subprocess.CompletedProcess[str]] = []

    def wqm(*args: str, code: int = 0) -> subprocess.CompletedProcess[str]:
        done = run_wqm(*args, cwd=repo)
        assert done.returncode == code, (args, done.stdout, done.stderr)
        outputs.append(done)
        return done

    try:
        wqm("project", "update-remote", "--dry-run")
        applied = json.loads(wqm("project", "update-remote", "--yes", "--format", "json").stdout)
        assert applied["status"] == "applied" and applied["new_name"] == NEW_NAME
        assert applied["remote"] == "https://github.com/u/r.git"
        wqm("project", "update-remote", "--yes")  # nothing to do
        wqm("status")
        wqm("status", "--format", "json")
        for name in (old_name, NEW_NAME):
            found = json.loads(wqm("search", "invoice total", "--mode", "sparse", "--collection",
                                   name, "--format", "json").stdout)
            assert found["collection"] == name
        wqm("search", "chunk", "--mode", "sparse")
        missing = wqm("search", "invoice", "--mode", "sparse", "--collection", "_github_com_u_nope",
                      code=1)
        assert NEW_NAME in missing.stderr  # the error lists the project's names
        wqm("project", "list-aliases")
        wqm("project", "list-aliases", "--format", "json")
        wqm("project", "history")
        wqm("project", "history", "--format", "json")
        wqm("project", "undo", "--dry-run")
        wqm("project", "undo", "--yes")
        wqm("project", "undo", "--yes", "--format", "json")  # redo
        wqm("project", "doctor")
        wqm("project", "doctor", "--format", "json")
        wqm("project", "stale-aliases", "--days", "0")
        wqm("project", "stale-aliases", "--days", "0", "--format", "json")
        wqm("service", "status")
        log = ServicePaths.for_settings(served).log_file
        assert log.is_file() and log.stat().st_size > 0
        wqm("service", "logs")
        registry = served.registry_path
        assert registry.is_file() and registry.with_name("registry.db-wal").is_file()
        store = engines.store_path(data_dir, engines.current(data_dir, None))
        assert any(store.rglob("*"))  # the scan below covers the engine's files
        assert _scan(data_dir) == [], "found while the service runs"
    finally:
        stop_service(served)
    assert _scan(data_dir) == [], "found after the service stopped"
    assert len(outputs) >= 20
    for done in outputs:
        text = done.stdout + done.stderr
        assert TOKEN not in text and "user:" not in text, (done.args, text)
    assert any("https://github.com/u/r.git" in d.stdout for d in outputs)  # the remote was seen
