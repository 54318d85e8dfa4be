"""Docs stay true to the code: generated sections are current; every command, tool and
setting is documented."""

from __future__ import annotations

from pathlib import Path

import pytest
from cogapp import Cog
from typer.main import get_command

from workspace_qdrant_mcp.cli import app
from workspace_qdrant_mcp.config import ENVIRONMENT_VARIABLES

ROOT = Path(__file__).resolve().parent.parent
COGGED = ["README.md", "docs/cli-reference.md"]


@pytest.mark.parametrize("name", COGGED)
def test_generated_sections_are_current(name: str) -> None:
    """`cog --check`: regenerate with `cog -r README.md docs/cli-reference.md`."""
    cog = Cog()
    cog.options.check = True
    cog.options.verbosity = 0
    assert cog.main(["cog", "--check", str(ROOT / name)]) == 0, f"{name} is stale: run cog -r"


def _commands() -> list[str]:
    found: list[str] = []

    def walk(group: object, path: list[str]) -> None:
        for name, command in sorted(getattr(group, "commands", {}).items()):
            found.append(" ".join(["wqm", *path, name]))
            walk(command, [*path, name])

    walk(get_command(app), [])
    return found


@pytest.mark.parametrize("command", _commands())
def test_every_command_is_documented_and_has_help(command: str) -> None:
    reference = (ROOT / "docs/cli-reference.md").read_text()
    assert f"## {command}\n" in reference
    section = reference.split(f"## {command}\n", 1)[1].split("\n## ", 1)[0]
    usage_and_help = [line for line in section.splitlines() if line.strip()]
    assert len(usage_and_help) >= 4, f"{command} has no help text"


@pytest.mark.parametrize("variable", sorted(ENVIRONMENT_VARIABLES))
def test_every_setting_is_documented(variable: str) -> None:
    assert f"`{variable}`" in (ROOT / "README.md").read_text()


def test_every_mcp_tool_is_documented() -> None:
    from workspace_qdrant_mcp.mcp_server import tool_table
    from workspace_qdrant_mcp.ops import registry

    TOOLS = tool_table(registry.describe())
    assert set(TOOLS) == {"search", "store", "retrieve", "workspace_status", "list_aliases"}
    mcp_doc = (ROOT / "docs/MCP.md").read_text()
    for tool in TOOLS:
        assert f"`{tool}`" in mcp_doc, f"MCP tool {tool} is not in docs/MCP.md"


def test_readme_starts_with_the_two_commands() -> None:
    lines = (ROOT / "README.md").read_text().splitlines()
    commands = [line for line in lines if line.startswith("bash scripts/")]
    assert commands[:2] == [
        line for line in lines if line.startswith("bash scripts/setup")
    ][:1] + [line for line in lines if line.startswith("bash scripts/test")][:1]
    assert (ROOT / ".ci/run").read_text().strip().endswith("bash scripts/test")
