"""Collection aliases: every name a project has had reaches the same physical collection.

Example (the seed's, runs as written once ``_github_com_user_repo`` holds data)::

    from workspace_qdrant_mcp.core.collection_aliases import AliasManager
    from workspace_qdrant_mcp.core.client import QdrantWorkspaceClient

    client = QdrantWorkspaceClient()
    alias_manager = AliasManager(client.client, client.state_manager)

    await alias_manager.create_alias(
        old_collection="_path_abc123def456",
        new_collection="_github_com_user_repo",
    )
    actual = await alias_manager.resolve_collection_name("_path_abc123def456")
    # "_github_com_user_repo"
    aliases = await alias_manager.list_aliases()
    await alias_manager.delete_alias("_path_abc123def456")

Rules (DESIGN.md §2), enforced before Qdrant is touched: names are valid; an
alias never shares a name with a collection; a target must exist, and a target
that is itself an alias is flattened to its collection; re-pointing an alias or
removing the last name of a project's data needs ``force``.

Every change follows intent -> Qdrant -> done under one cross-process lock:
the intent is committed to SQLite, Qdrant is switched in ONE atomic
``update_collection_aliases`` call, then the registry rows, the audit events and
the "done" mark are committed together. ``initialize()`` and ``reconcile()``
finish or undo whatever a crash left pending.
"""

from __future__ import annotations

import contextlib
import os
import warnings
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any

from qdrant_client import QdrantClient
from qdrant_client import models as qm

from . import faults, locks, store
from .alias_types import (
    ANY,
    AliasChange,
    AliasRow,
    CollectionAlias,
    Problem,
    ReconcileReport,
    _Any,
    _parse_time,
    names_reaching,
    touches,
)
from .errors import (
    AliasConflict,
    AliasNotFound,
    CollectionNotFound,
    InvalidArgument,
    LastNameError,
    PreconditionFailed,
    RegistryError,
    StoreError,
)
from .naming import is_opaque_physical_name, new_physical_name, validate_name
from .state import AuditRow, ChangeRecord, SQLiteStateManager, load_json, utc_now


def registry_cause(exc: BaseException) -> str:
    """The part of a registry error that says what went wrong (e.g. "database or disk is full")."""
    text = str(exc)
    inner = text.split(": ", 1)[1] if ": " in text else text
    return inner.split(";", 1)[0].rstrip(".")


class AliasManager:
    """Creates, switches, deletes and resolves collection aliases, keeping the registry in step."""

    def __init__(self, qdrant_client: QdrantClient, state_manager: SQLiteStateManager) -> None:
        self.qdrant_client = qdrant_client
        self.state_manager = state_manager
        self._cache: dict[str, str] = {}
        self._cache_generation: int | None = None
        self._initialized = False

    @property
    def lock_path(self) -> Path:
        """The lock file serialising alias changes across processes."""
        return self.state_manager.db_path.with_name("aliases.lock")

    # -- lifecycle --------------------------------------------------------------------------

    async def initialize(self) -> bool:
        """Prepare the registry and finish or undo changes a crash left pending."""
        self.initialize_sync()
        return True

    def initialize_sync(self) -> None:
        """Synchronous twin of ``initialize``."""
        self.state_manager.initialize_sync()
        if self.state_manager.pending_changes():
            with locks.exclusive(self.lock_path):
                self._recover_pending()
        self._initialized = True

    def _ready(self) -> None:
        if not self._initialized:
            self.initialize_sync()

    # -- reads ------------------------------------------------------------------------------

    def _refresh_cache(self) -> dict[str, str]:
        generation = self.state_manager.alias_generation()
        if generation != self._cache_generation:
            self._cache = {
                row["alias_name"]: row["collection_name"] for row in self.state_manager.alias_rows()
            }
            self._cache_generation = generation
        return self._cache

    def resolve_sync(self, name: str) -> str:
        """Synchronous twin of ``resolve_collection_name``."""
        self._ready()
        return self._refresh_cache().get(name, name)

    async def resolve_collection_name(self, name: str) -> str:
        """The physical collection behind ``name`` (the name itself when it is not an alias).

        For display, audit and admin only: queries send the logical name to
        Qdrant so that they resolve atomically with any switch.
        """
        return self.resolve_sync(name)

    def _row_to_alias(self, row: Any) -> CollectionAlias:
        return CollectionAlias(
            alias_name=row["alias_name"],
            collection_name=row["collection_name"],
            created_at=_parse_time(row["created_at"]),
            created_by=row["created_by"],
            metadata=load_json(row["metadata"]),
            hit_count=row["hit_count"],
            last_used_at=_parse_time(row["last_used_at"]),
        )

    def get_alias_sync(self, alias_name: str) -> CollectionAlias | None:
        """Synchronous twin of ``get_alias``."""
        self._ready()
        row = self.state_manager.alias_row(alias_name)
        return self._row_to_alias(row) if row else None

    async def get_alias(self, alias_name: str) -> CollectionAlias | None:
        """The registered alias called ``alias_name``, or None."""
        return self.get_alias_sync(alias_name)

    def list_aliases_sync(self) -> list[CollectionAlias]:
        """Synchronous twin of ``list_aliases``."""
        self._ready()
        self.state_manager.flush_usage()
        return [self._row_to_alias(row) for row in self.state_manager.alias_rows()]

    async def list_aliases(self) -> list[CollectionAlias]:
        """Every registered alias, newest first."""
        return self.list_aliases_sync()

    def aliases_for_collection_sync(self, collection_name: str) -> list[str]:
        """Synchronous twin of ``get_aliases_for_collection``."""
        target = self.resolve_sync(collection_name)
        return sorted(a for a, c in self._refresh_cache().items() if c == target)

    async def get_aliases_for_collection(self, collection_name: str) -> list[str]:
        """Aliases reaching the collection behind ``collection_name`` (which may be an alias)."""
        return self.aliases_for_collection_sync(collection_name)

    def names_of_collection(self, physical: str) -> list[str]:
        """Every name reaching ``physical`` in Qdrant now, including its own when it is logical."""
        return names_reaching(store.live_aliases(self.qdrant_client), physical)

    def record_use(self, name: str) -> None:
        """Count a search through ``name`` (for stale-alias reports)."""
        self.state_manager.record_use(name)

    # -- writes -----------------------------------------------------------------------------

    async def create_alias(
        self,
        alias_name: str | None = None,
        collection_name: str | None = None,
        created_by: str = "system",
        metadata: dict[str, Any] | None = None,
        *,
        force: bool = False,
        reason: str | None = None,
        old_collection: str | None = None,
        new_collection: str | None = None,
    ) -> bool:
        """Make ``alias_name`` reach ``collection_name`` (idempotent; re-pointing needs ``force``).

        Returns True once the alias reaches the collection; a refusal raises.

        ``old_collection``/``new_collection`` are the seed's spelling of the same
        two arguments: the old name becomes an alias of the new one.
        """
        alias = alias_name if alias_name is not None else old_collection
        target = collection_name if collection_name is not None else new_collection
        if alias is None or target is None:
            raise InvalidArgument("create_alias needs an alias name and a collection name.")
        self.switch_sync(
            [AliasChange(alias, target)],
            actor=created_by,
            reason=reason,
            metadata=metadata,
            force=force,
        )
        return True

    async def delete_alias(
        self,
        alias_name: str,
        *,
        force: bool = False,
        actor: str = "system",
        reason: str | None = None,
    ) -> bool:
        """Remove the alias ``alias_name``; its data is untouched.

        Raises AliasNotFound when no such alias exists, and LastNameError when
        it is the last name of a project's data (unless ``force``).
        """
        self.switch_sync([AliasChange(alias_name, None)], actor=actor, reason=reason, force=force)
        return True

    async def switch(
        self,
        changes: Sequence[AliasChange],
        *,
        actor: str = "system",
        reason: str | None = None,
        metadata: dict[str, Any] | None = None,
        force: bool = False,
    ) -> ChangeRecord | None:
        """Apply several alias changes in one atomic Qdrant call (None when nothing changes)."""
        return self.switch_sync(changes, actor=actor, reason=reason, metadata=metadata, force=force)

    def switch_sync(
        self,
        changes: Sequence[AliasChange],
        *,
        actor: str = "system",
        reason: str | None = None,
        metadata: dict[str, Any] | None = None,
        force: bool = False,
        kind: str = "alias",
        undo_of: int | None = None,
    ) -> ChangeRecord | None:
        """Synchronous twin of ``switch``."""
        self._ready()
        if not changes:
            raise InvalidArgument("An alias switch needs at least one change.")
        seen: set[str] = set()
        for change in changes:
            validate_name(change.alias, "alias name")
            if change.target is not None:
                validate_name(change.target, "collection name")
            if change.alias in seen:
                raise InvalidArgument(f"Alias {change.alias!r} appears twice in one switch.")
            seen.add(change.alias)
        with locks.exclusive(self.lock_path):
            self._recover_pending()
            live = store.live_aliases(self.qdrant_client)
            collections = store.collection_names(self.qdrant_client)
            effective = self._plan(changes, live, collections, force)
            if not effective:
                self._register_unregistered(changes, live, actor, metadata)
                return None
            operations = [
                {"alias": alias, "before": before, "after": after}
                for alias, before, after in effective
            ]
            try:
                change_id = self.state_manager.begin_change(
                    kind, operations, actor, reason, metadata, undo_of=undo_of
                )
            except RegistryError as exc:  # "retry" alone would leave the user guessing
                cause = registry_cause(exc)
                advice = "free some disk space and retry" if "full" in cause else "retry"
                raise RegistryError(
                    f"Nothing was changed: the registry could not record the change ({cause}); "
                    f"{advice}."
                ) from None
            faults.reach("after_intent")
            try:
                store.apply_alias_operations(self.qdrant_client, effective)
            except StoreError:
                # If even this write fails (a full disk), the intent stays pending and the
                # next command settles it; the user must still hear Qdrant's reason.
                with contextlib.suppress(RegistryError):
                    self.state_manager.finish_change(change_id, "abandoned")
                raise
            faults.reach("after_qdrant")
            self._complete_or_explain(change_id, operations, actor, reason, metadata)
            faults.reach("after_done")
            return self.state_manager.get_change(change_id)

    def _register_unregistered(
        self,
        changes: Sequence[AliasChange],
        live: dict[str, str],
        actor: str,
        metadata: dict[str, Any] | None,
    ) -> None:
        """Asking for an alias that Qdrant already has but the registry lacks registers it."""
        for change in changes:
            target = live.get(change.alias)
            if target is not None and self.state_manager.alias_row(change.alias) is None:
                self.state_manager.upsert_alias_row(change.alias, target, actor, metadata)
                self.state_manager.append_events(
                    [("adopt", change.alias, None, target)],
                    actor=actor,
                    reason="alias existed in Qdrant only",
                )

    def _plan(
        self,
        changes: Sequence[AliasChange],
        live: dict[str, str],
        collections: set[str],
        force: bool,
    ) -> list[tuple[str, str | None, str | None]]:
        """Check every rule; return the (alias, before, after) steps that change something."""
        effective: list[tuple[str, str | None, str | None]] = []
        for change in changes:
            alias, target = change.alias, change.target
            if target is not None:
                target = live.get(target, target)  # an alias of an alias: flatten the chain
                if target not in collections:
                    raise CollectionNotFound(
                        f"Cannot point {alias!r} at {change.target!r}: no collection or alias "
                        "has that name; check `wqm project list-aliases`."
                    )
            if alias in collections:
                raise AliasConflict(
                    f"{alias!r} is the name of a collection, so it cannot also be an alias."
                )
            current = live.get(alias)
            if not isinstance(change.expected, _Any) and current != change.expected:
                raise PreconditionFailed(
                    f"Alias {alias!r} now points at {current or 'nothing'}, not "
                    f"{change.expected or 'nothing'} as expected; another change came first, "
                    "so nothing was changed: look again and retry."
                )
            if target is None and current is None:
                raise AliasNotFound(
                    f"No alias is named {alias!r}; `wqm project list-aliases` shows them."
                )
            if target == current:
                continue
            if (
                current is not None
                and target is not None
                and isinstance(change.expected, _Any)
                and not force
            ):
                raise AliasConflict(
                    f"Alias {alias!r} already points at {current}; re-pointing it to {target} "
                    "needs force."
                )
            effective.append((alias, current, target))
        if effective and not force:
            self._refuse_orphans(effective, live)
        return effective

    def _refuse_orphans(
        self, effective: list[tuple[str, str | None, str | None]], live: dict[str, str]
    ) -> None:
        after = dict(live)
        for alias, _before, target in effective:
            if target is None:
                after.pop(alias, None)
            else:
                after[alias] = target
        for alias, before, _target in effective:
            if before is None or not is_opaque_physical_name(before):
                continue
            if before not in after.values():
                raise LastNameError(
                    f"{alias!r} is the last name of the data in {before}; removing it would leave "
                    "that data unreachable (use force to do it anyway)."
                )

    def _complete(
        self,
        change_id: int,
        operations: list[dict[str, Any]],
        actor: str,
        reason: str | None,
        metadata: dict[str, Any] | None,
    ) -> None:
        now = utc_now()
        rows: list[tuple[str, str | None, str, str, dict[str, Any] | None]] = []
        events: list[tuple[str, str, str | None, str | None]] = []
        for op in operations:
            alias, before, after = op["alias"], op["before"], op["after"]
            rows.append((alias, after, now, actor, metadata))
            if before is None:
                action = "create"
            elif after is None:
                action = "delete"
            else:
                action = "repoint"
            events.append((action, alias, before, after))
        self.state_manager.complete_change(change_id, rows, events, actor=actor, reason=reason)

    def _complete_or_explain(
        self,
        change_id: int,
        operations: list[dict[str, Any]],
        actor: str,
        reason: str | None,
        metadata: dict[str, Any] | None,
    ) -> None:
        """Record a change Qdrant already made; if the registry cannot, say what state it is in.

        The intent row stays pending, so the next command (any command settles
        pending changes first) records it once the registry can be written again.
        """
        try:
            self._complete(change_id, operations, actor, reason, metadata)
        except RegistryError as exc:
            raise RegistryError(
                f"Change {change_id} was applied to Qdrant, but the registry could not record "
                f"it ({registry_cause(exc)}); once the registry can be written again (free some disk "
                "space), the next wqm command records it: there is nothing to redo."
            ) from None

    def settle(self) -> list[Problem]:
        """Finish or roll back changes a crash or a failed write left pending (cheap if none).

        Every operation runs this first, so whatever state a failure left, the next
        command converges to "applied and recorded" or "not applied".
        """
        self.state_manager.initialize_sync()
        if not self.state_manager.has_pending_changes():
            return []
        with locks.exclusive(self.lock_path):
            problems = self._recover_pending()
        self._cache_generation = None
        return problems

    async def undo(self, *, actor: str = "cli", force: bool = False) -> ChangeRecord:
        """Revert the most recent alias change in one atomic switch (itself logged)."""
        return self.undo_sync(actor=actor, force=force)

    def undoable(
        self, change_id: int | None = None, scope: Collection[str] | None = None
    ) -> ChangeRecord:
        """The change an undo would revert: ``change_id``, else the newest one touching ``scope``.

        ``scope`` holds names and collections (a project's); None means any change.
        Pending changes are settled first, so the answer reflects what happened.
        """
        self._ready()
        self.settle()
        candidates = self.state_manager.undoable_changes()
        if change_id is not None:
            for change in candidates:
                if change.id == change_id:
                    return change
            raise AliasNotFound(
                f"Change {change_id} cannot be undone (it does not exist, was already "
                "undone, or is not an alias change); `wqm project history` lists the changes."
            )
        for change in candidates:
            if scope is None or touches(change, scope):
                return change
        raise AliasNotFound("There is no alias change to undo.")

    def undo_sync(
        self,
        *,
        actor: str = "cli",
        force: bool = False,
        change_id: int | None = None,
        scope: Collection[str] | None = None,
    ) -> ChangeRecord:
        """Synchronous twin of ``undo``; ``change_id``/``scope`` pick the change (see ``undoable``).

        The choice and the switch happen under the alias lock, so another writer
        cannot slip in between; the switch's preconditions are the undone change's
        "after" state, so an undo of a change that later changes overtook is refused.
        """
        with locks.exclusive(self.lock_path):
            change = self.undoable(change_id, scope)
            inverse = [
                AliasChange(op["alias"], op["before"], expected=op["after"])
                for op in reversed(change.operations)
            ]
            record = self.switch_sync(
                inverse,
                actor=actor,
                reason=f"undo of change {change.id}",
                metadata={"undo_of": change.id},
                force=force,
                kind="undo",
                undo_of=change.id,
            )
        if record is None:  # pragma: no cover - CAS makes a no-op undo impossible
            raise PreconditionFailed("That change is no longer in effect; nothing to undo.")
        return record

    async def create_project_collection(
        self,
        logical_name: str,
        *,
        vectors_config: dict[str, qm.VectorParams],
        sparse_vectors_config: dict[str, qm.SparseVectorParams] | None = None,
        payload_indexes: dict[str, qm.PayloadSchemaType] | None = None,
        actor: str = "system",
        metadata: dict[str, Any] | None = None,
    ) -> str:
        """Create a project's stable physical collection, reachable as ``logical_name``."""
        return self.create_project_collection_sync(
            logical_name,
            vectors_config=vectors_config,
            sparse_vectors_config=sparse_vectors_config,
            payload_indexes=payload_indexes,
            actor=actor,
            metadata=metadata,
        )

    def create_project_collection_sync(
        self,
        logical_name: str,
        *,
        vectors_config: dict[str, qm.VectorParams],
        sparse_vectors_config: dict[str, qm.SparseVectorParams] | None = None,
        payload_indexes: dict[str, qm.PayloadSchemaType] | None = None,
        actor: str = "system",
        metadata: dict[str, Any] | None = None,
        exist_ok: bool = False,
        take_over: str | None = None,
    ) -> str:
        """Synchronous twin of ``create_project_collection``; returns the physical name.

        With ``exist_ok``, a name that already reaches a collection (another
        process made it a moment ago) returns that collection instead of failing.
        With ``take_over``, the name must reach exactly that collection now, and is
        re-pointed to the new one in the same atomic step (a path name whose old
        project moved away, given to the different project now at the path).
        """
        self._ready()
        validate_name(logical_name, "collection name")
        client = self.qdrant_client
        with locks.exclusive(self.lock_path):
            self._recover_pending()
            live = store.live_aliases(client)
            collections = store.collection_names(client)
            if exist_ok and live.get(logical_name) in collections:
                return live[logical_name]  # another process created it first: use that one
            if logical_name in collections or live.get(logical_name) != take_over:
                raise AliasConflict(f"The name {logical_name!r} is already in use.")
            physical = new_physical_name()
            operations = [
                {"alias": logical_name, "before": take_over, "after": physical, "create": physical}
            ]
            change_id = self.state_manager.begin_change(
                "collection", operations, actor, "create project collection", metadata
            )
            faults.reach("after_intent")
            try:
                store.call(
                    client,
                    f"create collection for {logical_name}",
                    lambda: client.create_collection(
                        physical,
                        vectors_config=vectors_config,
                        sparse_vectors_config=sparse_vectors_config,
                    ),
                )
                # Local mode warns that payload indexes have no effect there; the same
                # schema serves a server, so keep them and keep stderr to one clear line.
                with warnings.catch_warnings():
                    warnings.filterwarnings("ignore", "Payload indexes", UserWarning)
                    for field_name, schema in (payload_indexes or {}).items():
                        store.call(
                            client,
                            f"index {field_name}",
                            lambda f=field_name, s=schema: client.create_payload_index(  # type: ignore[misc]
                                physical, field_name=f, field_schema=s
                            ),
                        )
                faults.reach("after_collection")
                store.apply_alias_operations(client, [(logical_name, take_over, physical)])
            except StoreError:
                self._roll_back_collection(physical, logical_name, take_over)
                self.state_manager.finish_change(change_id, "rolled_back")
                raise
            faults.reach("after_qdrant")
            self._complete(change_id, operations, actor, "create project collection", metadata)
            faults.reach("after_done")
            return physical

    def _roll_back_collection(
        self, physical: str, logical_name: str, before: str | None = None
    ) -> None:
        client = self.qdrant_client
        live = store.live_aliases(client)
        if live.get(logical_name) == physical:
            restore = before if before in store.collection_names(client) else None
            store.apply_alias_operations(client, [(logical_name, physical, restore)])
        if physical in store.collection_names(client):
            store.call(
                client,
                "remove an unfinished collection",
                lambda: client.delete_collection(physical),
            )

    # -- recovery and reconcile -------------------------------------------------------------

    def _recover_pending(self) -> list[Problem]:
        """Finish or undo pending changes; caller holds the alias lock, so their writers died."""
        problems: list[Problem] = []
        pending = self.state_manager.pending_changes()
        if not pending:
            return problems
        live = store.live_aliases(self.qdrant_client)
        for change in pending:
            ops = change.operations
            if all(live.get(op["alias"]) == op["after"] for op in ops):
                self._complete(change.id, ops, change.actor, change.reason, change.metadata)
                detail = f"change {change.id} had reached Qdrant; its record was completed"
            else:
                creates = [op for op in ops if op.get("create")]
                for op in creates:
                    self._roll_back_collection(op["create"], op["alias"], op["before"])
                undo = [
                    (op["alias"], live.get(op["alias"]), op["before"])
                    for op in ops
                    if not op.get("create") and live.get(op["alias"]) != op["before"]
                ]
                store.apply_alias_operations(self.qdrant_client, undo)
                status = "rolled_back" if (undo or creates) else "abandoned"
                self.state_manager.finish_change(change.id, status)
                detail = f"change {change.id} had not fully reached Qdrant; it was {status}"
                live = store.live_aliases(self.qdrant_client)
            problems.append(Problem("pending_change", str(change.id), detail, fixed=True))
        return problems

    async def reconcile(self, fix: bool = False) -> ReconcileReport:
        """Compare registry and Qdrant; with ``fix``, make the registry follow Qdrant."""
        return self.reconcile_sync(fix=fix)

    def reconcile_sync(self, fix: bool = False, actor: str = "doctor") -> ReconcileReport:
        """Synchronous twin of ``reconcile``; ``actor`` is who the repairs are logged as."""
        self.state_manager.initialize_sync()
        report = ReconcileReport()
        with locks.exclusive(self.lock_path):
            if fix:
                report.problems.extend(self._recover_pending())
            else:
                for change in self.state_manager.pending_changes():
                    report.problems.append(
                        Problem(
                            "pending_change",
                            str(change.id),
                            f"change {change.id} ({change.kind}) was left pending by a crash",
                        )
                    )
            live = store.live_aliases(self.qdrant_client)
            collections = store.collection_names(self.qdrant_client)
            registered = {
                row["alias_name"]: row["collection_name"] for row in self.state_manager.alias_rows()
            }
            repairs: list[tuple[str, str, str | None, str | None]] = []
            for alias, target in sorted(live.items()):
                if alias not in registered:
                    problem = Problem("qdrant_only", alias, f"alias to {target} is not registered")
                    if fix:
                        self.state_manager.upsert_alias_row(
                            alias, target, "external", {"adopted_by": "reconcile"}
                        )
                        repairs.append(("adopt", alias, None, target))
                        problem.fixed = True
                    report.problems.append(problem)
                elif registered[alias] != target:
                    problem = Problem(
                        "target_mismatch",
                        alias,
                        f"registry says {registered[alias]}, Qdrant says {target}",
                    )
                    if fix:
                        self.state_manager.upsert_alias_row(alias, target, "external", None)
                        repairs.append(("repoint", alias, registered[alias], target))
                        problem.fixed = True
                    report.problems.append(problem)
            for alias, target in sorted(registered.items()):
                if alias in live:
                    continue
                kind = "collection_gone" if target not in collections else "registry_only"
                problem = Problem(kind, alias, f"registered alias to {target} is not in Qdrant")
                if fix:
                    self.state_manager.delete_alias_row(alias)
                    repairs.append(("drop", alias, target, None))
                    problem.fixed = True
                report.problems.append(problem)
            if repairs:
                self.state_manager.append_events(repairs, actor=actor, reason="reconcile")
            for project in self.state_manager.projects():
                if project.physical_collection not in collections:
                    problem = Problem(
                        "project_data_gone",
                        project.physical_collection,
                        f"the collection of the project at {project.root_path} is gone",
                    )
                    if fix:  # nothing left to point at: forget the record (ingest starts over)
                        self.state_manager.forget_project(project.id)
                        problem.fixed = True
                    report.problems.append(problem)
                elif not os.path.isdir(project.root_path):
                    report.problems.append(
                        Problem(
                            "project_root_missing",
                            project.root_path,
                            "the project's folder no longer exists: if it moved, any wqm command "
                            "run in its new folder finds its data again (or `wqm project "
                            f"update-path --old-path {project.root_path}` there); if it is gone "
                            f"for good, `wqm project forget --name {project.path_name}` "
                            "removes its data",
                            warning=True,
                        )
                    )
        self._cache_generation = None
        return report

    def history(self, alias_name: str | None = None, limit: int = 200) -> list[AuditRow]:
        """The audit log, newest first."""
        self._ready()
        return [event.to_dict() for event in self.state_manager.events(alias_name, limit)]


__all__ = [
    "ANY",
    "AliasChange",
    "AliasManager",
    "AliasRow",
    "CollectionAlias",
    "Problem",
    "ReconcileReport",
]
