"""The whole workspace at a glance: projects, the alias graph, usage over time, history, counts.

These read-only operations feed the dashboard (``service/dashboard``) and
``/metrics``, and any front end may show them too (they are operations like
any other, so the CLI or a script gets the same JSON). They never change
anything: in particular they never migrate a project automatically (unlike
``status``, which answers for the folder it is run in).

Counts are asked of Qdrant through a logical name of the data when it has one
(DESIGN.md §2); the physical name is used only for a collection that no name
reaches, where there is nothing else to ask through.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from qdrant_client import models as qm

from ..core import schema, store
from ..core.alias_types import names_reaching
from ..core.errors import InvalidArgument, WqmError
from ..core.identity import PATH_NAME_PREFIX, detect_identity
from ..core.state import AliasEvent, ChangeRecord, ProjectRecord
from ..workspace.workspace import Workspace
from .aliases import stale_aliases
from .registry import operation
from .results import (
    AliasGraph,
    AliasTimeline,
    AliasUsage,
    CollectionPoints,
    GraphCollection,
    GraphName,
    NameUsage,
    ProjectName,
    ProjectOverview,
    RegistryMetrics,
    RegistryVersion,
    TimelineEntry,
    TimelineStep,
)

#: Upper bound of distinct paths counted (as in ``status``).
MAX_FILES = 1_000_000
MAX_DAYS = 366
MAX_TIMELINE = 1000


def _source_is(source: str) -> qm.Filter:
    return qm.Filter(must=[qm.FieldCondition(key="source", match=qm.MatchValue(value=source))])


def _count_points(ws: Workspace, name: str) -> int:
    client = ws.client
    return store.call(client, f"count the points of {name}",
                      lambda: client.count(name, exact=True).count)


def _count_paths(ws: Workspace, name: str, source: str) -> int:
    """Distinct ``path`` values of one source's points (a facet: no payload transferred)."""
    client = ws.client
    return len(store.call(
        client, f"count the {source} paths of {name}",
        lambda: client.facet(name, key="path", facet_filter=_source_is(source),
                             limit=MAX_FILES, exact=True),
    ).hits)


def _name_kind(ws: Workspace, name: str, physical: str, record: ProjectRecord | None) -> str:
    """Which rule made a name: the path, the remote, an adopted collection's own name, other."""
    if name == physical:
        return "collection"
    if name.startswith(PATH_NAME_PREFIX):
        return "path"
    binding = ws.state.name_binding(name)
    if binding is not None and binding["kind"] in ("path", "remote"):
        return str(binding["kind"])
    if record is not None and name == record.remote_name:
        return "remote"
    return "other"


def _current_name(record: ProjectRecord) -> str | None:
    """The name the project's folder goes by now (None when the folder is gone)."""
    try:
        return detect_identity(record.root_path).current_name
    except WqmError:
        return None


@operation(read_only=True)
def projects_overview(ws: Workspace) -> list[ProjectOverview]:
    """Every project the registry knows: root, names (current marked), collection and counts.

    ``index`` has a slot for background indexing (building, stale, watcher):
    ``None`` until wqm tracks those.
    """
    live = store.live_aliases(ws.client)
    collections = store.collection_names(ws.client)
    overview: list[ProjectOverview] = []
    for record in sorted(ws.state.projects(), key=lambda r: r.root_path):
        physical = record.physical_collection
        exists = physical in collections
        names = names_reaching(live, physical, exists)
        current = _current_name(record)
        shown = list(names)
        if current is not None and current not in shown:
            shown.insert(0, current)
        rows: list[ProjectName] = [
            {"name": n, "kind": _name_kind(ws, n, physical, record), "current": n == current,
             "reachable": n in names}
            for n in shown
        ]
        points = files = notes = 0
        if exists:
            ask = names[0] if names else physical
            points = _count_points(ws, ask)
            files = _count_paths(ws, ask, schema.SOURCE_FILE)
            notes = _count_paths(ws, ask, schema.SOURCE_NOTE)
        state = "data_gone" if not exists else ("indexed" if points else "empty")
        overview.append({
            "project_root": record.root_path,
            "root_exists": current is not None,
            "physical_collection": physical,
            "current_name": current,
            "canonical_remote": record.canonical_remote,
            "names": rows,
            "recipe": None,
            "points": points,
            "files": files,
            "notes": notes,
            "index": {"state": state, "building": None, "stale": None, "watcher": None},
            "created_at": record.created_at,
            "updated_at": record.updated_at,
        })
    return overview


def _stale_names(ws: Workspace, days: int) -> set[str]:
    """Names stale by exactly the rule of ``wqm project stale-aliases --days DAYS``."""
    return {row["alias_name"] for row in stale_aliases(ws, days=days)}


@operation(read_only=True)
def alias_graph(ws: Workspace, stale_days: int = 30) -> AliasGraph:
    """Names -> collections: every alias (registered or only in Qdrant) and every collection.

    A collection no name reaches (retired by a content migration, or orphaned)
    is listed with ``reachable`` False; a registered name Qdrant lacks keeps its
    registered target with ``in_qdrant`` False (``wqm project doctor`` reports it).
    """
    live = store.live_aliases(ws.client)
    collections = store.collection_names(ws.client)
    registered = {a.alias_name: a for a in ws.aliases.list_aliases_sync()}
    stale = _stale_names(ws, stale_days)
    records = {r.physical_collection: r for r in ws.state.projects()}
    names: list[GraphName] = []
    for name in sorted(set(live) | set(registered)):
        alias = registered.get(name)
        target = live.get(name) or (alias.collection_name if alias else None)
        record = records.get(target) if target else None
        names.append({
            "name": name,
            "collection": target,
            "kind": _name_kind(ws, name, target or "", record),
            "registered": alias is not None,
            "in_qdrant": name in live,
            "created_by": alias.created_by if alias else None,
            "hit_count": alias.hit_count if alias else 0,
            "last_used_at": alias.last_used_at.isoformat() if alias and alias.last_used_at
            else None,
            "stale": name in stale,
        })
    targets = {n["collection"] for n in names if n["collection"]}
    graph: list[GraphCollection] = []
    for physical in sorted(collections | targets):
        exists = physical in collections
        reaching = names_reaching(live, physical, exists)
        record = records.get(physical)
        graph.append({
            "name": physical,
            "exists": exists,
            "points": _count_points(ws, reaching[0] if reaching else physical) if exists
            else None,
            "project_root": record.root_path if record else None,
            "names": reaching,
            "reachable": bool(reaching),
        })
    return {"names": names, "collections": graph}


def _check_days(days: int, what: str) -> None:
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_DAYS:
        raise InvalidArgument(f"{what} must be a whole number from 1 to {MAX_DAYS}, got {days!r}.")


@operation(read_only=True)
def alias_usage(ws: Workspace, days: int = 30, stale_days: int = 30) -> AliasUsage:
    """Searches per registered alias and UTC day over the last ``days`` days, and last use.

    ``stale`` marks the names ``wqm project stale-aliases --days STALE_DAYS`` lists.
    """
    _check_days(days, "days")
    if stale_days < 0:
        raise InvalidArgument(f"stale_days must be 0 or more, got {stale_days}.")
    now = datetime.now(UTC)
    today = now.date()
    window = [(today - timedelta(days=offset)).isoformat() for offset in range(days - 1, -1, -1)]
    column = {day: i for i, day in enumerate(window)}
    per_name: dict[str, list[int]] = {}
    for name, day, hits in ws.state.usage_per_day(window[0]):
        if day in column:
            per_name.setdefault(name, [0] * days)[column[day]] += hits
    stale = _stale_names(ws, stale_days)
    rows: list[NameUsage] = []
    for alias in ws.aliases.list_aliases_sync():
        last = alias.last_used_at or alias.created_at or now
        row = alias.to_dict()
        rows.append({
            "name": alias.alias_name,
            "collection_name": alias.collection_name,
            "hit_count": alias.hit_count,
            "last_used_at": row["last_used_at"],
            "created_at": row["created_at"],
            "unused_days": max(0, (now - last).days),
            "stale": alias.alias_name in stale,
            "per_day": per_name.get(alias.alias_name, [0] * days),
        })
    rows.sort(key=lambda r: (-r["hit_count"], r["name"]))
    return {"days": window, "stale_days": stale_days, "names": rows}


def _action(before: str | None, after: str | None) -> str:
    if before is None:
        return "create"
    return "delete" if after is None else "repoint"


def _change_entry(change: ChangeRecord, undo_id: int | None) -> TimelineEntry:
    steps: list[TimelineStep] = [
        {"alias": op["alias"], "action": _action(op["before"], op["after"]),
         "before": op["before"], "after": op["after"]}
        for op in change.operations
    ]
    return {
        "change_id": change.id,
        "at": change.created_at,
        "finished_at": change.finished_at,
        "status": change.status,
        "kind": change.kind,
        "actor": change.actor,
        "reason": change.reason,
        "steps": steps,
        "undo_of": change.undo_of,
        "undone_by": change.undone_by,
        "undo_target": change.id == undo_id,
    }


def _repair_entries(events: list[AliasEvent]) -> list[TimelineEntry]:
    """Doctor repairs (events outside any change), one entry per run (same time and actor)."""
    entries: list[TimelineEntry] = []
    for event in events:
        step: TimelineStep = {"alias": event.alias_name, "action": event.action,
                              "before": event.before, "after": event.after}
        last = entries[-1] if entries else None
        if last is not None and last["at"] == event.at and last["actor"] == event.actor:
            last["steps"].append(step)
            continue
        entries.append({
            "change_id": None, "at": event.at, "finished_at": event.at, "status": "repair",
            "kind": "repair", "actor": event.actor, "reason": event.reason, "steps": [step],
            "undo_of": None, "undone_by": None, "undo_target": False,
        })
    return entries


@operation(read_only=True)
def alias_timeline(ws: Workspace, limit: int = 100) -> AliasTimeline:
    """Recorded alias changes and doctor repairs, newest first: who, why, before -> after.

    ``undo_change_id`` is the change ``wqm project undo`` would revert now (its
    entry has ``undo_target`` True); None when there is nothing to undo.
    """
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_TIMELINE:
        raise InvalidArgument(f"The limit must be a whole number from 1 to {MAX_TIMELINE}, "
                              f"got {limit!r}.")
    target = ws.state.last_undoable_change()
    undo_id = target.id if target else None
    entries = [_change_entry(c, undo_id) for c in ws.state.recent_changes(limit)]
    entries += _repair_entries(ws.state.loose_events(limit))
    entries.sort(key=lambda e: e["at"], reverse=True)
    return {"undo_change_id": undo_id, "entries": entries[:limit]}


@operation(read_only=True)
def registry_version(ws: Workspace) -> RegistryVersion:
    """Counters that move on every alias change, repair or counted search, in any process.

    One cheap read: a watcher (the dashboard's live refresh) polls it and
    fetches the views again only when something moved.
    """
    generation, change, event, hits = ws.state.change_marker()
    return {"alias_generation": generation, "last_change_id": change, "last_event_id": event,
            "usage_hits": hits}


@operation(read_only=True)
def registry_metrics(ws: Workspace) -> RegistryMetrics:
    """Counts for monitoring: aliases, projects, points per collection, hits per name,
    audit events by action, changes by status and recoveries after crashes."""
    live = store.live_aliases(ws.client)
    collections = store.collection_names(ws.client)
    aliases = ws.aliases.list_aliases_sync()
    records = {r.physical_collection: r for r in ws.state.projects()}
    points: list[CollectionPoints] = []
    for physical in sorted(collections):
        reaching = names_reaching(live, physical)
        record = records.get(physical)
        points.append({"collection": physical,
                       "project_root": record.root_path if record else None,
                       "points": _count_points(ws, reaching[0] if reaching else physical)})
    counts = ws.state.counts()
    return {
        "aliases": len(aliases),
        "aliases_in_qdrant": len(live),
        "projects": len(records),
        "collections": len(collections),
        "points": points,
        "hits": [{"name": a.alias_name, "hits": a.hit_count}
                 for a in sorted(aliases, key=lambda a: a.alias_name)],
        "events_by_action": counts["events_by_action"],
        "changes_by_status": counts["changes_by_status"],
        "repairs_by_action": counts["repairs_by_action"],
        "recovered_completed": counts["recovered_completed"],
        "alias_generation": ws.state.alias_generation(),
    }
