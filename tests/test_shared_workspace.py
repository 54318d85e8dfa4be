"""One data directory, many processes: CLI loops and an MCP server share the service.

Real processes only: a shell-free CLI search loop (a child that runs the real
``wqm search`` executable again and again), the real ``wqm project`` commands
changing aliases, and a real ``workspace-qdrant-mcp`` driven by the official
``mcp`` client, all on one data dir through the workspace service.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from conftest import git, run_wqm
from test_mcp import FILES, mcp_server
from workspace_qdrant_mcp.backends.service import stop_service
from workspace_qdrant_mcp.config import Settings
from workspace_qdrant_mcp.core.runfiles import ServicePaths, read_pid_info

NEW_NAME = "_github_com_acme_shared"

#: A child that runs ``wqm search`` until a stop file appears, one JSON line per call.
SEARCH_LOOP = textwrap.dedent(
    """
    import json, subprocess, sys, time
    from pathlib import Path
    wqm, stop, out, query, collection = sys.argv[1:6]
    with open(out, "w") as log:
        while not Path(stop).exists():
            started = time.monotonic()
            done = subprocess.run([wqm, "search", query, "--collection", collection,
                                   "--format", "json", "--limit", "3"],
                                  capture_output=True, text=True)
            hits = -1
            if done.returncode == 0:
                hits = len(json.loads(done.stdout)["results"])
            log.write(json.dumps({"rc": done.returncode, "hits": hits,
                                  "ms": (time.monotonic() - started) * 1000,
                                  "stderr": done.stderr.strip()}) + "\\n")
            log.flush()
    """
)


@pytest.fixture
def shared(data_dir: Path, monkeypatch: pytest.MonkeyPatch,
           make_repo: Callable[..., Path]) -> Iterator[tuple[Path, Settings]]:
    """An indexed repo on a data dir served by the workspace service (stopped at teardown)."""
    monkeypatch.setenv("WQM_SERVICE", "auto")
    settings = Settings.from_env()
    repo = make_repo("shared", FILES)
    done = run_wqm("ingest", str(repo), "--format", "json")
    assert done.returncode == 0, done.stderr
    yield repo, settings
    stop_service(settings)


def _path_name(repo: Path) -> str:
    status = run_wqm("status", str(repo), "--format", "json")
    assert status.returncode == 0, status.stderr
    return str(json.loads(status.stdout)["current_name"])


def _start_loop(tmp_path: Path, name: str, collection: str) -> tuple[subprocess.Popen[str], Path, Path]:
    stop = tmp_path / f"{name}.stop"
    out = tmp_path / f"{name}.jsonl"
    wqm = str(Path(sys.executable).with_name("wqm"))
    child = subprocess.Popen(
        [sys.executable, "-c", SEARCH_LOOP, wqm, str(stop), str(out),
         "compute the invoice total with tax", collection],
        text=True,
    )
    return child, stop, out


def _stop_loop(child: subprocess.Popen[str], stop: Path, out: Path) -> list[dict[str, object]]:
    stop.touch()
    assert child.wait(timeout=120) == 0
    return [json.loads(line) for line in out.read_text().splitlines()]


async def test_cli_loop_cli_changes_and_mcp_server_share_one_store(
    shared: tuple[Path, Settings], tmp_path: Path
) -> None:
    repo, settings = shared
    old_name = _path_name(repo)
    loop, stop, out = _start_loop(tmp_path, "search", old_name)
    changes = 0
    try:
        async with mcp_server(tmp_path, project=repo) as server:
            deadline = time.monotonic() + 20
            git(repo, "remote", "add", "origin", "git@github.com:acme/shared.git")
            while time.monotonic() < deadline:
                done = run_wqm("project", "update-remote", "--project-path", str(repo), "--yes")
                assert done.returncode == 0, done.stderr
                changes += 1
                # The MCP server sees the new name at its very next call.
                names = {a["alias_name"] for a in (await server.ok("list_aliases"))["aliases"]}
                assert NEW_NAME in names
                found = await server.ok("search", query="invoice total", collection=NEW_NAME)
                assert found["results"], "search through the new name came back empty"
                done = run_wqm("project", "undo", "--yes", "-p", str(repo))
                assert done.returncode == 0, done.stderr
                changes += 1
                names = {a["alias_name"] for a in (await server.ok("list_aliases"))["aliases"]}
                assert NEW_NAME not in names
                gone = await server.error("search", query="invoice total", collection=NEW_NAME)
                assert NEW_NAME in gone and old_name in gone
                found = await server.ok("search", query="invoice total", collection=old_name)
                assert found["results"]
    finally:
        calls = _stop_loop(loop, stop, out)
    assert changes >= 4
    assert len(calls) >= 5, "the search loop should have run throughout"
    failures = [c for c in calls if c["rc"] != 0 or c["hits"] == 0]
    assert not failures, failures[:3]
    info = read_pid_info(ServicePaths.for_settings(settings))
    assert info is not None, "one service served everyone and is still running"


def test_service_killed_during_a_search_loop(shared: tuple[Path, Settings],
                                            tmp_path: Path) -> None:
    repo, settings = shared
    name = _path_name(repo)
    before = json.loads(run_wqm("status", str(repo), "--format", "json").stdout)
    first = read_pid_info(ServicePaths.for_settings(settings))
    assert first is not None
    loop, stop, out = _start_loop(tmp_path, "killed", name)
    try:
        time.sleep(3)
        os.kill(int(first["pid"]), signal.SIGKILL)
        time.sleep(6)
    finally:
        calls = _stop_loop(loop, stop, out)
    second = read_pid_info(ServicePaths.for_settings(settings))
    assert second is not None and second["pid"] != first["pid"], "a new service took over"
    after = json.loads(run_wqm("status", str(repo), "--format", "json").stdout)
    assert after["points"] == before["points"] and after["names"] == before["names"]
    failures = [c for c in calls if c["rc"] != 0]
    # Searches are read-only: one cut by the kill is retried on the new service. Any failure
    # must still be one clear line, never a traceback.
    for failure in failures:
        assert str(failure["stderr"]).startswith("Error: "), failure
        assert "Traceback" not in str(failure["stderr"])
    assert len([c for c in calls if c["rc"] == 0]) >= 3


def test_cut_write_is_reported_clearly_and_the_next_call_completes(
    shared: tuple[Path, Settings], tmp_path: Path
) -> None:
    """A write cut by the service's death is not retried (it may have applied): it fails with
    one clear line; running it again completes the work."""
    repo, settings = shared
    for index in range(40):
        (repo / f"notes_{index}.md").write_text(f"# Note {index}\n\n" + "lorem ipsum " * 200)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "more")
    wqm = str(Path(sys.executable).with_name("wqm"))
    child = subprocess.Popen([wqm, "ingest", str(repo)], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    info = read_pid_info(ServicePaths.for_settings(settings))
    assert info is not None
    time.sleep(1.5)
    os.kill(int(info["pid"]), signal.SIGKILL)
    _, stderr = child.communicate(timeout=120)
    if child.returncode == 0:
        pytest.skip("the ingest finished before the kill landed on this machine")
    assert child.returncode == 1
    assert stderr.strip().splitlines()[-1].startswith("Error: The workspace service stopped")
    assert "Traceback" not in stderr
    again = run_wqm("ingest", str(repo), "--format", "json")
    assert again.returncode == 0, again.stderr
    status = json.loads(run_wqm("status", str(repo), "--format", "json").stdout)
    assert status["files"] == len(FILES) + 40
