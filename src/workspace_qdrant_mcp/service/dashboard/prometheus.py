"""``/metrics``: the workspace's and the service's numbers in Prometheus text format (0.0.4).

The workspace's counts come from the ``registry_metrics`` operation; uptime and
request latencies are the service's own (``service/metrics.py``). Label values
are escaped as the format requires (backslash, double quote, newline).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from ..metrics import BUCKETS, Histogram, Labels

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels(pairs: Mapping[str, str | None]) -> str:
    shown = [f'{k}="{_escape(v)}"' for k, v in pairs.items() if v is not None]
    return "{" + ",".join(shown) + "}" if shown else ""


def _number(value: float) -> str:
    if isinstance(value, int):
        return str(value)
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value))


class _Writer:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def family(self, name: str, kind: str, help_text: str,
               samples: Iterable[tuple[Mapping[str, str | None], float]]) -> None:
        self.lines.append(f"# HELP {name} {help_text}")
        self.lines.append(f"# TYPE {name} {kind}")
        for labels, value in samples:
            self.lines.append(f"{name}{_labels(labels)} {_number(value)}")

    def histogram(self, name: str, help_text: str, series: Mapping[Labels, Histogram]) -> None:
        self.lines.append(f"# HELP {name} {help_text}")
        self.lines.append(f"# TYPE {name} histogram")
        for (op, via, outcome), hist in sorted(series.items()):
            base = {"op": op, "via": via, "outcome": outcome}
            bounds = [*BUCKETS, math.inf]
            for bound, count in zip(bounds, hist.cumulative(), strict=True):
                le = "+Inf" if math.isinf(bound) else repr(bound)
                self.lines.append(f"{name}_bucket{_labels({**base, 'le': le})} {count}")
            self.lines.append(f"{name}_sum{_labels(base)} {hist.total!r}")
            self.lines.append(f"{name}_count{_labels(base)} {hist.count}")


def render_metrics(
    registry: Mapping[str, Any],
    service: Mapping[str, Any],
    latencies: Mapping[Labels, Histogram],
    *,
    sessions: int,
    listeners: int,
) -> str:
    """The whole exposition: ``registry`` is a ``RegistryMetrics``, ``service`` the service's
    ``info()``, ``latencies`` its request histograms."""
    out = _Writer()
    out.family("wqm_aliases", "gauge", "Aliases registered in the registry.",
               [({}, registry["aliases"])])
    out.family("wqm_aliases_in_qdrant", "gauge", "Aliases in Qdrant's alias table.",
               [({}, registry["aliases_in_qdrant"])])
    out.family("wqm_projects", "gauge", "Projects the registry knows.",
               [({}, registry["projects"])])
    out.family("wqm_collections", "gauge", "Physical collections in Qdrant.",
               [({}, registry["collections"])])
    out.family("wqm_collection_points", "gauge", "Points per physical collection.",
               [({"collection": row["collection"], "project_root": row["project_root"]},
                 row["points"]) for row in registry["points"]])
    out.family("wqm_alias_searches_total", "counter", "Searches through each alias.",
               [({"alias": row["name"]}, row["hits"]) for row in registry["hits"]])
    out.family("wqm_alias_events_total", "counter",
               "Audit log events by action (create, delete, repoint, adopt, drop).",
               [({"action": k}, v) for k, v in sorted(registry["events_by_action"].items())])
    out.family("wqm_alias_changes", "gauge",
               "Recorded alias changes by outcome (rolled_back and abandoned did not apply).",
               [({"status": k}, v) for k, v in sorted(registry["changes_by_status"].items())])
    out.family("wqm_recovered_changes_total", "counter",
               "Changes a later process completed after their writer died.",
               [({}, registry["recovered_completed"])])
    out.family("wqm_reconcile_repairs_total", "counter",
               "Registry repairs made by doctor --fix, by action.",
               [({"action": k}, v) for k, v in sorted(registry["repairs_by_action"].items())])
    out.family("wqm_alias_generation", "gauge", "The alias table's change counter.",
               [({}, registry["alias_generation"])])
    out.family("wqm_service_start_time_seconds", "gauge", "When the service started (Unix time).",
               [({"version": str(service.get("version", ""))},
                 float(service.get("started_at") or 0))])
    out.family("wqm_service_uptime_seconds", "gauge", "Seconds since the service started.",
               [({}, float(service.get("uptime_seconds") or 0))])
    out.family("wqm_service_requests_total", "counter",
               "Requests served over the socket (CLI and MCP servers).",
               [({}, int(service.get("requests_served") or 0))])
    out.family("wqm_service_active_requests", "gauge", "Operations running now.",
               [({}, int(service.get("active_requests") or 0))])
    out.family("wqm_dashboard_sessions", "gauge", "Dashboard sessions handed out.",
               [({}, sessions)])
    out.family("wqm_dashboard_listeners", "gauge", "Dashboard pages listening for changes.",
               [({}, listeners)])
    out.histogram("wqm_request_duration_seconds",
                  "Time to run an operation, by operation, caller and outcome.", latencies)
    return "\n".join(out.lines) + "\n"
