"""How long the workspace service takes per operation: latency histograms for ``/metrics``.

Kept in memory by the service (they start again with it, like any Prometheus
counter after a restart). Each series is labelled with the operation, the way
the request came (``socket`` for the CLI and MCP servers, ``dashboard`` for the
dashboard's own reads) and the outcome. Operation names are taken only from
the declared operations, so a client sending made-up names cannot grow the
label set.
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Collection
from dataclasses import dataclass, field

#: Upper bounds (seconds) of the histogram buckets: from a cached read to a long ingest.
BUCKETS: tuple[float, ...] = (
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
)
OTHER_OP = "other"


@dataclass
class Histogram:
    """Observations per bucket (not cumulative; the last slot is +Inf), their sum and count."""

    buckets: list[int] = field(default_factory=lambda: [0] * (len(BUCKETS) + 1))
    total: float = 0.0
    count: int = 0

    def observe(self, seconds: float) -> None:
        """Count one observation."""
        self.buckets[bisect.bisect_left(BUCKETS, seconds)] += 1
        self.total += seconds
        self.count += 1

    def cumulative(self) -> list[int]:
        """Counts at or below each bound, then the total (Prometheus ``le`` buckets)."""
        running, out = 0, []
        for n in self.buckets:
            running += n
            out.append(running)
        return out


Labels = tuple[str, str, str]  # (op, via, outcome)


class RequestMetrics:
    """Thread-safe latency histograms per (operation, via, outcome)."""

    def __init__(self, known_ops: Collection[str] = ()) -> None:
        self._lock = threading.Lock()
        self._series: dict[Labels, Histogram] = {}
        self.known_ops = set(known_ops)

    def observe(self, op: str, via: str, outcome: str, seconds: float) -> None:
        """Record one request; an undeclared operation name is counted as ``other``."""
        name = op if op in self.known_ops else OTHER_OP
        with self._lock:
            series = self._series.setdefault((name, via, outcome), Histogram())
            series.observe(max(0.0, seconds))

    def snapshot(self) -> dict[Labels, Histogram]:
        """A copy of every series, for rendering without holding the lock."""
        with self._lock:
            return {
                labels: Histogram(list(h.buckets), h.total, h.count)
                for labels, h in self._series.items()
            }
