"""The shape of the code: imports only point down, and each operation is declared once.

The layering is checked by import-linter (the contract is in pyproject.toml), run
as a real subprocess; a copy of the package with one upward import shows that
the contract can fail.
"""

from __future__ import annotations

import inspect
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import workspace_qdrant_mcp
from workspace_qdrant_mcp.backends.client import WorkspaceClient
from workspace_qdrant_mcp.mcp_server import WorkspaceTools, tool_table
from workspace_qdrant_mcp.ops import registry

ROOT = Path(__file__).resolve().parent.parent
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _lint(cwd: Path, src: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--config", str(cwd / "pyproject.toml"), "--no-cache"],
        cwd=cwd, capture_output=True, text=True, timeout=300, check=False,
        env={"PYTHONPATH": str(src), "PATH": "/usr/bin:/bin"},
    )


def test_imports_only_point_down() -> None:
    result = _lint(ROOT, ROOT / "src")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 kept, 0 broken" in result.stdout


def test_an_upward_import_breaks_the_contract(tmp_path: Path) -> None:
    src = tmp_path / "src"
    shutil.copytree(ROOT / "src" / "workspace_qdrant_mcp", src / "workspace_qdrant_mcp",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    naming = src / "workspace_qdrant_mcp" / "core" / "naming.py"
    naming.write_text(naming.read_text() + "\nfrom ..ops import search as _upward  # noqa\n")
    result = _lint(tmp_path, src)
    assert result.returncode != 0
    assert "workspace_qdrant_mcp.core.naming -> workspace_qdrant_mcp.ops.search" in result.stdout


def test_every_mcp_tool_is_a_method_of_the_server_and_every_method_a_tool() -> None:
    tools = set(tool_table(registry.describe()))
    methods = {
        name for name, fn in inspect.getmembers(WorkspaceTools, inspect.iscoroutinefunction)
        if not name.startswith("_") and name not in ("run", "project_path")
    }
    assert tools == methods


def test_every_client_method_runs_the_operation_of_its_name() -> None:
    ops = registry.load()
    methods = [
        name for name, _ in inspect.getmembers(WorkspaceClient, inspect.isfunction)
        if not name.startswith("_") and name not in ("call", "close")
    ]
    assert methods, "the client facade has no methods"
    for name in methods:
        assert name in ops, f"WorkspaceClient.{name} names no operation"
        client_params = set(inspect.signature(getattr(WorkspaceClient, name)).parameters) - {
            "self", "progress"}
        op_params = set(inspect.signature(ops[name].fn).parameters) - {"ws", "progress", "actor"}
        assert client_params == op_params, f"{name}: client {client_params} != op {op_params}"


def test_operation_metadata_is_consistent() -> None:
    for name, op in registry.load().items():
        if op.read_only:
            assert op.retry_safe, f"{name} is read-only, so a retry is safe"
            assert not op.destructive, f"{name} cannot be read-only and destructive"
        if op.takes_project:
            assert "project_path" in inspect.signature(op.fn).parameters, name
        for param in op.path_params:
            assert param in inspect.signature(op.fn).parameters, f"{name} has no {param}"


@pytest.mark.parametrize("name", workspace_qdrant_mcp.__all__)
def test_public_api_names_import(name: str) -> None:
    assert getattr(workspace_qdrant_mcp, name) is not None


def test_the_cli_starts_without_the_engine_or_the_models() -> None:
    """A `wqm` command talks to the service: it must not pay for qdrant-client or numpy."""
    probe = ("import sys, workspace_qdrant_mcp.cli\n"
             "print(sorted(m for m in ('qdrant_client', 'numpy', 'onnxruntime', 'torch') "
             "if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          timeout=120, check=True)
    assert done.stdout.strip() == "[]"
