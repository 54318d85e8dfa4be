"""Zero downtime, shown: searches through old and new names while update-remote and undo run.

Threads in one process share one workspace (the embedded client is serialised
by ``core.store.guarded``, so queries interleave with each Qdrant call of the
change). Every query sends a *logical* name to Qdrant, as search does.

- Adding a name: the old name never fails and never comes back empty, before,
  during or after the apply and the undo; the new name answers from the moment
  apply returns until undo removes it, and once gone it stays gone (no flapping).
- Re-pointing a name (``--force``): both names exist throughout, so no query
  through either may fail or return nothing, and each answer comes wholly from
  one collection (the switch is one atomic step).
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from qdrant_client import models as qm

from _project_support import make_data, opened, random_vector
from conftest import git
from workspace_qdrant_mcp.config import Settings
from workspace_qdrant_mcp.core import schema, store
from workspace_qdrant_mcp.core.errors import StoreError
from workspace_qdrant_mcp.ops import aliases as alias_ops
from workspace_qdrant_mcp.ops import identity
from workspace_qdrant_mcp.workspace.workspace import Workspace

#: Every test here runs on each embedded engine (conftest.engine).
pytestmark = pytest.mark.usefixtures("engine")

REMOTE = "https://github.com/user/zero.git"
NEW = "_github_com_user_zero"


@dataclass
class Log:
    """What one querying thread saw: (start time, ok, point count, collections answered from)."""

    name: str
    calls: list[tuple[float, bool, int, frozenset[str]]] = field(default_factory=list)

    def failures(self, after: float = 0.0, before: float = float("inf")) -> list[object]:
        return [c for c in self.calls if after <= c[0] < before and (not c[1] or c[2] == 0)]


def _during(logs: list[Log], spans: list[tuple[float, float]]) -> int:
    """Queries that started while a step ran (proof that they really interleaved)."""
    return sum(1 for log in logs for c in log.calls for a, b in spans if a <= c[0] < b)


def _query(ws: Workspace, name: str, rng: random.Random) -> tuple[bool, int, frozenset[str]]:
    try:
        with store.guarded(ws.client, f"query {name}"):
            points = ws.client.query_points(name, query=random_vector(rng),
                                            using=schema.DENSE_VECTOR, limit=3,
                                            with_payload=True).points
    except StoreError:
        return False, 0, frozenset()
    return True, len(points), frozenset(str((p.payload or {}).get("owner")) for p in points)


def _loop(ws: Workspace, log: Log, stop: threading.Event, start: threading.Event | None) -> None:
    rng = random.Random(log.name)
    if start is not None:
        start.wait()
    while not stop.is_set():
        began = time.monotonic()
        log.calls.append((began, *_query(ws, log.name, rng)))
        time.sleep(0.001)  # let the change take the client lock between queries


def _mark_owner(ws: Workspace, name: str) -> None:
    """Tag every point with the collection it lives in, to tell answers apart."""
    physical = ws.aliases.resolve_sync(name)
    store.call(ws.client, "tag points", lambda: ws.client.set_payload(
        name, payload={"owner": physical}, points=qm.Filter(), wait=True))


def _run(ws: Workspace, logs: list[Log], starts: dict[str, threading.Event],
         steps: list[Callable[[], object]]) -> list[tuple[float, float]]:
    """Run ``steps`` in order while the logs' threads query; return each step's time span."""
    stop = threading.Event()
    threads = [threading.Thread(target=_loop, args=(ws, log, stop, starts.get(log.name)))
               for log in logs]
    for thread in threads:
        thread.start()
    spans = []
    try:
        time.sleep(0.2)
        for step in steps:
            began = time.monotonic()
            step()
            spans.append((began, time.monotonic()))
            time.sleep(0.2)
    finally:
        stop.set()
        for event in starts.values():
            event.set()
        for thread in threads:
            thread.join()
    return spans


def test_adding_a_name_and_undoing_it_never_interrupts_search(
    settings: Settings, make_repo: Callable[..., Path]
) -> None:
    repo = make_repo("proj")
    with opened(settings) as ws:
        old = make_data(ws, repo, points=40)["name"]
        git(repo, "remote", "add", "origin", REMOTE)
        plan = identity.plan_update_remote(ws, str(repo))
        old_log, new_log = Log(old), Log(NEW)
        new_may_start = threading.Event()

        def apply() -> None:
            assert identity.apply_plan(ws, plan)["status"] == "applied"
            new_may_start.set()

        def undo() -> None:
            assert alias_ops.undo(ws, str(repo))["status"] == "undone"

        spans = _run(ws, [old_log, new_log], {NEW: new_may_start}, [apply, undo])
        (_, applied), (undo_began, undone) = spans
        assert _during([old_log, new_log], spans) > 0
        assert len(old_log.calls) > 50 and old_log.failures() == []
        assert all(c[0] >= applied for c in new_log.calls)
        assert new_log.failures(before=undo_began) == []
        assert [c for c in new_log.calls if c[0] < undo_began]  # it did answer meanwhile
        outcomes = [c[1] for c in new_log.calls]
        assert outcomes == sorted(outcomes, reverse=True)  # answers, then gone: no flapping
        assert not any(c[1] for c in new_log.calls if c[0] >= undone)
        assert NEW not in store.live_aliases(ws.client)


def test_repointing_a_name_and_undoing_it_never_interrupts_search(
    settings: Settings, make_repo: Callable[..., Path]
) -> None:
    first = make_repo("first", remote=REMOTE)
    repo = make_repo("second")
    with opened(settings) as ws:
        theirs = make_data(ws, first, points=30)
        mine = make_data(ws, repo, points=30)
        _mark_owner(ws, theirs["name"])
        _mark_owner(ws, mine["name"])
        git(repo, "remote", "add", "origin", REMOTE)
        plan = identity.plan_update_remote(ws, str(repo), force=True)
        logs = [Log(mine["name"]), Log(NEW)]

        spans = _run(ws, logs, {}, [
            lambda: identity.apply_plan(ws, plan),
            lambda: alias_ops.undo(ws, str(repo), force=True),
        ])
        assert len(spans) == 2 and _during(logs, spans) > 0
        for log in logs:
            assert len(log.calls) > 50 and log.failures() == []
            assert all(len(c[3]) == 1 for c in log.calls)  # one collection per answer
        answered_by = {c[3] for c in logs[1].calls}
        assert answered_by == {frozenset([theirs["physical"]]), frozenset([mine["physical"]])}
        assert store.live_aliases(ws.client)[NEW] == theirs["physical"]
