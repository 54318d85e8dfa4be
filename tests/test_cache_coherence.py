"""The alias lookup cache is coherent across processes: no restart is needed to see a change.

How two processes share one data dir here: the embedded Qdrant store admits ONE
process at a time (no server in these tests), so the two processes open it in
sequence. Process B is this test process: it opens the workspace, resolves
names (warming its cache), then closes its ``QdrantClient`` but keeps its
``AliasManager`` and registry connection, because ``resolve_collection_name``
reads only the registry. Process A is a long-lived child
(``tests/_alias_support.py serve``) that opens the store after B let go of it
and changes aliases on command, one stdin line at a time. After each of A's
changes, B's very next lookup must return the new truth.
"""

from __future__ import annotations

import os
import selectors
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from _alias_support import PROJECT_A, PROJECT_B, new_project
from workspace_qdrant_mcp.config import Settings
from workspace_qdrant_mcp.core.client import QdrantWorkspaceClient
from workspace_qdrant_mcp.core.collection_aliases import AliasChange, AliasManager
from workspace_qdrant_mcp.core.errors import StoreError

#: Every test here runs on each embedded engine (conftest.engine).
pytestmark = pytest.mark.usefixtures("engine")

CHILD = Path(__file__).with_name("_alias_support.py")


class ChildA:
    """Process A: a real second Python process driven over stdin/stdout lines."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(CHILD), "serve"],
            env=dict(os.environ),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.expect("ready")

    def read_line(self, timeout: float = 60) -> str:
        assert self.proc.stdout is not None
        with selectors.DefaultSelector() as sel:
            sel.register(self.proc.stdout, selectors.EVENT_READ)
            if not sel.select(timeout):
                raise AssertionError("process A did not answer in time")
        line = self.proc.stdout.readline()
        if not line:
            stderr = self.proc.stderr.read() if self.proc.stderr else ""
            raise AssertionError(f"process A exited early:\n{stderr}")
        return line.strip()

    def expect(self, answer: str) -> None:
        assert self.read_line() == answer

    def do(self, command: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        self.expect("ok")

    def stop(self) -> None:
        if self.proc.poll() is None:
            assert self.proc.stdin is not None
            self.proc.stdin.write("quit\n")
            self.proc.stdin.flush()
            self.expect("bye")
            assert self.proc.wait(timeout=60) == 0
        if self.proc.stdin:
            self.proc.stdin.close()
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream:
                stream.close()


@pytest.fixture
def process_b(settings: Settings) -> Iterator[tuple[AliasManager, str, str]]:
    """B's alias manager, with a warm cache and its Qdrant client closed; plus both physicals."""
    ws = QdrantWorkspaceClient(settings)
    ws.initialize_sync()
    am = ws.aliases
    phys_a = new_project(am, PROJECT_A)
    phys_b = new_project(am, PROJECT_B)
    am.switch_sync([AliasChange("shared", PROJECT_A)])
    assert am.resolve_sync("shared") == phys_a  # warm the cache
    assert am.resolve_sync("fresh") == "fresh"  # a miss is cached too
    ws.client.close()  # let go of the embedded store; keep the AliasManager and registry
    yield am, phys_a, phys_b
    ws.close_sync()


async def test_changes_by_another_process_are_seen_on_the_next_lookup(
    process_b: tuple[AliasManager, str, str],
) -> None:
    am, phys_a, phys_b = process_b
    with pytest.raises(StoreError):  # B really cannot reach Qdrant any more
        am.names_of_collection(phys_a)
    a = ChildA()
    try:
        a.do(f"repoint shared {PROJECT_B}")
        assert await am.resolve_collection_name("shared") == phys_b

        a.do(f"repoint fresh {PROJECT_A}")  # a name B looked up before it existed
        assert await am.resolve_collection_name("fresh") == phys_a
        assert await am.get_aliases_for_collection(PROJECT_A) == sorted([PROJECT_A, "fresh"])

        a.do("delete shared")
        assert await am.resolve_collection_name("shared") == "shared"
        assert await am.get_alias("shared") is None
        assert {x.alias_name for x in await am.list_aliases()} == {PROJECT_A, PROJECT_B, "fresh"}
    finally:
        a.stop()


async def test_undo_and_repairs_by_another_process_are_seen_too(
    process_b: tuple[AliasManager, str, str],
) -> None:
    am, phys_a, phys_b = process_b
    a = ChildA()
    try:
        a.do(f"repoint shared {PROJECT_B}")
        assert await am.resolve_collection_name("shared") == phys_b
        a.do("undo")
        assert await am.resolve_collection_name("shared") == phys_a
        a.do("qdrant-delete shared")  # Qdrant changed behind the registry: B cannot know yet
        assert await am.resolve_collection_name("shared") == phys_a
        a.do("reconcile")  # the registry follows Qdrant, and B follows the registry
        assert await am.resolve_collection_name("shared") == "shared"
    finally:
        a.stop()
