"""Issue 10, the service and its protocol (items 2, 5, 8, 9, 10, 11, 15), with real processes.

Every test runs the real ``wqm`` executable against a real workspace service
(started on demand, or by the test when it must carry ``WQM_FAULT_POINT``,
which clients strip from services they start); assistants are real
``workspace-qdrant-mcp`` servers driven over stdio by the ``mcp`` client.
Faults are real too: SIGKILL at a named step of an alias change, SIGSTOP, a
stop request in the middle of an ingest, a relay (``Proxy``) that corrupts
exactly one reply on its way from a real service.

- item 2: a write whose reply is lost (service killed after Qdrant applied it)
  is reported as applied, and a re-run does not undo it; killed right after
  the intent, it is reported as not applied.
- item 5: searches with no ``collection`` and an ingest never fail while the
  project's name is removed and restored by ``undo`` over and over.
- item 8: a 9 MB note is refused with one sentence; a note is accepted only if
  it can be read back; a reply that cannot be read resets the connection, and
  the next call (CLI or MCP) works.
- item 9: a stopped (SIGSTOP) service: ``wqm status`` and ``wqm service status``
  answer within a bound, naming ``wqm service stop --force``, which works.
- item 10: a relative ``WQM_DATA_DIR`` is the caller's folder, never ``/rel``.
- item 11: ``wqm service stop`` during an ingest lets it finish or stop early
  within a bound, with no traceback in the log, and the next ingest resumes.
- item 15: credentials in ``QDRANT_URL`` (and the API key) appear in no output,
  log or file, in service and in-process mode.

Bounded run: each case once; ``WQM_LONG=1``: more fault points, more search
rounds, and a service that accepts and never answers a call.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Self

import pytest

from conftest import git

from ._fault_support import (
    WQM,
    Proxy,
    RawClient,
    Wqm,
    alive,
    error_line,
    make_wqm,
    mcp_session,
    no_traceback,
    reap,
    repo,
    start_service,
    wait_until,
    wqm_world,
)
from .conftest import LONG, scaled

pytestmark = pytest.mark.reliability

REMOTE = "https://github.com/acme/faults.git"
REMOTE_NAME = "_github_com_acme_faults"
MARKER = "heron"
#: Seconds a stopping service lets running requests finish (service/server.py's DRAIN_SECONDS).
DRAIN = 30


def project_with_remote_name(world: Wqm, root: Path) -> Path:
    """A project indexed under its path name that then gained its remote-based name (a change)."""
    project = repo(root, {f"f{i}.py": f"{MARKER} number {i}\n" for i in range(3)})
    world.ok("ingest", cwd=project)
    git(project, "remote", "add", "origin", REMOTE)
    world.ok("project", "update-remote", "--yes", cwd=project)
    return project


def alias_names(world: Wqm) -> set[str]:
    """Every registered alias name."""
    return {a["alias_name"] for a in world.json("project", "list-aliases", "--all")}


@pytest.fixture
def short_dir() -> Iterator[Path]:
    """A folder with a short path (a Unix socket path must stay under ~100 bytes)."""
    path = Path(tempfile.mkdtemp(prefix="i10-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


# -- item 2 ---------------------------------------------------------------------------------

#: (fault point, the command cut short, applied?) -- after_qdrant only in the long run.
LOST_REPLIES = [("after_done", "undo", True), ("after_intent", "update-remote", False)]
if LONG:
    LOST_REPLIES.append(("after_qdrant", "undo", True))


@pytest.mark.parametrize(("step", "command", "applied"), LOST_REPLIES)
def test_write_whose_reply_is_lost_is_reported_as_applied_or_not(
        tmp_path: Path, step: str, command: str, applied: bool) -> None:
    """Issue 10 item 2: the client looks its request up instead of advising a blind re-run."""
    with wqm_world(tmp_path) as world:
        project = project_with_remote_name(world, tmp_path / "p")
        if command == "update-remote":  # take the name away first, so there is one to add
            world.ok("project", "undo", "--yes", cwd=project)
        before = alias_names(world)
        history_before = world.json("project", "history", cwd=project)
        world.ok("service", "stop")
        armed = start_service(world, WQM_FAULT_POINT=step)
        args = ("project", "undo", "--yes") if command == "undo" else (
            "project", "update-remote", "--yes")
        message = error_line(world.run(*args, cwd=project))
        assert reap(armed) == -signal.SIGKILL, "the fault point never fired"
        after = alias_names(world)
        history = world.json("project", "history", cwd=project)
        if applied:
            assert "applied" in message and "not applied" not in message, message
            assert "do not run it again" in message, message
            assert after == before - {REMOTE_NAME}, "the undo the user was told of did not happen"
            assert len(history) == len(history_before) + 1  # exactly one undo, settled
            undone = history[0]["change_id"]
            # The command the user typed, run again by hand with the change it undid: refused.
            original = history_before[0]["change_id"]
            again = error_line(world.run("project", "undo", "--change", str(original), "--yes",
                                         cwd=project))
            assert "already" in again, again
            assert alias_names(world) == after
            assert world.json("project", "history", cwd=project)[0]["change_id"] == undone
        else:
            assert "not applied" in message and "safe" in message, message
            assert after == before
            assert len(history) == len(history_before)
            world.ok(*args, cwd=project)  # and re-running it is indeed safe
            assert REMOTE_NAME in alias_names(world)
        doctor = world.run("project", "doctor", "--format", "json")
        assert doctor.returncode == 0, doctor.stdout + doctor.stderr  # green without --fix


# -- item 5 ---------------------------------------------------------------------------------


class InBackground:
    """One ``wqm`` command running in a thread while the test does something else."""

    def __init__(self, world: Wqm, args: tuple[str, ...], cwd: Path) -> None:
        self.done: subprocess.CompletedProcess[str] | None = None
        self.thread = threading.Thread(target=self._run, args=(world, args, cwd), daemon=True)
        self.thread.start()

    def _run(self, world: Wqm, args: tuple[str, ...], cwd: Path) -> None:
        self.done = world.run(*args, cwd=cwd, timeout=300)

    def result(self) -> subprocess.CompletedProcess[str]:
        """Wait for the command; its outcome."""
        self.thread.join(timeout=320)
        assert self.done is not None, "the command did not end"
        return self.done


class Toggler:
    """Undoes the project's latest change again and again (removing, then restoring, a name)."""

    def __init__(self, world: Wqm, project: Path) -> None:
        self.world, self.project = world, project
        self.stop = threading.Event()
        self.toggles = 0
        self.errors: list[Any] = []
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        client = RawClient(self.world)
        params: dict[str, Any] = {"project_path": str(self.project)}
        try:
            while not self.stop.is_set():
                kind, detail = client.call("undo", **params)
                if kind != "result" and "project_path" in str(detail) and params:
                    params = {}  # a service from before undo took a project: its latest change
                    continue
                if kind != "result":
                    self.errors.append(detail)
                    return
                self.toggles += 1
        finally:
            client.close()

    def __enter__(self) -> Self:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(timeout=60)


async def test_searches_and_ingest_survive_a_name_removed_mid_call(tmp_path: Path) -> None:
    """Issue 10 item 5: MCP searches (no ``collection``) and an ingest while undo toggles."""
    searches = scaled(250, 2000)
    with wqm_world(tmp_path, WQM_AUTO_MIGRATE="0") as world:
        project = project_with_remote_name(world, tmp_path / "p")
        for i in range(40):  # work for the ingest that runs during the toggling
            (project / f"more{i}.py").write_text(f"{MARKER} more {i}\n" + "x = 1\n" * 30)
        failures: list[str] = []
        async with mcp_session(world, project, tmp_path / "mcp") as mcp:
            with Toggler(world, project) as toggler:
                ingest = InBackground(world, ("ingest", "--format", "json"), project)
                for _ in range(searches):
                    failed, text = await mcp.call("search", query=f"{MARKER} number",
                                                  mode="sparse", limit=3)
                    if failed:
                        failures.append(text)
                done = ingest.result()
            assert not toggler.errors, toggler.errors
            assert toggler.toggles >= 10, f"only {toggler.toggles} undos ran during the searches"
        assert not failures, f"{len(failures)} of {searches} searches failed: {failures[0]}"
        assert done.returncode == 0, f"the ingest during the undos failed:\n{done.stderr}"
        assert json.loads(done.stdout)["files_indexed"] == 40
        found = world.json("search", MARKER, "--mode", "sparse", "--limit", "100", cwd=project)
        assert len({hit["path"] for hit in found["results"]}) == 43


# -- item 8 ---------------------------------------------------------------------------------


async def test_oversized_note_is_refused_and_what_is_stored_reads_back(tmp_path: Path) -> None:
    """Issue 10 item 8: the 9 MB note, and a note whose read-back would not fit in a reply."""
    with wqm_world(tmp_path) as world:
        project = repo(tmp_path / "p", {"a.py": f"{MARKER}\n"})
        world.ok("ingest", cwd=project)
        async with mcp_session(world, project, tmp_path / "mcp") as mcp:
            failed, message = await mcp.call("store", content="x" * (9 * 1024 * 1024))
            assert failed and "\n" not in message and message.endswith("."), message
            assert "Traceback" not in message
            await mcp.ok("workspace_status")  # the session goes on
            # ~60 chunks, each carrying the note's 300 kB of metadata: a reply of ~18 MB.
            content = "".join(f"{MARKER} line {i} " + "y" * 900 + "\n" for i in range(60))
            metadata = {"blob": "z" * 300_000}
            failed, text = await mcp.call("store", content=content, title="big", metadata=metadata)
            if not failed:
                note_id = json.loads(text)["id"]
                failed, back = await mcp.call("retrieve", document_id=note_id)
                assert not failed, f"a stored note cannot be read back: {back}"
                assert content in back
            else:
                assert "\n" not in text and text.endswith("."), text
            # Under the character limit, but six JSON bytes a character, three times in a reply.
            failed, text = await mcp.call("store", content="\u4e2d\u6587\n" * 333_000)
            assert failed and "MiB" in text and "\n" not in text, text[:300]
            small = await mcp.ok("store", content=f"{MARKER} a small note\n", title="small")
            back = await mcp.ok("retrieve", document_id=json.loads(small)["id"])
            assert f"{MARKER} a small note" in back
        no_traceback(world.log(), "the service log")


@pytest.mark.parametrize("mode", ["oversize", "garbage"])
async def test_unreadable_reply_resets_the_connection_and_the_next_call_works(
        tmp_path: Path, short_dir: Path, mode: str) -> None:
    """Issue 10 item 8: a reply too large (or not JSON) is one sentence; the next call works."""
    with wqm_world(tmp_path / "back") as back:
        project = repo(tmp_path / "p", {"a.py": f"{MARKER}\n"})
        back.ok("ingest", cwd=project)
        back_socket = json.loads((back.run_dir / "service.pid").read_text())["socket"]
        front = make_wqm(short_dir)
        proxy = Proxy(front, back_socket, mode, {"list_aliases"})
        try:
            message = error_line(front.run("project", "list-aliases", cwd=project))
            assert "reset" in message, message
            assert proxy.tampered == 1
            assert front.json("project", "list-aliases", cwd=project)  # a fresh command works
            proxy.tampered = 0
            async with mcp_session(front, project, tmp_path / "mcp") as mcp:
                failed, text = await mcp.call("list_aliases")
                assert failed and "\n" not in text and "reset" in text, text
                assert proxy.tampered == 1
                again = await mcp.ok("list_aliases")  # same MCP server: it reconnected
                assert "_path_" in again
                await mcp.ok("search", query=MARKER, mode="sparse")
            no_traceback((tmp_path / "mcp" / "mcp.stderr").read_text(), "the MCP server's stderr")
        finally:
            proxy.close()


# -- item 9 ---------------------------------------------------------------------------------


def test_hung_service_gets_a_bounded_answer_and_stop_force_works(tmp_path: Path) -> None:
    """Issue 10 item 9: SIGSTOP the service; clients answer within a bound and say what to do."""
    with wqm_world(tmp_path) as world:
        project = repo(tmp_path / "p", {"a.py": f"{MARKER}\n"})
        world.ok("ingest", cwd=project)
        pid = world.service_pid()
        assert pid is not None
        os.kill(pid, signal.SIGSTOP)
        children: list[subprocess.Popen[str]] = []
        try:
            began = time.monotonic()
            children = [subprocess.Popen([WQM, *args], cwd=project, env=world.env, text=True,
                                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                         stderr=subprocess.PIPE)
                        for args in (("status",), ("service", "status"))]
            for child in children:
                out, err = child.communicate(timeout=90)
                done = subprocess.CompletedProcess(child.args, child.returncode, out, err)
                message = error_line(done)
                assert "wqm service stop --force" in message, message
            assert time.monotonic() - began < 45, "clients waited too long for a hung service"
            began = time.monotonic()
            world.ok("service", "stop", "--force", timeout=60)
            assert time.monotonic() - began < 20
            wait_until(lambda: not alive(pid), 10, "the hung service to be gone")
        finally:
            for child in children:  # a client still waiting would start a new service later
                if child.poll() is None:
                    child.kill()
                    child.wait()
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
        assert world.json("status", cwd=project)["points"] == 1  # a new service, data intact


@pytest.mark.skipif(not LONG, reason="a call to a mute service waits its 60 s timeout: long run")
def test_service_that_accepts_and_never_answers_gets_a_bounded_answer(
        tmp_path: Path, short_dir: Path) -> None:
    """Issue 10 item 9: a server that reads the request and never replies (``Proxy`` mute)."""
    with wqm_world(tmp_path / "back") as back:
        project = repo(tmp_path / "p", {"a.py": f"{MARKER}\n"})
        back.ok("ingest", cwd=project)
        back_socket = json.loads((back.run_dir / "service.pid").read_text())["socket"]
        front = make_wqm(short_dir)
        proxy = Proxy(front, back_socket, "mute", {"status"})
        try:
            began = time.monotonic()
            message = error_line(front.run("status", cwd=project, timeout=150))
            assert "wqm service stop --force" in message, message
            assert time.monotonic() - began < 100
        finally:
            proxy.close()


# -- item 10 --------------------------------------------------------------------------------


def test_relative_data_dir_is_the_callers_folder(tmp_path: Path) -> None:
    """Issue 10 item 10: ``WQM_DATA_DIR=rel`` lives under the cwd; no stray service is left."""
    relative = f"rel-i10-{uuid.uuid4().hex[:8]}"
    stray = Path("/") / relative
    workdir = tmp_path / "work"
    workdir.mkdir()
    project = repo(tmp_path / "p", {"a.py": f"{MARKER}\n"})
    world = make_wqm(tmp_path / "unused")
    world.env["WQM_DATA_DIR"] = relative
    expected = Wqm(workdir / relative, world.env)
    try:
        done = world.run("ingest", str(project), cwd=workdir, timeout=120)
        assert done.returncode == 0, done.stderr
        info = world.json("service", "status", cwd=workdir)
        assert info["data_dir"] == str(workdir / relative)
        assert (workdir / relative / "registry.db").exists()
        assert not stray.exists(), f"the store went to {stray}"
        pid = expected.service_pid()
        assert pid == info["pid"]
        world.ok("service", "stop", cwd=workdir)
        wait_until(lambda: not alive(pid), 30, "the service to stop")
    finally:
        expected.kill_service()
        if stray.exists():
            Wqm(stray, world.env).kill_service()
            shutil.rmtree(stray, ignore_errors=True)


# -- item 11 --------------------------------------------------------------------------------


def _throttle(pid: int, slow_for: float) -> None:
    """Let ``pid`` run 5% of the time (SIGSTOP/SIGCONT) for ``slow_for`` s, then 30% until it ends.

    A small ingest then outlasts the service's 30 s drain without burning the
    shared CPU; near the drain's end it gets enough time to notice the stop at
    its next step (within the service's 10 s grace), as on a slower machine.
    """
    period = 0.5
    slow_until = time.monotonic() + slow_for
    try:
        while alive(pid):
            duty = 0.05 if time.monotonic() < slow_until else 0.3
            os.kill(pid, signal.SIGSTOP)
            time.sleep(period * (1 - duty))
            os.kill(pid, signal.SIGCONT)
            time.sleep(period * duty)
    except ProcessLookupError:
        return


def test_service_stop_during_ingest_is_bounded_and_the_ingest_resumes(tmp_path: Path) -> None:
    """Issue 10 item 11: stop while a foreground ingest runs; it stops early, then resumes.

    About 200 chunks to embed (10 files): at most ~4 s of CPU reach the service
    before its drain ends, so the ingest is still running when it is asked to
    stop; the next ``wqm ingest`` finishes the rest without redoing the done part.
    """
    files = scaled(10, 40)
    with wqm_world(tmp_path) as world:
        body = "\n".join(f"def f{j}(x):\n    return x + {j}  # {MARKER}\n" for j in range(40))
        project = repo(tmp_path / "p", {f"m{i}.py": body for i in range(files)})
        world.ok("service", "start")
        pid = world.service_pid()
        assert pid is not None
        ingest = subprocess.Popen([WQM, "ingest", "--format", "json"], cwd=project,
                                  env=world.env, text=True, stdin=subprocess.DEVNULL,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        time.sleep(1.5)  # the ingest is under way
        assert ingest.poll() is None, "the ingest ended before the stop; make the project larger"
        throttle = threading.Thread(target=_throttle, args=(pid, DRAIN - 3), daemon=True)
        throttle.start()
        began = time.monotonic()
        stopped = world.run("service", "stop", timeout=120)
        took = time.monotonic() - began
        throttle.join()
        out, err = ingest.communicate(timeout=120)
        assert stopped.returncode == 0, stopped.stdout + stopped.stderr
        assert took < DRAIN + 25, f"stopping took {took:.0f} s"
        assert not alive(pid)
        no_traceback(world.log(), "the service log")
        if ingest.returncode == 0:  # it finished within the drain: allowed, but say so
            assert json.loads(out)["files_indexed"] == files
            pytest.xfail("the ingest finished within the drain; the early stop was not exercised")
        message = error_line(subprocess.CompletedProcess(ingest.args, ingest.returncode, out,
                                                         err))
        assert "stopped early" in message and "again" in message, message
        resumed = world.json("ingest", cwd=project)
        status = world.json("status", cwd=project)
        assert status["files"] == files and status["index"]["state"] == "complete", status
        assert resumed["files_indexed"] + resumed["files_unchanged"] == files, resumed
        redone = resumed["files_unchanged"] == 0 and resumed["chunks_dense"] >= status["points"]
        assert not redone, f"the resumed ingest redid everything: {resumed}"


# -- item 15 --------------------------------------------------------------------------------

SECRET_URL = "http://admin:pwSECRET15@127.0.0.1:9/"
API_KEY = "keySECRET15"


async def test_qdrant_url_credentials_are_never_shown(tmp_path: Path) -> None:
    """Issue 10 item 15: no server runs here, so the URL fails; every message and log is clean."""
    with wqm_world(tmp_path, QDRANT_URL=SECRET_URL, QDRANT_API_KEY=API_KEY) as world:
        project = repo(tmp_path / "p", {"a.py": f"{MARKER}\n"})
        started = world.run("service", "start")
        assert "127.0.0.1:9" in started.stdout + started.stderr
        info = world.run("service", "status", "--format", "json")
        if info.returncode == 0:
            assert json.loads(info.stdout)["engine"] == "server http://127.0.0.1:9/"
        for args in (("status",), ("status", "--format", "json"), ("project", "doctor"),
                     ("project", "doctor", "--format", "json"), ("ingest",)):
            world.run(*args, cwd=project)
        async with mcp_session(world, project, tmp_path / "mcp") as mcp:
            _, text = await mcp.call("workspace_status")
            assert "SECRET" not in text, text
        offline = {"WQM_SERVICE": "off"}
        for args in (("status",), ("status", "--format", "json"), ("project", "doctor")):
            world.run(*args, cwd=project, env=offline)
        world.run("service", "stop")
        for done in world.runs:
            assert "SECRET" not in done.stdout + done.stderr, (done.args, done.stdout, done.stderr)
        assert "SECRET" not in (tmp_path / "mcp" / "mcp.stderr").read_text()
        leaked = [p for p in world.data_dir.rglob("*") if p.is_file() and b"SECRET" in p.read_bytes()]
        assert not leaked, f"a credential was written to {leaked}"
