"""Issue 12, proved with real processes: the index follows the code without anyone running ingest.

Every test here runs the real parts: the ``workspace-qdrant-mcp`` server driven
by the official ``mcp`` client over stdio (``tests/test_mcp.py``'s harness),
the real ``wqm`` executable, the workspace service it starts (``WQM_SERVICE=auto``)
with its watcher on (``WQM_WATCH=1``; conftest turns it off for other tests),
real git repositories and plain file writes, and the real embedded Qdrant.
Nothing is mocked. The end state is checked by opening the store in-process
after the service stopped (``assert_converged``): one complete, current version
of every indexable file on disk, and nothing else.

Waits poll with deadlines; timings are measured in ``bench/bench_keep_current.py``,
never asserted here. ``WQM_LONG=1`` adds the slower cases.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from conftest import git, run_wqm
from test_mcp import Server, mcp_server
from workspace_qdrant_mcp.backends.service import stop_service
from workspace_qdrant_mcp.config import Settings
from workspace_qdrant_mcp.core.errors import WqmError
from workspace_qdrant_mcp.core.runfiles import ServicePaths, read_pid_info

LONG = os.environ.get("WQM_LONG") == "1"
#: Seconds any one wait may take before the test fails (generous: the machine is shared).
WAIT = 90.0
REMOTE = "git@github.com:acme/keeper.git"
REMOTE_NAME = "_github_com_acme_keeper"


def marker(index: int) -> str:
    """A word only module ``index`` holds (letters only, so no tokenizer splits it)."""
    return "marker" + "".join(chr(ord("a") + int(d)) for d in f"{index:04d}")


def module_source(index: int, words: str = "") -> str:
    """A small Python module with a few functions whose names carry ``index``."""
    return (
        f'"""Module {index} of the sample project: {marker(index)}."""\n\n\n'
        f"def ledger_entry_{index}(amount):\n"
        f'    """Record an entry of {index} {words}."""\n'
        f"    return amount * {index}\n\n\n"
        f"def audit_trail_{index}(entries):\n"
        f"    return [e for e in entries if e > {index}]\n"
    )


SAMPLE = {
    "README.md": "# keeper\n\nA project the index must keep up with.\n",
    "src/billing.py": (
        '"""Billing."""\n\n\ndef compute_invoice_total(lines, tax_rate):\n'
        '    """Sum the invoice lines and add the tax."""\n'
        "    subtotal = sum(line.price * line.quantity for line in lines)\n"
        "    return round(subtotal * (1 + tax_rate), 2)\n"
    ),
    "src/users.py": "def get_user_name(user):\n    return user.first + ' ' + user.last\n",
    "docs/deploy.md": "# Deploying\n\nRun the container behind the load balancer.\n",
}


# -- harness ---------------------------------------------------------------------------------


@pytest.fixture
def service(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    """The workspace service mode (started on demand by the first client), watching on.

    Stopped at teardown (SIGKILL if it does not stop politely, so a failing test
    never leaves a process behind).
    """
    monkeypatch.setenv("WQM_SERVICE", "auto")
    monkeypatch.setenv("WQM_WATCH", "1")
    monkeypatch.setenv("WQM_SERVICE_IDLE", "600")
    settings = Settings.from_env()
    try:
        yield settings
    finally:
        try:
            stop_service(settings)
        except WqmError:
            stop_service(settings, force=True)


def service_pid(settings: Settings) -> int | None:
    """The running service's pid, or None."""
    info = read_pid_info(ServicePaths.for_settings(settings))
    return int(info["pid"]) if info and info.get("pid") else None


def kill_service(settings: Settings) -> None:
    """SIGKILL the service, as a crash would, and wait until its pid lock is free."""
    pid = service_pid(settings)
    assert pid is not None, "no service to kill"
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while service_pid(settings) is not None:
        assert time.monotonic() < deadline, "the killed service still holds its pid lock"
        time.sleep(0.05)


async def until(check: Callable[[], Awaitable[Any]], what: str, timeout: float = WAIT,
                step: float = 0.2) -> Any:
    """Poll ``check`` until it returns something truthy; fail naming ``what`` at the deadline."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        last = await check()
        if last:
            return last
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}; last: {last!r}")
        await anyio.sleep(step)


def wait_sync(predicate: Callable[[], Any], what: str, timeout: float = WAIT) -> Any:
    """``until`` for plain functions."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}; last: {value!r}")
        time.sleep(0.1)


async def index_state(server: Server) -> dict[str, Any]:
    """``workspace_status``'s ``index`` record."""
    return (await server.ok("workspace_status"))["index"]  # type: ignore[no-any-return]


async def until_complete(server: Server, timeout: float = WAIT) -> dict[str, Any]:
    """Wait until the index is complete and nothing is queued."""
    async def complete() -> dict[str, Any] | None:
        state = await index_state(server)
        return state if state["state"] == "complete" and not state["pending_paths"] else None
    return await until(complete, "a complete index", timeout)  # type: ignore[no-any-return]


def paths_of(found: dict[str, Any]) -> list[str]:
    return [hit["path"] for hit in found["results"]]


async def found_by(server: Server, query: str, collection: str | None = None,
                   mode: str = "sparse", limit: int = 10) -> set[str]:
    """Paths of the file results for ``query`` (keyword mode: exact and cheap)."""
    args: dict[str, Any] = {"query": query, "mode": mode, "limit": limit}
    if collection is not None:
        args["collection"] = collection
    found = await server.ok("search", **args)
    return {hit["path"] for hit in found["results"] if hit["note_id"] is None}


def write(root: Path, files: dict[str, str | bytes]) -> None:
    """Plain file writes, as an editor saves."""
    for rel, content in files.items():
        target = root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            target.write_bytes(content)
        else:
            target.write_text(content)


# -- the end state ---------------------------------------------------------------------------


def indexed_points(settings: Settings, repo: Path) -> list[dict[str, Any]]:
    """Every file point of ``repo``'s index (payload + whether it has a dense vector).

    Opens the store in-process, so the service must be stopped first.
    """
    from qdrant_client import models as qm

    from workspace_qdrant_mcp.workspace.workspace import Workspace

    ws = Workspace(settings.with_overrides(service="off")).open()
    try:
        ctx = ws.project(str(repo), auto_migrate=False)
        assert ctx.physical is not None, "the project has no index"
        source = qm.FieldCondition(key="source", match=qm.MatchValue(value="file"))
        points: list[dict[str, Any]] = []
        offset: Any = None
        while True:
            records, offset = ws.client.scroll(
                ctx.query_name, scroll_filter=qm.Filter(must=[source]), limit=1024,
                offset=offset, with_payload=True, with_vectors=True)
            for record in records:
                vectors = record.vector if isinstance(record.vector, dict) else {}
                payload = dict(record.payload or {})
                payload["_dense"] = "dense" in vectors and bool(vectors["dense"])
                payload["_id"] = str(record.id)
                points.append(payload)
            if offset is None:
                return points
    finally:
        ws.close()


def on_disk(repo: Path) -> dict[str, str]:
    """path -> sha256 of every file the index should hold (what git lists, text, non-empty)."""
    from workspace_qdrant_mcp.ingest import walker

    wanted: dict[str, str] = {}
    max_bytes = Settings.from_env().max_file_bytes  # as the test set it
    for rel in walker.walk(repo).files:
        read = walker.read_file(repo / rel, max_bytes)
        if read.content_hash is not None:
            wanted[rel] = read.content_hash
    return wanted


def assert_converged(settings: Settings, repo: Path, dense: bool = True) -> list[dict[str, Any]]:
    """The index holds exactly the files on disk, each once, complete, at its current content.

    No duplicate (path, chunk_index), no chunk of an old version or of a file
    that is gone, every chunk of each file present (``dense``: with its dense vector).
    """
    points = indexed_points(settings, repo)
    disk = on_disk(repo)
    per_key = Counter((p["path"], p["chunk_index"]) for p in points)
    duplicates = {key: n for key, n in per_key.items() if n > 1}
    assert not duplicates, f"duplicate chunks: {sorted(duplicates)[:10]}"
    versions: dict[str, set[str]] = {}
    for p in points:
        versions.setdefault(p["path"], set()).add(p["content_hash"])
    assert set(versions) == set(disk), (
        f"indexed but gone: {sorted(set(versions) - set(disk))[:10]}; "
        f"on disk but not indexed: {sorted(set(disk) - set(versions))[:10]}")
    stale = {path for path, hashes in versions.items() if hashes != {disk[path]}}
    assert not stale, f"chunks of an old version: {sorted(stale)[:10]}"
    for path in versions:
        mine = [p for p in points if p["path"] == path]
        count = mine[0]["chunk_count"]
        assert sorted(p["chunk_index"] for p in mine) == list(range(count)), path
    if dense:
        missing = [p["path"] for p in points if not p["_dense"]]
        assert not missing, f"chunks without a dense vector: {sorted(set(missing))[:10]}"
    return points


# -- 1. the first search of a project nobody indexed -----------------------------------------


async def test_first_search_indexes_a_fresh_repo_keywords_first_then_complete(
    tmp_path: Path, service: Settings, make_repo: Callable[..., Path]
) -> None:
    repo = make_repo("fresh", SAMPLE)
    async with mcp_server(tmp_path, project=repo) as server:
        before = await server.ok("workspace_status")
        assert before["indexed"] is False and before["index"]["state"] == "none"

        first = await server.ok("search", query="compute invoice total")
        # Never an empty answer that looks final: results, or a notice that indexing runs.
        assert first["results"] or first["notices"], first
        if not any("index" in n for n in first["notices"]):
            # No word of a partial index: then it was complete when the answer was made.
            assert (await index_state(server))["state"] == "complete", first

        async def keyword_hit() -> bool:
            return "src/billing.py" in await found_by(server, "compute_invoice_total")
        await until(keyword_hit, "a keyword result")

        state = await until_complete(server)
        assert state["dense_missing"] == 0 and state["watched"] is True
        assert state["last_sync_at"]
        done = await server.ok("search", query="sum the invoice lines and add tax")
        assert not done["notices"], done["notices"]
        assert paths_of(done)[0] == "src/billing.py"
        dense = await server.ok("search", query="add the tax to the invoice", mode="dense")
        assert paths_of(dense)[0] == "src/billing.py"
    stop_service(service)
    assert_converged(service, repo)


# -- 2. the watcher: edit, delete, rename, under an old and a new name -----------------------


async def test_edits_deletes_and_renames_are_followed_under_old_and_new_names(
    tmp_path: Path, service: Settings, make_repo: Callable[..., Path]
) -> None:
    repo = make_repo("watched", SAMPLE)
    async with mcp_server(tmp_path, project=repo) as server:
        started = await server.ok("index")  # indexed by this very service: watched from now on
        assert started["project_root"] == str(repo.resolve())
        await until_complete(server)
        old = (await server.ok("workspace_status"))["current_name"]
        assert old.startswith("_path_")

        git(repo, "remote", "add", "origin", REMOTE)
        await server.ok("search", query="invoice")  # adds the remote name (status only reads)
        status = await server.ok("workspace_status")
        names = {n["name"]: n["reachable"] for n in status["names"]}
        assert status["current_name"] == REMOTE_NAME and names == {old: True, REMOTE_NAME: True}
        files_before = status["files"]

        async def everywhere(query: str, wanted: set[str]) -> bool:
            """``query`` finds exactly ``wanted`` (among file results) under both names."""
            return all([await found_by(server, query, name) == wanted
                        for name in (old, REMOTE_NAME)])

        # An edit: the new word is only findable once the watcher re-indexed the file.
        write(repo, {"src/billing.py": "def compute_refund_amount(order):\n"
                                       "    return order.paid - order.kept\n"})
        await until(lambda: everywhere("refund", {"src/billing.py"}), "the edit")
        assert await everywhere("invoice", set())

        # A delete: the file count drops (status reads the index; no query-time check).
        (repo / "src/users.py").unlink()

        async def deleted() -> bool:
            return bool((await server.ok("workspace_status"))["files"] == files_before - 1)
        await until(deleted, "the delete")
        assert await everywhere("user", set())

        # A rename of a file, then of a folder (one event for the folder, none per file).
        (repo / "docs/deploy.md").rename(repo / "docs/shipping.md")
        await until(lambda: everywhere("balancer", {"docs/shipping.md"}), "the file rename")
        (repo / "src").rename(repo / "lib")
        await until(lambda: everywhere("refund", {"lib/billing.py"}),
                    "the folder rename")

        # A new folder with a file written right after it was made.
        write(repo, {"pkg/sub/fresh.py": "def brand_new_feature():\n    return 42\n"})
        await until(lambda: everywhere("brand", {"pkg/sub/fresh.py"}), "a new folder")
        await until_complete(server)
    stop_service(service)
    assert_converged(service, repo)


# -- 3. a branch switch touching many files --------------------------------------------------


def indexed_at(settings: Settings) -> dict[str, str]:
    """path -> when the registry recorded it as indexed (readable while the service runs)."""
    import sqlite3

    with contextlib.closing(sqlite3.connect(settings.registry_path)) as conn:
        return dict(conn.execute("SELECT path, indexed_at FROM indexed_files").fetchall())


async def test_a_branch_switch_converges_and_reindexes_only_the_changed_files(
    tmp_path: Path, service: Settings, make_repo: Callable[..., Path]
) -> None:
    count = 200 if LONG else 60
    repo = make_repo("branches", {f"src/mod_{i:03d}.py": module_source(i) for i in range(count)})
    git(repo, "checkout", "-q", "-b", "feature")
    changed = {f"src/mod_{i:03d}.py" for i in range(0, count, 2)}  # half the files
    write(repo, {p: module_source(int(p[8:11]), "on the feature branch zephyrword")
                 for p in changed})
    removed = {f"src/mod_{i:03d}.py" for i in range(1, 11, 2)}
    for p in removed:
        (repo / p).unlink()
    added = {f"src/new_{i}.py": f"def added_on_feature_{i}():\n    return 'quasarword'\n"
             for i in range(5)}
    write(repo, added)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "feature")
    git(repo, "checkout", "-q", "main")

    async with mcp_server(tmp_path, project=repo) as server:
        await server.ok("index")
        await until_complete(server)
        before = indexed_at(service)
        assert len(before) == count

        git(repo, "checkout", "-q", "feature")

        async def switched() -> bool:
            return (len(await found_by(server, "zephyrword", limit=100)) == len(changed)
                    and len(await found_by(server, "quasarword", limit=100)) == len(added))
        await until(switched, "the feature branch's content")
        await until_complete(server)
        for p in sorted(removed)[:2]:
            assert not await found_by(server, marker(int(p[8:11])))
        after = indexed_at(service)
        assert set(after) == set(before) - removed | set(added)
        redone = {p for p in after if p in before and after[p] != before[p]}
        assert redone == changed, f"re-indexed without changing: {sorted(redone - changed)[:5]}"

        # Back to main while the watcher syncs other saved files: the switch is not lost.
        write(repo, {f"scratch/s{i}.py": big_module(1000 + i) for i in range(8)})

        async def syncing() -> bool:
            job = await job_of(server)
            return bool(job.get("running") and job.get("kind") == "sync")
        await until(syncing, "the sync of the saved files", step=0.05)
        git(repo, "checkout", "-q", "main")

        async def back() -> bool:
            return (not await found_by(server, "zephyrword", limit=100)
                    and not await found_by(server, "quasarword", limit=100)
                    and len(await found_by(server, "routine", limit=100)) == 8)
        await until(back, "main's content again")
        await until_complete(server)
    stop_service(service)
    assert_converged(service, repo)


# -- 4. the size limit -----------------------------------------------------------------------


def nothing_written(settings: Settings) -> None:
    """No project, collection, alias or indexed file was recorded, and Qdrant holds nothing."""
    import sqlite3

    with contextlib.closing(sqlite3.connect(settings.registry_path)) as conn:
        for table in ("projects", "collections", "indexed_files", "collection_aliases"):
            assert conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0] == 0, table
    stop_service(settings)
    from workspace_qdrant_mcp.workspace.workspace import Workspace

    ws = Workspace(settings.with_overrides(service="off")).open()
    try:
        assert not ws.client.get_collections().collections
    finally:
        ws.close()


def one_limit_sentence(message: str, setting: str) -> None:
    assert "\n" not in message.strip() and message.strip().endswith("."), message
    assert setting in message and "limit" in message, message
    assert "Traceback" not in message


async def test_a_project_over_the_size_limit_is_refused_by_every_door(
    tmp_path: Path, service: Settings, make_repo: Callable[..., Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("WQM_MAX_PROJECT_FILES", "3")
    settings = Settings.from_env()
    repo = make_repo("big", SAMPLE | {"extra.py": "x = 1\n"})

    done = run_wqm("ingest", str(repo))
    assert done.returncode == 1 and done.stdout == ""
    one_limit_sentence(done.stderr.removeprefix("Error: "), "WQM_MAX_PROJECT_FILES")
    assert "5 files" in done.stderr and "3" in done.stderr

    async with mcp_server(tmp_path, project=repo) as server:
        one_limit_sentence(await server.error("index"), "WQM_MAX_PROJECT_FILES")
        one_limit_sentence(await server.error("search", query="invoice"),
                           "WQM_MAX_PROJECT_FILES")
        status = await server.ok("workspace_status")
        assert status["indexed"] is False and status["index"]["state"] == "none"
    nothing_written(settings)

    # The byte limit, through the CLI (in-process this time: the same guard).
    done = run_wqm("ingest", str(repo), env={"WQM_MAX_PROJECT_FILES": "100",
                                              "WQM_MAX_PROJECT_BYTES": "100",
                                              "WQM_SERVICE": "off"})
    assert done.returncode == 1, done.stdout
    one_limit_sentence(done.stderr.removeprefix("Error: "), "WQM_MAX_PROJECT_BYTES")
    nothing_written(settings)


# -- 5. SIGKILL in the middle of a background index and of a watcher batch -------------------


def big_module(index: int, version: int = 0) -> str:
    """A module of nine chunks (a docstring and eight functions), marked by ``version``."""
    parts = [f'"""Module {index}, version {version}: {marker(index)}."""\n\nimport math\n']
    for j in range(8):
        parts.append(
            f"\n\ndef routine_{index}_{j}(values, scale={j + 1}):\n"
            f'    """Step {j} of module {index}: scale, filter and sum (version {version})."""\n'
            f"    kept = [v * scale for v in values if v > {j}]\n"
            "    total = 0\n"
            "    for item in kept:\n"
            f"        total += math.sqrt(abs(item)) + {version}\n"
            f"    if total > {index * 10 + j}:\n"
            "        return total / len(kept)\n"
            "    return total\n")
    return "".join(parts)


async def job_of(server: Server) -> dict[str, Any]:
    return (await index_state(server))["job"] or {}


async def test_sigkill_mid_index_and_mid_watcher_batch_resume_without_duplicates(
    tmp_path: Path, service: Settings, make_repo: Callable[..., Path]
) -> None:
    count = 120 if LONG else 40
    repo = make_repo("killed", {f"src/m{i:03d}.py": big_module(i) for i in range(count)})
    async with mcp_server(tmp_path, project=repo) as server:
        await server.ok("index")

        async def embedding() -> dict[str, Any] | None:
            job = await job_of(server)
            return job if job.get("phase") == "dense" and job.get("dense_done", 0) > 0 else None
        job = await until(embedding, "the dense pass", step=0.05)
        total = job["dense_total"]
        kill_service(service)

        # The next call starts a new service, whose catch-up finishes the dense pass only.
        await until_complete(server)
        resumed = await job_of(server)
        assert resumed["kind"] == "sync" and resumed["keywords_total"] == 0, resumed
        assert 0 < resumed["dense_total"] < total, (resumed, total)

        # A watcher batch: many files saved at once, killed while it is synced.
        write(repo, {f"src/m{i:03d}.py": big_module(i, 1) for i in range(0, count, 2)})

        async def syncing() -> dict[str, Any] | None:
            job = await job_of(server)
            return job if job.get("running") and job.get("kind") == "sync" else None
        await until(syncing, "the watcher's sync", step=0.05)
        kill_service(service)
        # ...and edits made while no service runs are caught up at the next start.
        write(repo, {f"src/m{i:03d}.py": big_module(i, 2) for i in range(1, count, 4)})
        (repo / "src/m003.py").unlink()
        await until_complete(server)
        assert len(await found_by(server, "version 2", limit=100)) >= 1
    stop_service(service)
    assert_converged(service, repo)


# -- 6. files that change, vanish, turn binary or grow while they are indexed ----------------


async def test_files_changing_while_indexed_converge_to_what_is_on_disk(
    tmp_path: Path, service: Settings, make_repo: Callable[..., Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("WQM_MAX_FILE_BYTES", "20000")
    count = 40
    repo = make_repo("moving", {f"src/m{i:03d}.py": big_module(i) for i in range(count)})
    async with mcp_server(tmp_path, project=repo) as server:
        await server.ok("index")
        version, pending_seen, phases = 0, False, set()
        late_written, late_found_while_building = False, False
        deadline = time.monotonic() + WAIT
        while True:
            state = await index_state(server)
            job = state["job"] or {}
            phases.add(job.get("phase"))
            pending_seen = pending_seen or bool(state["pending_paths"])
            if state["state"] == "complete" and not state["pending_paths"]:
                break
            if job.get("phase") == "dense" and job.get("kind") == "index" and not late_written:
                # A file saved while the full index embeds: searchable before the index ends.
                write(repo, {"src/late.py": "def latecomerword():\n    return 'late'\n"})
                late_written = True
            elif late_written and not late_found_while_building:
                found = await found_by(server, "latecomerword")
                still = (await job_of(server)).get("kind") == "index" and (
                    await index_state(server))["state"] == "building"
                late_found_while_building = found == {"src/late.py"} and still
            assert time.monotonic() < deadline, state
            version += 1
            if version <= 60:  # keep one file changing for most of the index
                write(repo, {"src/m000.py": big_module(0, version)})
            if version == 3:
                (repo / "src/m001.py").unlink()  # deleted mid-index
                write(repo, {"src/m002.py": b"\x00\x01binary now" * 50,  # turned binary
                             "src/m004.py": big_module(4) * 30,  # over WQM_MAX_FILE_BYTES
                             "src/m005.py": ""})  # emptied
                (repo / "src/m006.py").rename(repo / "src/renamed.py")
            await anyio.sleep(0.1)
        assert "dense" in phases and pending_seen, (phases, pending_seen)
        assert late_found_while_building, "a file saved during the full index waited for its end"
        assert await found_by(server, "binary") == set()
    stop_service(service)
    points = assert_converged(service, repo)
    paths = {p["path"] for p in points}
    assert {"src/m001.py", "src/m002.py", "src/m004.py", "src/m005.py",
            "src/m006.py"}.isdisjoint(paths) and "src/renamed.py" in paths
    assert {p["content_hash"] for p in points if p["path"] == "src/m000.py"} == {
        hashlib.sha256(big_module(0, min(version, 60)).encode()).hexdigest()}


# -- 7. two assistants ask for the same index at once ----------------------------------------


async def test_two_servers_indexing_the_same_project_share_one_job(
    tmp_path: Path, service: Settings, make_repo: Callable[..., Path]
) -> None:
    repo = make_repo("shared", {f"src/m{i:03d}.py": big_module(i) for i in range(30)})
    async with mcp_server(tmp_path, project=repo) as first, \
            mcp_server(tmp_path, project=repo) as second:
        await first.ok("workspace_status")  # both connected to the one service first
        await second.ok("workspace_status")
        started: dict[str, Any] = {}

        async def index(label: str, server: Server) -> None:
            started[label] = await server.ok("index")

        async with anyio.create_task_group() as tg:  # at the same time, for real
            tg.start_soon(index, "first", first)
            tg.start_soon(index, "second", second)
        assert started["first"]["job"]["started_at"] == started["second"]["job"]["started_at"]

        seen: dict[str, set[int]] = {"first": set(), "second": set()}

        async def both_see_progress() -> bool:
            jobs = {label: await job_of(server)
                    for label, server in (("first", first), ("second", second))}
            for label, job in jobs.items():
                assert job["started_at"] == started["first"]["job"]["started_at"], job
                seen[label].add(job["keywords_done"] + job["dense_done"])
            return not any(job["running"] for job in jobs.values())
        await until(both_see_progress, "the shared job to end", step=0.1)
        assert len(seen["first"]) > 1 and len(seen["second"]) > 1, seen
        await until_complete(first)
    log = (service.data_dir / "run" / "service.log").read_text()
    assert log.count("index result") == 2


# -- 8. freshness at query time, watching off ------------------------------------------------


async def test_results_are_fresh_or_marked_stale_when_nothing_watches(
    tmp_path: Path, service: Settings, make_repo: Callable[..., Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("WQM_WATCH", "0")
    files = SAMPLE | {f"src/m{i:03d}.py": module_source(i, "ledger") for i in range(12)}
    repo = make_repo("unwatched", files)
    done = run_wqm("ingest", str(repo), "--format", "json")
    assert done.returncode == 0, done.stderr
    async with mcp_server(tmp_path, project=repo) as server:
        status = await server.ok("workspace_status")
        assert status["index"]["watched"] is False  # nothing watches: status must not say so

        # A few small changed files: re-indexed before the answer, which is current.
        write(repo, {"src/billing.py": "def compute_refund(order):\n    return order.paid\n"})
        found = await server.ok("search", query="invoice", mode="sparse")
        assert "src/billing.py" not in paths_of(found)
        assert not any(hit.get("stale") for hit in found["results"])
        assert "src/billing.py" in await found_by(server, "refund")
        (repo / "src/users.py").unlink()
        found = await server.ok("search", query="user name", mode="sparse")
        assert "src/users.py" not in paths_of(found), found

        # Many: marked stale (a deleted file's results never come back as fresh), then queued.
        for i in range(0, 12, 2):
            write(repo, {f"src/m{i:03d}.py": module_source(i, "ledger changed")})
        for i in range(1, 12, 2):
            (repo / f"src/m{i:03d}.py").unlink()
        found = await server.ok("search", query="ledger", mode="sparse", limit=20)
        assert found["results"]
        for hit in found["results"]:
            if hit["note_id"] is None:
                assert hit.get("stale") is True, hit["path"]
        assert any("stale" in n for n in found["notices"]), found["notices"]

        async def fresh() -> bool:
            again = await server.ok("search", query="ledger", mode="sparse", limit=20)
            return (set(paths_of(again)) == {f"src/m{i:03d}.py" for i in range(0, 12, 2)}
                    and not any(hit.get("stale") for hit in again["results"]))
        await until(fresh, "the queued re-index")
    stop_service(service)
    assert_converged(service, repo)


# -- 9. wqm watch off|on, and what status shows ----------------------------------------------


def cli_status(repo: Path) -> dict[str, Any]:
    done = run_wqm("status", str(repo), "--format", "json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)["index"]  # type: ignore[no-any-return]


def test_watch_off_and_on_and_status(
    service: Settings, make_repo: Callable[..., Path]
) -> None:
    repo = make_repo("toggled", SAMPLE)
    done = run_wqm("ingest", str(repo), "--format", "json")
    assert done.returncode == 0, done.stderr
    index = wait_sync(lambda: (s := cli_status(repo))["state"] == "complete" and s, "complete")
    assert index["watched"] is True and index["pending_paths"] == 0 and index["last_sync_at"]
    text = run_wqm("status", str(repo)).stdout
    for row in ("Index", "Watched", "Last sync"):
        assert row in text, text

    off = run_wqm("watch", "off", str(repo))
    assert off.returncode == 0 and "no longer watched" in off.stdout, off
    assert cli_status(repo)["watched"] is False
    synced = cli_status(repo)["last_sync_at"]
    write(repo, {"docs/new.md": "# Nebulaword\n\nWritten while nobody watched.\n"})
    time.sleep(3)  # the watcher would have synced it within a second or two
    assert cli_status(repo)["last_sync_at"] == synced

    def found(word: str) -> bool:
        done = run_wqm("search", word, "--project", str(repo), "--mode", "sparse",
                       "--format", "json")
        assert done.returncode == 0, done.stderr
        return any(hit["path"] == "docs/new.md" for hit in json.loads(done.stdout)["results"])

    assert not found("nebulaword")
    on = run_wqm("watch", "on", str(repo))
    assert on.returncode == 0 and "now watched" in on.stdout, on
    assert cli_status(repo)["watched"] is True
    wait_sync(lambda: found("nebulaword"), "the edit made while watching was off")
    assert cli_status(repo)["last_sync_at"] > synced


# -- 10. a watched folder that disappears, a project that moves, a .gitignore change ---------


async def test_a_vanished_folder_is_dropped_and_a_moved_project_is_watched_at_its_new_path(
    tmp_path: Path, service: Settings, make_repo: Callable[..., Path]
) -> None:
    doomed = make_repo("doomed", {"doomed.md": "# Another repository\n"})  # other root commit
    mover = make_repo("mover", SAMPLE)
    write(mover, {"notes/todo.md": "# Todo\n\nShip the orbitword.\n"})  # untracked: ignorable
    for repo in (doomed, mover):
        done = run_wqm("ingest", str(repo), "--format", "json")
        assert done.returncode == 0, done.stderr
    moved = tmp_path / "moved-here"

    async with mcp_server(tmp_path, project=mover) as server:
        await until_complete(server)
        # The folder of one watched project disappears: the other is still followed.
        subprocess_free_rmtree(doomed)
        write(mover, {".gitignore": "notes/\n"})  # and a rule change takes effect
        await until(lambda: _lacks(server, "orbitword", "notes/todo.md", mover), "the .gitignore rule")
        write(mover, {"notes/todo.md": "# Todo\n\nShip the orbitword now.\n"})
        write(mover, {".gitignore": ""})
        await until(lambda: _has(server, "orbitword", "notes/todo.md"), "the rule removed")
        # Another project starts being watched while this one is edited: no edit is missed.
        other = make_repo("other", {"other.md": "# Other\n"})
        for i in range(5):
            started = run_wqm("ingest", str(other), "--detach") if i == 0 else None
            assert started is None or started.returncode == 0, started
            write(mover, {f"notes/n{i}.md": f"# Note\n\ncometword{i}\n"})
        for i in range(5):
            await until(lambda i=i: _has(server, f"cometword{i}", f"notes/n{i}.md"), "each edit")
        await until_complete(server)

    mover.rename(moved)  # the same repository at a new path: update-path's logic applies
    async with mcp_server(tmp_path, project=moved) as server:
        found = await server.ok("search", query="balancer", mode="sparse")
        assert paths_of(found) == ["docs/deploy.md"], found
        write(moved, {"src/billing.py": "def settle_ledger_galaxyword():\n    return 1\n"})
        await until(lambda: _has(server, "galaxyword", "src/billing.py"), "an edit after the move")
        (moved / "docs/deploy.md").unlink()

        async def gone() -> bool:
            status = await server.ok("workspace_status")
            return bool(status["files"] == len(on_disk(moved)))
        await until(gone, "a delete after the move")
        await until_complete(server)
    log = (service.data_dir / "run" / "service.log").read_text()
    assert log.count("the file watch stopped") <= 2, "the vanished folder made the watch loop"
    stop_service(service)
    assert_converged(service, moved)


def subprocess_free_rmtree(path: Path) -> None:
    import shutil

    shutil.rmtree(path)


async def _has(server: Server, word: str, path: str) -> bool:
    return path in await found_by(server, word)


async def _lacks(server: Server, word: str, path: str, repo: Path) -> bool:
    status = await server.ok("workspace_status")  # the index itself, not query-time checks
    return path not in await found_by(server, word) and status["files"] == len(on_disk(repo))


# -- the engines: the dense pass's one write -------------------------------------------------


@pytest.mark.parametrize("engine", ["local", "edge"])
def test_update_vectors_fills_one_vector_and_refuses_a_missing_point(
    engine: str, tmp_path: Path
) -> None:
    """Both embedded engines: the dense vector is added, the sparse one and the payload kept."""
    from qdrant_client import QdrantClient
    from qdrant_client import models as qm

    from workspace_qdrant_mcp.core.edge import EdgeClient

    client: Any = (QdrantClient(path=str(tmp_path / "local")) if engine == "local"
                   else EdgeClient(tmp_path / "edge"))
    try:
        client.create_collection(
            "c", vectors_config={"dense": qm.VectorParams(size=3, distance=qm.Distance.COSINE)},
            sparse_vectors_config={"bm25": qm.SparseVectorParams()})
        pid = "6f1d1f4e-4c1b-5b8e-9a51-7a6b0f0e3c21"
        client.upsert("c", points=[qm.PointStruct(
            id=pid, vector={"bm25": qm.SparseVector(indices=[7], values=[1.0])},
            payload={"path": "a.py"})])
        client.update_vectors("c", points=[qm.PointVectors(id=pid, vector={"dense": [1, 0, 0]})])
        (record,) = client.retrieve("c", ids=[pid], with_vectors=True)
        assert record.payload == {"path": "a.py"}
        assert record.vector["dense"] == pytest.approx([1.0, 0.0, 0.0])
        assert list(record.vector["bm25"].indices) == [7]
        missing = "0d6c2a4e-0000-4000-8000-000000000000"
        with pytest.raises(Exception):  # noqa: B017 - each engine raises its own type
            client.update_vectors("c", points=[
                qm.PointVectors(id=missing, vector={"dense": [0, 1, 0]})])
    finally:
        client.close()


def test_the_watch_filter_judges_paths_below_the_root() -> None:
    from watchfiles import Change

    from workspace_qdrant_mcp.workspace.watcher import relevant

    keep = relevant("/srv/build/app")  # a project under a folder named like a vendored one
    assert keep(Change.modified, "/srv/build/app/src/main.py")
    assert keep(Change.modified, "/srv/build/app/.gitignore")
    assert keep(Change.modified, "/srv/build/app/.git/HEAD")
    assert not keep(Change.modified, "/srv/build/app/.git/objects/ab/cdef")
    assert not keep(Change.added, "/srv/build/app/node_modules/pkg/index.js")
    assert not keep(Change.added, "/srv/build/app/build/out.js")
