"""Issue 10, data and identity (items 1, 6, 7, 16, 19): names never hand data to another project.

Every step is a real ``wqm`` command against a real workspace service (the
default mode), on real git repositories moved, recreated and cloned with real
file operations. What a project holds is read back with keyword searches
(``--mode sparse``: no model needed to find every file that carries a marker
word), so a test sees exactly the files a user would find.

- item 1: a different repository created at a moved project's old path gets
  its own data and the moved project keeps its own, through repeated ingests of
  both; a folder deleted and recreated with the same repository gets its data
  back; two clones of one remote share the remote name, and an ingest of one
  never deletes files only the other has.
- item 6: concurrent first ingests of a never-indexed project all succeed, with
  one collection.
- item 7: ``wqm project undo`` reverts the current project's latest change, not
  another project's newer one, and names the project; ``--all`` and ``--change``
  reach further.
- item 16: a token in the query or fragment of an scp-style remote reaches no
  name, output, registry row, audit row or Qdrant file.
- item 19: an empty or all-space remote URL is no remote; a remote naming only
  an owner on github.com-like forges is refused with one sentence.

Bounded run: each case once (item 6: two rounds of four); ``WQM_LONG=1`` repeats
item 6 for ten rounds of six and item 1's reuse cycle three times.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
from pathlib import Path
from typing import Any

import pytest

from conftest import git

from ._fault_support import WQM, RawClient, Wqm, error_line, repo, wqm_world
from .conftest import scaled

pytestmark = pytest.mark.reliability

MARKER = "kingfisher"  # one word every test file carries, so one keyword search lists them


def files(*names: str) -> dict[str, str | bytes]:
    """Small files, each with the marker word and a word of its own."""
    return {name: f"{MARKER} {Path(name).stem} notes\n" for name in names}


def indexed(world: Wqm, project: Path) -> set[str]:
    """The file paths the project's index holds, as a keyword search lists them."""
    found = world.json("search", MARKER, "--mode", "sparse", "--limit", "100",
                       "--project", str(project))
    return {hit["path"] for hit in found["results"]}


def ingest(world: Wqm, project: Path) -> dict[str, object]:
    """``wqm ingest --format json`` in the project's folder."""
    result: dict[str, object] = world.json("ingest", cwd=project)
    return result


def physical(world: Wqm, project: Path) -> str | None:
    """The physical collection holding the project's data (None: it has none)."""
    value = world.json("status", cwd=project).get("physical_collection")
    return str(value) if value else None


# -- item 1 ---------------------------------------------------------------------------------


def test_reused_path_gets_its_own_data_and_the_moved_project_keeps_its_own(
        tmp_path: Path) -> None:
    """Issue 10 item 1: the steps of the report, then ingests of both folders, in turn."""
    with wqm_world(tmp_path) as world:
        old, new = tmp_path / "x" / "a", tmp_path / "x" / "b"
        repo(old, files("alpha.py", "beta.py", "gamma.py"))
        ingest(world, old)
        moved_data = physical(world, old)
        old.rename(new)
        world.ok("project", "update-path", "--old-path", str(old), "--yes", cwd=new)
        assert physical(world, new) == moved_data
        for cycle in range(scaled(1, 3)):
            if cycle:  # again: the path is reused by yet another repository
                shutil.rmtree(old)
            repo(old, files(f"other{cycle}.py"))
            report = ingest(world, old)
            assert report["files_deleted"] == 0, report
            assert physical(world, old) not in (None, moved_data)
            assert indexed(world, old) == {f"other{cycle}.py"}
            assert indexed(world, new) == {"alpha.py", "beta.py", "gamma.py"}
            for _ in range(2):  # every later ingest of either folder leaves the other alone
                assert ingest(world, new)["files_deleted"] == 0
                assert ingest(world, old)["files_deleted"] == 0
            assert physical(world, new) == moved_data
            assert indexed(world, new) == {"alpha.py", "beta.py", "gamma.py"}
            assert indexed(world, old) == {f"other{cycle}.py"}
        doctor = world.run("project", "doctor", "--format", "json")
        assert "Traceback" not in doctor.stderr


def test_deleted_then_recreated_folder_with_the_same_repository_gets_its_data_back(
        tmp_path: Path) -> None:
    """Issue 10 item 1: rm -rf, then the same repository put back (from a copy) at the path."""
    with wqm_world(tmp_path) as world:
        project, backup = tmp_path / "c", tmp_path / "backup"
        repo(project, files("one.py", "two.py"))
        ingest(world, project)
        data = physical(world, project)
        shutil.copytree(project, backup, symlinks=True)
        shutil.rmtree(project)
        assert world.run("status", cwd=tmp_path).returncode in (0, 1)  # the service notices nothing
        shutil.copytree(backup, project, symlinks=True)
        assert physical(world, project) == data
        assert indexed(world, project) == {"one.py", "two.py"}
        report = ingest(world, project)
        assert report["files_deleted"] == 0 and report["files_indexed"] == 0, report
        assert physical(world, project) == data


def test_two_clones_of_one_remote_share_its_name_and_never_delete_each_others_files(
        tmp_path: Path) -> None:
    """Issue 10 item 1: working trees that differ share one remote-based collection."""
    with wqm_world(tmp_path) as world:
        remote = "https://github.com/acme/sharedclones.git"
        first = repo(tmp_path / "clone1", files("common.py", "only_first.py"), remote=remote)
        second = tmp_path / "clone2"
        shutil.copytree(first, second, symlinks=True)
        (second / "only_first.py").unlink()
        (second / "only_second.py").write_text(f"{MARKER} only_second notes\n")
        git(second, "add", "-A")
        git(second, "commit", "-q", "-m", "second clone's own work")
        ingest(world, first)
        report = ingest(world, second)
        assert report["files_deleted"] == 0, report
        assert physical(world, first) == physical(world, second)
        assert world.json("status", cwd=first)["current_name"] == "_github_com_acme_sharedclones"
        everything = {"common.py", "only_first.py", "only_second.py"}
        assert indexed(world, first) == everything
        for _ in range(2):
            assert ingest(world, first)["files_deleted"] == 0
            assert ingest(world, second)["files_deleted"] == 0
            assert indexed(world, second) == everything
        # A file one clone deletes leaves the index only when no clone has it any more.
        (first / "common.py").unlink()
        ingest(world, first)
        assert indexed(world, first) == everything
        (second / "common.py").unlink()
        ingest(world, second)
        assert indexed(world, first) == {"only_first.py", "only_second.py"}


# -- item 6 ---------------------------------------------------------------------------------


def test_concurrent_first_ingests_all_succeed_with_one_collection(tmp_path: Path) -> None:
    """Issue 10 item 6: first ingests of a never-indexed project, all at once, all succeed.

    Each round fires ``width`` ingest requests at one barrier on connections
    opened beforehand (so no start-up jitter spreads them out), and the last
    round runs ``wqm ingest`` processes instead, as a user with several
    terminals would.
    """
    rounds, width = scaled(3, 10), scaled(4, 6)
    with wqm_world(tmp_path) as world:
        world.ok("service", "start")
        for round_no in range(rounds):
            project = repo(tmp_path / f"fresh{round_no}", files("main.py", "util.py"))
            if round_no == rounds - 1:
                outcomes = _cli_ingests(world, project, width)
            else:
                outcomes = _raw_ingests(world, project, width)
            failed = [detail for kind, detail in outcomes if kind != "result"]
            assert not failed, f"round {round_no}: {len(failed)} of {width} failed: {failed[0]}"
            names = {detail["collection"] for _, detail in outcomes}
            assert len(names) == 1, names
            aliases = world.json("project", "list-aliases", "--all")
            reaching = {a["collection_name"] for a in aliases if a["alias_name"] in names}
            assert len(reaching) == 1, aliases
            assert indexed(world, project) == {"main.py", "util.py"}
        doctor = world.run("project", "doctor", "--format", "json")
        assert doctor.returncode == 0, doctor.stdout + doctor.stderr


def _raw_ingests(world: Wqm, project: Path, width: int) -> list[tuple[str, Any]]:
    clients = [RawClient(world) for _ in range(width)]
    gate = threading.Barrier(width)
    outcomes: list[tuple[str, Any]] = []

    def one(client: RawClient) -> None:
        gate.wait()
        outcome = client.call("ingest", project_path=str(project))
        outcomes.append(outcome)
        client.close()

    threads = [threading.Thread(target=one, args=(c,)) for c in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


def _cli_ingests(world: Wqm, project: Path, width: int) -> list[tuple[str, Any]]:
    children = [subprocess.Popen([WQM, "ingest", "--format", "json"], cwd=project,
                                 env=world.env, text=True, stdin=subprocess.DEVNULL,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                for _ in range(width)]
    outcomes: list[tuple[str, Any]] = []
    for child in children:
        out, err = child.communicate(timeout=240)
        outcomes.append(("result", json.loads(out)) if child.returncode == 0 else ("error", err))
    return outcomes


# -- item 7 ---------------------------------------------------------------------------------


def test_undo_acts_on_the_current_project_and_names_it(tmp_path: Path) -> None:
    """Issue 10 item 7: another project's newer change is not what ``wqm project undo`` reverts."""
    with wqm_world(tmp_path) as world:
        mine = repo(tmp_path / "mine", files("m.py"), remote="https://github.com/acme/mine.git")
        other = repo(tmp_path / "other", files("o.py"))
        git(mine, "remote", "remove", "origin")
        ingest(world, mine)
        ingest(world, other)
        git(mine, "remote", "add", "origin", "https://github.com/acme/mine.git")
        world.ok("project", "update-remote", "--yes", cwd=mine)
        git(other, "remote", "add", "origin", "https://github.com/acme/other.git")
        world.ok("project", "update-remote", "--yes", cwd=other)  # the newest change of all
        before_other = {a["alias_name"] for a in world.json("project", "list-aliases", "--all")}
        assert {"_github_com_acme_mine", "_github_com_acme_other"} <= before_other

        done = world.ok("project", "undo", "--yes", cwd=mine)
        assert f"of the project at {mine}" in done.stdout, done.stdout
        after = {a["alias_name"] for a in world.json("project", "list-aliases", "--all")}
        assert "_github_com_acme_mine" not in after, "undo did not revert this project's change"
        assert "_github_com_acme_other" in after, "undo reverted another project's change"

        preview = world.json("project", "undo", "--dry-run", cwd=mine)
        assert preview["project"] == str(mine)  # the next undo here redoes this project's undo
        latest = world.json("project", "undo", "--all", "--dry-run", cwd=mine)
        assert latest["project"] == str(mine) and latest["change"]["kind"] == "undo"
        by_number = world.json("project", "history", cwd=other)
        other_change = next(e["change_id"] for e in by_number
                            if e["alias_name"] == "_github_com_acme_other")
        world.ok("project", "undo", "--change", str(other_change), "--yes", cwd=mine)
        assert "_github_com_acme_other" not in {
            a["alias_name"] for a in world.json("project", "list-aliases", "--all")}

        lonely = repo(tmp_path / "lonely", files("l.py"))
        message = error_line(world.run("project", "undo", "--yes", cwd=lonely))
        assert str(lonely) in message and "--all" in message, message


# -- item 16 --------------------------------------------------------------------------------

SCP_TOKEN_REMOTES = [
    ("git@github.com:o/r1.git?token=tokSECRETq1", "_github_com_o_r1"),
    ("git@github.com:o/r2.git#tokSECRETf2", "_github_com_o_r2"),
    ("deploy:tokSECRETu3@gitlab.com:grp/r3.git?private_token=tokSECRETq3", "_gitlab_com_grp_r3"),
]


def test_token_in_scp_remote_reaches_no_name_row_or_file(tmp_path: Path) -> None:
    """Issue 10 item 16: queries and fragments of scp-style remotes are dropped everywhere."""
    with wqm_world(tmp_path) as world:
        for number, (remote, name) in enumerate(SCP_TOKEN_REMOTES):
            project = repo(tmp_path / f"scp{number}", files(f"s{number}.py"), remote=remote)
            assert ingest(world, project)["collection"] == name
            status = world.json("status", cwd=project)
            assert status["current_name"] == name
            world.ok("status", cwd=project)
            world.json("project", "list-aliases", "--all")
            world.json("project", "history", "--all")
            world.run("project", "doctor")
        world.ok("service", "stop")
        leaked = [path for path in world.data_dir.rglob("*")
                  if path.is_file() and b"tokSECRET" in path.read_bytes()]
        assert not leaked, f"a remote's token was written to {leaked}"
        for done in world.runs:
            assert "tokSECRET" not in done.stdout + done.stderr, done.args


# -- item 19 --------------------------------------------------------------------------------


@pytest.mark.parametrize("blank", ["", "   "])
def test_empty_or_blank_remote_is_no_remote(tmp_path: Path, blank: str) -> None:
    """Issue 10 item 19: the project is named by its path, not ``_local_<its own path>``."""
    with wqm_world(tmp_path) as world:
        project = repo(tmp_path / "blank", files("b.py"))
        git(project, "config", "remote.origin.url", blank)
        report = ingest(world, project)
        assert str(report["collection"]).startswith("_path_"), report
        status = world.json("status", cwd=project)
        assert status["remote"] in (None, ""), status
        assert all(not n["name"].startswith("_local") for n in status["names"]), status


OWNER_ONLY = [
    "https://github.com/Org",
    "git@github.com:Org",
    "git://github.com/Org",
    "https://github.com/owner/.git",
    "https://gitlab.com/group",
    "git@bitbucket.org:team.git",
]


def test_remote_naming_only_an_owner_is_refused_with_one_sentence(tmp_path: Path) -> None:
    """Issue 10 item 19: forges whose paths are owner/repo: one level names no repository."""
    with wqm_world(tmp_path) as world:
        for number, remote in enumerate(OWNER_ONLY):
            project = repo(tmp_path / f"owner{number}", files("x.py"), remote=remote)
            for args in (("status",), ("ingest",)):
                message = error_line(world.run(*args, cwd=project))
                assert "remote 'origin'" in message, message
                assert "no repository" in message, message
            assert world.json("project", "list-aliases", "--all") == []
