"""A client process of the concurrency test: random alias changes through the workspace service.

    python tests/reliability/_alias_worker.py SECONDS SEED OUT.json TARGET [TARGET ...]

For SECONDS it sends ``alias_switch`` requests (creates, compare-and-swap
re-points and deletes, forced re-points, two-alias switches) on a small shared
set of alias names, so that the other workers' changes keep invalidating what
this one believes. It counts, on the client side, every change the service
reports as applied and every alias operation in it; refusals are expected
(another worker got there first) and counted by class. ``WQM_DATA_DIR`` names
the data directory; the service is started on demand like any CLI command.
"""

from __future__ import annotations

import json
import random
import sys
import time
from typing import Any

from workspace_qdrant_mcp.backends.service import ServiceBackend
from workspace_qdrant_mcp.config import Settings
from workspace_qdrant_mcp.core.errors import WqmError

ALIASES = [f"shared_alias_{i}" for i in range(6)]
#: Refusals a correct system gives when another process changed the alias first.
EXPECTED_REFUSALS = {"PreconditionFailed", "AliasConflict", "AliasNotFound"}


def main(seconds: float, seed: int, out: str, targets: list[str]) -> None:
    rng = random.Random(seed)
    backend = ServiceBackend(Settings.from_env())
    believed: dict[str, str] = {}  # alias -> physical collection, as last seen

    def refresh() -> None:
        believed.clear()
        for row in backend.call("list_aliases"):
            if row["alias_name"] in ALIASES:
                believed[row["alias_name"]] = row["collection_name"]

    applied: list[dict[str, Any]] = []
    refusals: dict[str, int] = {}
    unexpected: list[str] = []
    attempts = 0
    refresh()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        attempts += 1
        first, second = rng.sample(ALIASES, 2)
        roll = rng.random()
        force = False
        if roll < 0.30:  # create
            changes = [{"alias": first, "target": rng.choice(targets), "expected": None}]
        elif roll < 0.55:  # compare-and-swap re-point from what we believe
            changes = [{"alias": first, "target": rng.choice(targets),
                        "expected": believed.get(first)}]
        elif roll < 0.65:  # forced re-point, no precondition
            changes, force = [{"alias": first, "target": rng.choice(targets)}], True
        elif roll < 0.88:  # compare-and-swap delete
            changes = [{"alias": first, "target": None, "expected": believed.get(first)}]
        else:  # two aliases in one atomic switch
            changes = [
                {"alias": first, "target": rng.choice(targets), "expected": believed.get(first)},
                {"alias": second, "target": None, "expected": believed.get(second)},
            ]
        try:
            result = backend.call("alias_switch", changes=changes, force=force, actor="worker",
                                  reason=f"worker {seed}")
        except WqmError as exc:
            name = type(exc).__name__
            refusals[name] = refusals.get(name, 0) + 1
            if name not in EXPECTED_REFUSALS:
                unexpected.append(f"{name}: {exc}")
            refresh()
            continue
        if result["status"] == "applied":
            applied.append({"change_id": result["change_id"],
                            "operations": len(result["operations"])})
            for op in result["operations"]:
                if op["after"] is None:
                    believed.pop(op["alias"], None)
                else:
                    believed[op["alias"]] = op["after"]
        if rng.random() < 0.05:
            refresh()
    backend.close()
    with open(out, "w") as handle:
        json.dump({"attempts": attempts, "applied": applied, "refusals": refusals,
                   "unexpected": unexpected}, handle)


if __name__ == "__main__":
    main(float(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4:])
