"""Every alias rule of DESIGN.md §2 and issue 2, against a real embedded Qdrant and registry.

Each test opens ``QdrantWorkspaceClient(settings)`` on its own data directory
(embedded Qdrant under ``data_dir/qdrant``, SQLite registry beside it). After
every successful change the registry's alias table must equal Qdrant's own
(``client.get_aliases()``) and the audit log must grow by one event per alias
operation; after every refused change neither store may have moved.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

import pytest
from qdrant_client import QdrantClient
from qdrant_client import models as qm

from _alias_support import (
    PROJECT_A,
    PROJECT_B,
    assert_stores_agree,
    change_count,
    event_count,
    new_project,
    point_count,
    qdrant_table,
    registry_table,
    upsert_random,
)
from workspace_qdrant_mcp.config import Settings
from workspace_qdrant_mcp.core import schema, store
from workspace_qdrant_mcp.core.client import QdrantWorkspaceClient, open_store
from workspace_qdrant_mcp.core.collection_aliases import (
    ANY,
    AliasChange,
    AliasManager,
    CollectionAlias,
)
from workspace_qdrant_mcp.core.errors import (
    AliasConflict,
    AliasError,
    AliasNotFound,
    CollectionNotFound,
    InvalidArgument,
    InvalidName,
    LastNameError,
    PreconditionFailed,
    StoreError,
    WqmError,
)
from workspace_qdrant_mcp.core.naming import is_opaque_physical_name
from workspace_qdrant_mcp.core.state import SQLiteStateManager

#: Every test here runs on each embedded engine (conftest.engine).
pytestmark = pytest.mark.usefixtures("engine")

LEGACY = "_github_com_user_repo"  # a collection an earlier tool named after the project


@pytest.fixture
def ws(settings: Settings) -> Iterator[QdrantWorkspaceClient]:
    """An initialized workspace on the test's data dir, closed at teardown."""
    client = QdrantWorkspaceClient(settings)
    client.initialize_sync()
    yield client
    client.close_sync()


@pytest.fixture
def am(ws: QdrantWorkspaceClient) -> AliasManager:
    """The seed's construction: ``AliasManager(client.client, client.state_manager)``."""
    manager = AliasManager(ws.client, ws.state_manager)
    manager.initialize_sync()
    return manager


@dataclass
class World:
    """Two wqm projects and one legacy collection; ``extra`` is a spare name of project A."""

    phys_a: str
    phys_b: str


@pytest.fixture
def world(am: AliasManager) -> World:
    """Project A (``_path_aaa…`` + alias ``extra``), project B, and a legacy collection."""
    phys_a = new_project(am, PROJECT_A)
    phys_b = new_project(am, PROJECT_B)
    am.qdrant_client.create_collection(
        LEGACY,
        vectors_config=schema.vectors_config(),
        sparse_vectors_config=schema.sparse_vectors_config(),
    )
    am.switch_sync([AliasChange("extra", PROJECT_A)])
    assert_stores_agree(am)
    return World(phys_a, phys_b)


def snapshot(am: AliasManager) -> dict[str, Any]:
    """Everything a refused change must leave untouched, in both stores."""
    return {
        "registry": registry_table(am),
        "qdrant": qdrant_table(am.qdrant_client),
        "collections": sorted(store.collection_names(am.qdrant_client)),
        "events": event_count(am),
        "changes": change_count(am),
    }


# --------------------------------------------------------------------------- create


async def test_create_alias_reaches_the_collection_in_both_stores(
    am: AliasManager, world: World
) -> None:
    events = event_count(am)
    assert (
        await am.create_alias(
            "_path_111111111111", PROJECT_A, created_by="tests", metadata={"why": "moved"}
        )
        is True
    )
    assert qdrant_table(am.qdrant_client)["_path_111111111111"] == world.phys_a
    assert_stores_agree(am)
    alias = await am.get_alias("_path_111111111111")
    assert isinstance(alias, CollectionAlias)
    assert (alias.collection_name, alias.created_by, alias.metadata) == (
        world.phys_a,
        "tests",
        {"why": "moved"},
    )
    assert isinstance(alias.created_at, datetime) and alias.created_at.tzinfo is not None
    assert event_count(am) == events + 1
    [event] = am.state_manager.events("_path_111111111111")
    assert (event.action, event.before, event.after, event.actor) == (
        "create",
        None,
        world.phys_a,
        "tests",
    )


async def test_seed_spelling_old_collection_new_collection(am: AliasManager, world: World) -> None:
    await am.create_alias(old_collection="_path_abc123def456", new_collection=LEGACY)
    assert await am.resolve_collection_name("_path_abc123def456") == LEGACY
    assert_stores_agree(am)


def test_collection_alias_dataclass_fills_created_at() -> None:
    alias = CollectionAlias(alias_name="a", collection_name="c")
    assert alias.created_at is not None and alias.created_by == "system" and alias.metadata is None


@pytest.mark.parametrize("which", ["physical", "legacy", "physical_as_target_of_itself"])
async def test_alias_cannot_take_a_collection_name(
    am: AliasManager, world: World, which: str
) -> None:
    name = {
        "physical": world.phys_b,
        "legacy": LEGACY,
        "physical_as_target_of_itself": world.phys_a,
    }[which]
    before = snapshot(am)
    with pytest.raises(AliasConflict, match="name of a collection"):
        await am.create_alias(name, PROJECT_A)
    assert snapshot(am) == before


@pytest.mark.parametrize("target", ["_path_999999999999", "wqm_00000000deadbeef", "nothing"])
async def test_target_must_exist(am: AliasManager, world: World, target: str) -> None:
    before = snapshot(am)
    with pytest.raises(CollectionNotFound, match=target):
        await am.create_alias("new_name", target)
    assert snapshot(am) == before


async def test_alias_to_an_alias_points_at_its_collection(am: AliasManager, world: World) -> None:
    await am.create_alias("second", "extra")  # extra -> phys_a
    await am.create_alias("third", "second")  # a chain of two: still flattened
    live = qdrant_table(am.qdrant_client)  # Qdrant's own table, not ours
    assert live["second"] == world.phys_a
    assert live["third"] == world.phys_a
    assert_stores_agree(am)
    await am.create_alias("to_legacy", LEGACY)
    assert qdrant_table(am.qdrant_client)["to_legacy"] == LEGACY


async def test_repointing_needs_force(am: AliasManager, world: World) -> None:
    before = snapshot(am)
    with pytest.raises(AliasConflict, match="needs force"):
        await am.create_alias("extra", PROJECT_B)
    assert snapshot(am) == before
    assert await am.create_alias("extra", PROJECT_B, force=True)
    assert qdrant_table(am.qdrant_client)["extra"] == world.phys_b
    assert_stores_agree(am)
    assert event_count(am) == before["events"] + 1
    event = am.state_manager.events("extra")[0]
    assert (event.action, event.before, event.after) == ("repoint", world.phys_a, world.phys_b)


@pytest.mark.parametrize("target", [PROJECT_A, "extra"])  # the same collection, named two ways
async def test_create_is_idempotent(am: AliasManager, world: World, target: str) -> None:
    await am.create_alias("twice", PROJECT_A)
    after_first = snapshot(am)
    assert await am.create_alias("twice", target) is True
    assert snapshot(am) == after_first
    assert [a.alias_name for a in await am.list_aliases()].count("twice") == 1
    assert len(am.state_manager.events("twice")) == 1


# --------------------------------------------------------------------------- delete


async def test_delete_alias_removes_it_from_both_stores(am: AliasManager, world: World) -> None:
    events = event_count(am)
    assert await am.delete_alias("extra") is True
    assert "extra" not in qdrant_table(am.qdrant_client)
    assert await am.get_alias("extra") is None
    assert_stores_agree(am)
    assert event_count(am) == events + 1
    event = am.state_manager.events("extra")[0]
    assert (event.action, event.before, event.after) == ("delete", world.phys_a, None)
    assert point_count(am.qdrant_client, world.phys_a) == 0  # data untouched (it was empty)
    assert world.phys_a in store.collection_names(am.qdrant_client)


async def test_delete_missing_alias_is_an_error(am: AliasManager, world: World) -> None:
    before = snapshot(am)
    with pytest.raises(AliasNotFound, match="no_such_alias"):
        await am.delete_alias("no_such_alias")
    assert snapshot(am) == before


async def test_delete_refuses_a_collection_name(am: AliasManager, world: World) -> None:
    before = snapshot(am)
    with pytest.raises(AliasConflict):
        await am.delete_alias(LEGACY)
    assert snapshot(am) == before


async def test_removing_the_last_name_needs_force(am: AliasManager, world: World) -> None:
    upsert_random(am.qdrant_client, PROJECT_B, 4)
    before = snapshot(am)
    with pytest.raises(LastNameError, match="last name"):
        await am.delete_alias(PROJECT_B)
    with pytest.raises(LastNameError):  # moving it away (CAS, no force) is the same loss
        await am.switch([AliasChange(PROJECT_B, PROJECT_A, expected=world.phys_b)])
    assert snapshot(am) == before
    await am.delete_alias(PROJECT_B, force=True)
    assert PROJECT_B not in qdrant_table(am.qdrant_client)
    assert point_count(am.qdrant_client, world.phys_b) == 4  # the data itself stays
    assert_stores_agree(am)


async def test_one_of_several_names_can_go_without_force(am: AliasManager, world: World) -> None:
    await am.delete_alias(PROJECT_A)  # "extra" still reaches phys_a
    assert qdrant_table(am.qdrant_client)["extra"] == world.phys_a
    with pytest.raises(LastNameError):
        await am.delete_alias("extra")


async def test_alias_of_a_legacy_collection_may_go(am: AliasManager, world: World) -> None:
    await am.create_alias("old_name", LEGACY)
    await am.delete_alias("old_name")  # LEGACY keeps its own name: nothing is orphaned
    assert_stores_agree(am)


# --------------------------------------------------------------------------- names


BAD_NAMES = [
    pytest.param("", id="empty"),
    pytest.param("   ", id="blank"),
    pytest.param("x" * 256, id="256-chars"),
    *[pytest.param(f"a{c}b", id=f"char-{c}") for c in '/\\:*?"<>|'],
    pytest.param("a\x00b", id="NUL"),
    pytest.param("a\x01b", id="ctrl-01"),
    pytest.param("a\nb", id="newline"),
    pytest.param("a\tb", id="tab"),
    pytest.param("a\x1bb", id="escape"),
    pytest.param("a\x7fb", id="DEL"),
]


@pytest.mark.parametrize("bad", BAD_NAMES)
async def test_invalid_names_are_rejected_and_leave_nothing(
    am: AliasManager, world: World, bad: str
) -> None:
    before = snapshot(am)
    with pytest.raises(InvalidName):
        await am.create_alias(bad, PROJECT_A)
    with pytest.raises(InvalidName):
        await am.create_alias("good_name", bad)
    with pytest.raises(InvalidName):
        await am.delete_alias(bad)
    with pytest.raises(InvalidName):
        await am.switch([AliasChange("good_name", PROJECT_A), AliasChange(bad, PROJECT_B)])
    with pytest.raises(InvalidName):
        await am.create_project_collection(bad, vectors_config=schema.vectors_config())
    assert snapshot(am) == before
    assert await am.get_alias("good_name") is None


@pytest.mark.parametrize(
    "bad", ["", "x" * 256, "a/b", "a\x00b"], ids=["empty", "256", "slash", "NUL"]
)
def test_names_are_checked_before_qdrant_is_reached(settings: Settings, bad: str) -> None:
    """With the Qdrant client closed, a bad name still fails as InvalidName, not StoreError."""
    ws = QdrantWorkspaceClient(settings)
    ws.initialize_sync()
    try:
        ws.client.close()
        with pytest.raises(StoreError):  # proves the client is really unusable
            ws.aliases.switch_sync([AliasChange("fine", "also_fine")])
        with pytest.raises(InvalidName):
            ws.aliases.switch_sync([AliasChange(bad, "also_fine")])
        with pytest.raises(InvalidName):
            ws.aliases.create_project_collection_sync(bad, vectors_config=schema.vectors_config())
        assert change_count(ws.aliases) == 0
    finally:
        ws.close_sync()


def test_longest_valid_name_is_accepted(am: AliasManager, world: World) -> None:
    name = "n" * 255
    am.switch_sync([AliasChange(name, PROJECT_A)])
    assert qdrant_table(am.qdrant_client)[name] == world.phys_a
    assert_stores_agree(am)


def test_invalid_name_message_is_one_clear_sentence(am: AliasManager) -> None:
    with pytest.raises(InvalidName) as info:
        am.switch_sync([AliasChange("a/b", "c")])
    assert "'/'" in str(info.value) and "\n" not in str(info.value)


# --------------------------------------------------------------------------- atomic switch


class CountingClient:
    """The real engine client of the test's engine, counting its ``update_collection_aliases`` calls."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.alias_calls = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def update_collection_aliases(self, *args: Any, **kwargs: Any) -> bool:
        self.alias_calls += 1
        return bool(self.inner.update_collection_aliases(*args, **kwargs))


@pytest.fixture
def counted(settings: Settings, engine: str) -> Iterator[AliasManager]:
    """A world like ``world``, over a counting client (reset to 0 once it is set up)."""
    client = CountingClient(open_store(settings, engine))
    state = SQLiteStateManager(settings.registry_path)
    manager = AliasManager(cast(QdrantClient, client), state)
    manager.initialize_sync()
    new_project(manager, PROJECT_A)
    new_project(manager, PROJECT_B)
    manager.switch_sync([AliasChange("x", PROJECT_A), AliasChange("y", PROJECT_A)])
    client.alias_calls = 0
    yield manager
    state.close()
    client.close()


async def test_switch_applies_several_changes_in_one_qdrant_call(counted: AliasManager) -> None:
    am = counted
    phys_a, phys_b = am.resolve_sync(PROJECT_A), am.resolve_sync(PROJECT_B)
    events = event_count(am)
    record = await am.switch(
        [
            AliasChange("x", PROJECT_B, expected=phys_a),  # re-point (CAS: explicit consent)
            AliasChange("y", None, expected=phys_a),  # delete
            AliasChange("z", "y", expected=None),  # create (named via an alias: flattened)
        ],
        actor="tests",
        reason="migration",
    )
    assert am.qdrant_client.alias_calls == 1
    live = assert_stores_agree(am)
    assert live["x"] == phys_b and "y" not in live and live["z"] == phys_a
    assert record is not None and record.status == "done" and len(record.operations) == 3
    new_events = am.state_manager.events(limit=3)
    assert event_count(am) == events + 3
    assert {e.change_id for e in new_events} == {record.id}
    assert {(e.action, e.alias_name) for e in new_events} == {
        ("repoint", "x"),
        ("delete", "y"),
        ("create", "z"),
    }


FAILING_SECOND_CHANGES = [
    pytest.param(
        AliasChange("y", PROJECT_B, expected=PROJECT_B), PreconditionFailed, id="cas-wrong"
    ),
    pytest.param(
        AliasChange("y", PROJECT_B, expected=None), PreconditionFailed, id="cas-expects-absent"
    ),
    pytest.param(
        AliasChange("w", PROJECT_B, expected="wqm_0000000000000000"),
        PreconditionFailed,
        id="cas-expects-present",
    ),
    pytest.param(AliasChange("y", "missing"), CollectionNotFound, id="missing-target"),
    pytest.param(AliasChange("y", PROJECT_B), AliasConflict, id="repoint-without-force"),
    pytest.param(AliasChange("w", None), AliasNotFound, id="delete-missing"),
    pytest.param(AliasChange("x", PROJECT_A), InvalidArgument, id="same-alias-twice"),
    pytest.param(AliasChange("a:b", PROJECT_A), InvalidName, id="bad-name"),
]


@pytest.mark.parametrize(("second", "error"), FAILING_SECOND_CHANGES)
async def test_a_failing_change_makes_the_whole_switch_change_nothing(
    counted: AliasManager, second: AliasChange, error: type[WqmError]
) -> None:
    am = counted
    before = snapshot(am)
    with pytest.raises(error):
        await am.switch([AliasChange("x", PROJECT_B, expected=am.resolve_sync(PROJECT_A)), second])
    assert snapshot(am) == before
    assert am.qdrant_client.alias_calls == 0


async def test_switch_without_changes_is_refused(am: AliasManager) -> None:
    with pytest.raises(InvalidArgument):
        await am.switch([])


async def test_switch_that_changes_nothing_returns_none(am: AliasManager, world: World) -> None:
    before = snapshot(am)
    assert await am.switch([AliasChange("extra", PROJECT_A, expected=ANY)]) is None
    assert snapshot(am) == before


# --------------------------------------------------------------------------- reads


async def test_get_alias(am: AliasManager, world: World) -> None:
    alias = await am.get_alias("extra")
    assert (
        alias is not None and alias.alias_name == "extra" and alias.collection_name == world.phys_a
    )
    assert alias.to_dict()["hit_count"] == 0
    assert await am.get_alias("nope") is None
    assert await am.get_alias(LEGACY) is None  # a collection is not an alias


async def test_list_aliases_matches_qdrant(am: AliasManager, world: World) -> None:
    aliases = await am.list_aliases()
    assert all(isinstance(a, CollectionAlias) for a in aliases)
    assert {a.alias_name: a.collection_name for a in aliases} == qdrant_table(am.qdrant_client)
    assert {a.alias_name for a in aliases} == {PROJECT_A, PROJECT_B, "extra"}


@pytest.mark.parametrize(
    ("asked", "expected"),
    [
        ("phys_a", [PROJECT_A, "extra"]),
        (PROJECT_A, [PROJECT_A, "extra"]),  # given an alias: the aliases of its collection
        ("extra", [PROJECT_A, "extra"]),
        (PROJECT_B, [PROJECT_B]),
        (LEGACY, ["legacy_alias"]),
        ("unknown_name", []),
    ],
)
async def test_get_aliases_for_collection(
    am: AliasManager, world: World, asked: str, expected: list[str]
) -> None:
    await am.create_alias("legacy_alias", LEGACY)
    name = world.phys_a if asked == "phys_a" else asked
    assert await am.get_aliases_for_collection(name) == sorted(expected)


@pytest.mark.parametrize(
    ("asked", "expected"),
    [
        (PROJECT_A, "phys_a"),
        ("extra", "phys_a"),
        (PROJECT_B, "phys_b"),
        ("phys_a", "phys_a"),  # a physical name resolves to itself
        (LEGACY, LEGACY),
        ("unknown_name", "unknown_name"),
    ],
)
async def test_resolve_collection_name(
    am: AliasManager, world: World, asked: str, expected: str
) -> None:
    names = {"phys_a": world.phys_a, "phys_b": world.phys_b}
    assert await am.resolve_collection_name(names.get(asked, asked)) == names.get(
        expected, expected
    )


# --------------------------------------------------------------------------- undo


async def test_undo_reverts_the_last_change_and_is_logged(am: AliasManager, world: World) -> None:
    await am.create_alias("extra", PROJECT_B, force=True)
    last = am.state_manager.last_undoable_change()
    assert last is not None
    events = event_count(am)
    record = await am.undo(actor="tests")
    assert qdrant_table(am.qdrant_client)["extra"] == world.phys_a
    assert_stores_agree(am)
    assert record.kind == "undo" and record.undo_of == last.id and record.status == "done"
    assert event_count(am) == events + 1
    event = am.state_manager.events("extra")[0]
    assert (event.action, event.before, event.after, event.actor) == (
        "repoint",
        world.phys_b,
        world.phys_a,
        "tests",
    )
    assert event.reason == f"undo of change {last.id}"
    original = am.state_manager.get_change(last.id)
    assert original is not None and original.undone_by == record.id


async def test_undo_reverts_a_whole_switch_atomically(am: AliasManager, world: World) -> None:
    before = qdrant_table(am.qdrant_client)
    await am.switch(
        [
            AliasChange("extra", None),
            AliasChange("n1", PROJECT_B),
            AliasChange(PROJECT_A, PROJECT_B, expected=world.phys_a),
        ],
        force=True,
    )
    events = event_count(am)
    await am.undo(force=True)
    assert qdrant_table(am.qdrant_client) == before
    assert_stores_agree(am)
    assert event_count(am) == events + 3


async def test_undo_of_an_undo_redoes(am: AliasManager, world: World) -> None:
    await am.create_alias("again", PROJECT_B)
    await am.undo()
    assert "again" not in qdrant_table(am.qdrant_client)
    await am.undo()
    assert qdrant_table(am.qdrant_client)["again"] == world.phys_b
    assert_stores_agree(am)


async def test_undo_with_nothing_to_undo(am: AliasManager) -> None:
    with pytest.raises(AliasError, match="no alias change to undo"):
        await am.undo()


async def test_undo_refuses_when_the_change_is_no_longer_in_effect(
    am: AliasManager, world: World
) -> None:
    await am.create_alias("moved_outside", PROJECT_A)
    am.qdrant_client.update_collection_aliases(
        change_aliases_operations=[
            qm.CreateAliasOperation(
                create_alias=qm.CreateAlias(
                    collection_name=world.phys_b, alias_name="moved_outside"
                )
            )
        ]
    )
    before = snapshot(am)
    with pytest.raises(PreconditionFailed):
        await am.undo()
    assert snapshot(am) == before


# --------------------------------------------------------------------------- reconcile


async def test_reconcile_reports_and_fixes_one_sided_aliases(
    am: AliasManager, world: World
) -> None:
    client = am.qdrant_client
    client.update_collection_aliases(
        change_aliases_operations=[  # only in Qdrant
            qm.CreateAliasOperation(
                create_alias=qm.CreateAlias(collection_name=world.phys_b, alias_name="made_outside")
            )
        ]
    )
    await am.create_alias("lost_in_qdrant", PROJECT_A)
    client.update_collection_aliases(
        change_aliases_operations=[  # now only in the registry
            qm.DeleteAliasOperation(delete_alias=qm.DeleteAlias(alias_name="lost_in_qdrant"))
        ]
    )

    report = await am.reconcile()
    found = {(p.kind, p.name) for p in report.problems}
    assert found == {("qdrant_only", "made_outside"), ("registry_only", "lost_in_qdrant")}
    assert not report.ok
    assert await am.get_alias("made_outside") is None  # a report alone changes nothing
    assert (await am.get_alias("lost_in_qdrant")) is not None

    fixed = await am.reconcile(fix=True)
    assert fixed.ok and {(p.kind, p.name) for p in fixed.problems} == found
    adopted = await am.get_alias("made_outside")
    assert adopted is not None
    assert (adopted.collection_name, adopted.created_by) == (world.phys_b, "external")
    assert await am.get_alias("lost_in_qdrant") is None
    assert_stores_agree(am)
    actions = {(e.action, e.alias_name) for e in am.state_manager.events(limit=2)}
    assert actions == {("adopt", "made_outside"), ("drop", "lost_in_qdrant")}
    assert (await am.reconcile()).problems == []


async def test_reconcile_of_agreeing_stores_is_clean(am: AliasManager, world: World) -> None:
    report = await am.reconcile(fix=True)
    assert report.ok and report.problems == []


# --------------------------------------------------------------------------- project collections


@pytest.mark.filterwarnings("ignore:Payload indexes have no effect in the local Qdrant")
def test_create_project_collection(am: AliasManager) -> None:
    events = event_count(am)
    physical = am.create_project_collection_sync(
        "_path_123456789abc",
        vectors_config=schema.vectors_config(),
        sparse_vectors_config=schema.sparse_vectors_config(),
        payload_indexes=schema.payload_indexes(),
        actor="tests",
    )
    assert is_opaque_physical_name(physical) and physical != "_path_123456789abc"
    assert qdrant_table(am.qdrant_client) == {"_path_123456789abc": physical}
    assert_stores_agree(am)
    assert am.resolve_sync("_path_123456789abc") == physical
    assert event_count(am) == events + 1
    info = am.qdrant_client.get_collection("_path_123456789abc")  # reachable by logical name
    assert set(info.config.params.vectors) == {schema.DENSE_VECTOR, schema.SYMBOL_VECTOR}
    upsert_random(am.qdrant_client, "_path_123456789abc", 5)
    assert point_count(am.qdrant_client, physical) == 5


@pytest.mark.parametrize("taken", [PROJECT_A, "extra", LEGACY])
def test_create_project_collection_refuses_a_name_in_use(
    am: AliasManager, world: World, taken: str
) -> None:
    before = snapshot(am)
    with pytest.raises(AliasConflict, match="already in use"):
        am.create_project_collection_sync(taken, vectors_config=schema.vectors_config())
    assert snapshot(am) == before


def test_every_physical_collection_of_a_project_has_a_name(am: AliasManager, world: World) -> None:
    assert am.names_of_collection(world.phys_a) == [PROJECT_A, "extra"]
    assert am.names_of_collection(LEGACY) == [LEGACY]
