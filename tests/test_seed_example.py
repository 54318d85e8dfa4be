"""The seed's programmatic example (module docstring of core/collection_aliases.py) runs as written.

The example's code lines are taken from the docstring itself, not copied here,
so the test follows the documentation. They run unchanged inside
``asyncio.run`` in a fresh Python process whose only configuration is
``WQM_DATA_DIR`` (the embedded default: no server, nothing to start). The
example assumes the project's data already lives in ``_github_com_user_repo``,
so a setup step creates that physical collection first.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

from _alias_support import assert_stores_agree, qdrant_table
from workspace_qdrant_mcp.config import Settings
from workspace_qdrant_mcp.core import collection_aliases, schema
from workspace_qdrant_mcp.core.client import QdrantWorkspaceClient

OLD = "_path_abc123def456"
NEW = "_github_com_user_repo"


def example_lines() -> list[str]:
    """The code block that follows ``Example ...::`` in the module docstring, dedented."""
    doc = collection_aliases.__doc__ or ""
    lines = doc.splitlines()
    start = next(
        i
        for i, line in enumerate(lines)
        if line.startswith("Example") and line.rstrip().endswith("::")
    )
    block: list[str] = []
    for line in lines[start + 1 :]:
        if line and not line.startswith("    "):
            break
        block.append(line)
    return textwrap.dedent("\n".join(block)).strip("\n").splitlines()


def test_docstring_holds_the_seed_example() -> None:
    code = "\n".join(example_lines())
    for expected in (
        "client = QdrantWorkspaceClient()",
        "alias_manager = AliasManager(client.client, client.state_manager)",
        f'old_collection="{OLD}"',
        f'new_collection="{NEW}"',
        f'actual = await alias_manager.resolve_collection_name("{OLD}")',
        "aliases = await alias_manager.list_aliases()",
        f'await alias_manager.delete_alias("{OLD}")',
    ):
        assert expected in code


def test_seed_example_runs_as_written(settings: Settings, data_dir: Path) -> None:
    setup = QdrantWorkspaceClient(settings)  # the project's data already lives under NEW
    setup.client.create_collection(NEW, vectors_config=schema.vectors_config())
    setup.close_sync()

    script = "\n".join(
        [
            "import asyncio, json",
            "",
            "async def main():",  # the example's lines, verbatim (imports included), as its body
            *("    " + line if line else "" for line in example_lines()),
            # what the example leaves to observe, printed for the test
            "    print(json.dumps({",
            "        'actual': actual,",
            "        'listed': sorted((a.alias_name, a.collection_name) for a in aliases),",
            f"        'after': await alias_manager.get_alias({OLD!r}),",
            f"        'resolved_after': await alias_manager.resolve_collection_name({OLD!r}),",
            "        'qdrant_after': [a.alias_name for a in client.client.get_aliases().aliases],",
            "    }))",
            "",
            "asyncio.run(main())",
        ]
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=data_dir.parent,
        check=False,
    )
    assert result.returncode == 0, f"example failed:\n{script}\n--- stderr:\n{result.stderr}"
    printed = json.loads(result.stdout.strip().splitlines()[-1])
    assert printed["actual"] == NEW
    assert printed["listed"] == [[OLD, NEW]]
    assert printed["after"] is None
    assert printed["resolved_after"] == OLD
    assert printed["qdrant_after"] == []

    check = QdrantWorkspaceClient(settings)  # the same data dir, seen from another process
    check.initialize_sync()
    try:
        assert qdrant_table(check.client) == {}
        assert assert_stores_agree(check.aliases) == {}
        history = [(e.action, e.alias_name) for e in check.state_manager.events()]
        assert history == [("delete", OLD), ("create", OLD)]
        assert NEW in {c.name for c in check.client.get_collections().collections}
    finally:
        check.close_sync()
