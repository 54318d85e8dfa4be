"""Zero-downtime reindex: a new collection is built beside the old one, then every name moves.

Real embedded Qdrant, real SQLite, real git repositories; the rebuild runs the
same indexer as ingest. A recipe change is simulated with ``WQM_RECIPE_TAG``
(a test setting that tags the chunker version, as a release changing it would).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from conftest import git
from workspace_qdrant_mcp.config import Settings
from workspace_qdrant_mcp.core import store
from workspace_qdrant_mcp.core.errors import AliasNotFound, CollectionNotFound
from workspace_qdrant_mcp.core.index_registry import LIVE, RETIRED, IndexRegistry
from workspace_qdrant_mcp.ops import aliases as alias_ops
from workspace_qdrant_mcp.ops.ingest import ingest
from workspace_qdrant_mcp.ops.notes import store_note
from workspace_qdrant_mcp.ops.reindex import collect, reindex
from workspace_qdrant_mcp.ops.search import search
from workspace_qdrant_mcp.ops.status import workspace_status
from workspace_qdrant_mcp.workspace.workspace import Workspace

Factory = Callable[..., Path]
FILES = {
    "billing.py": "def invoice_total(lines):\n    return sum(line.amount for line in lines)\n",
    "mail.py": "def send_welcome_email(user):\n    smtp.send(user.address, 'Welcome!')\n",
}


def _names(ws: Workspace, physical: str) -> list[str]:
    return ws.aliases.names_of_collection(physical)


def test_rebuild_moves_every_name_keeps_notes_and_undo_switches_back(
    settings: Settings, make_repo: Factory
) -> None:
    repo = make_repo("proj", files=FILES)
    ws = Workspace(settings).open()
    try:
        ingest(ws, project_path=str(repo))
        note = store_note(ws, "Deploys happen on Tuesdays after the standup.", title="deploys",
                          project_path=str(repo))
        git(repo, "remote", "add", "origin", "https://github.com/acme/proj.git")
        ctx = ws.project(repo)  # the automatic migration gives it its remote-based name too
        old = ctx.physical
        assert old is not None and len(_names(ws, old)) == 2
    finally:
        ws.close()

    tagged = Workspace(settings.with_overrides(recipe_tag="t1")).open()
    try:
        assert workspace_status(tagged, str(repo))["index"]["recipe_current"] is False
        result = reindex(tagged, project_path=str(repo))
        new = result["new_collection"]
        assert result["status"] == "switched" and new and new != old
        assert sorted(result["names"]) == sorted(_names(tagged, new))
        assert _names(tagged, old) == []  # every name moved, in one step
        registry = IndexRegistry(tagged.state)
        assert registry.collection(new).state == LIVE
        assert registry.collection(old).state == RETIRED
        status = workspace_status(tagged, str(repo))
        assert status["physical_collection"] == new and status["index"]["recipe_current"]
        assert [r["collection"] for r in status["index"]["retired"]] == [old]
        for name in result["names"]:  # both names answer from the new index, notes included
            found = search(tagged, "which day do deploys happen", collection=name)
            assert found["results"][0]["payload"]["document_id"] == note["id"]
            assert search(tagged, "invoice total", collection=name)["results"][0]["path"] \
                == "billing.py"

        undone = alias_ops.undo(tagged, str(repo))
        assert undone["change"]["kind"] == "reindex"
        assert sorted(_names(tagged, old)) == sorted(result["names"]) and not _names(tagged, new)
        assert registry.collection(old).state == LIVE
        assert registry.collection(new).state == RETIRED
        alias_ops.undo(tagged, str(repo))  # and again: the rebuilt index is back
        assert registry.collection(new).state == LIVE
        assert tagged.project(repo).physical == new

        dry = collect(tagged, dry_run=True)
        assert [r["collection"] for r in dry["removed"]] == [old]
        assert old in store.collection_names(tagged.client)  # a dry run removes nothing
        collect(tagged)
        assert old not in store.collection_names(tagged.client)
        assert collect(tagged)["removed"] == []  # never the live one
        assert new in store.collection_names(tagged.client)
    finally:
        tagged.close()


def test_a_project_without_an_index_has_nothing_to_rebuild(
    settings: Settings, make_repo: Factory
) -> None:
    ws = Workspace(settings).open()
    try:
        with pytest.raises(CollectionNotFound, match="nothing to rebuild"):
            reindex(ws, project_path=str(make_repo("empty")))
    finally:
        ws.close()


def test_gc_never_removes_a_collection_a_name_reaches(
    settings: Settings, make_repo: Factory
) -> None:
    repo = make_repo("proj", files=FILES)
    ws = Workspace(settings.with_overrides(recipe_tag="t2")).open()
    try:
        ingest(ws, project_path=str(repo))
        physical = ws.project(repo).physical
        assert physical is not None
        registry = IndexRegistry(ws.state)
        registry.set_state(physical, RETIRED)  # a record gone wrong must not cost the data
        assert collect(ws)["removed"] == []
        assert physical in store.collection_names(ws.client)
    finally:
        ws.close()


def test_an_outdated_index_is_rebuilt_by_ingest_not_mixed(
    settings: Settings, make_repo: Factory
) -> None:
    repo = make_repo("proj", files=FILES)
    ws = Workspace(settings).open()
    try:
        ingest(ws, project_path=str(repo))
        old = ws.project(repo).physical
    finally:
        ws.close()
    (repo / "extra.py").write_text("def compute_tax(amount):\n    return amount * 0.2\n")
    tagged = Workspace(settings.with_overrides(recipe_tag="t3")).open()
    try:
        result = ingest(tagged, project_path=str(repo))
        new = tagged.project(repo).physical
        assert new != old and "rebuilt" in result["notices"][-1]
        recipe = IndexRegistry(tagged.state).collection(new).recipe
        hits = search(tagged, "compute tax", project_path=str(repo))["results"]
        assert hits and all(h["payload"]["recipe"] == recipe.id for h in hits
                            if h["payload"]["source"] == "file")
        with pytest.raises(AliasNotFound):
            alias_ops.undo(tagged, str(repo), change_id=10_000)
    finally:
        tagged.close()
