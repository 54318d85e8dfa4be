"""Docs stay true to the code: generated sections are current; every command, tool and
setting is documented."""

from __future__ import annotations

from pathlib import Path

import pytest
from cogapp import Cog
from typer.main import get_command

from workspace_qdrant_mcp.cli import app
from workspace_qdrant_mcp.config import ENVIRONMENT_VARIABLES, Settings

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


def _click_command(command: str) -> object:
    node: object = get_command(app)
    for part in command.split()[1:]:
        node = node.commands[part]  # type: ignore[attr-defined]
    return node


@pytest.mark.parametrize("command", _commands())
def test_every_command_is_documented_and_has_help(command: str) -> None:
    reference = (ROOT / "docs/cli-reference.md").read_text()
    assert f"## {command}\n" in reference
    section = reference.split(f"## {command}\n", 1)[1].split("\n## ", 1)[0]
    help_text = (getattr(_click_command(command), "help", None) or "").strip()
    assert help_text, f"{command} has no help text"
    first_line = " ".join(help_text.splitlines()[0].split())
    assert first_line in " ".join(section.split()), f"{command}'s help is not in the reference"


@pytest.mark.parametrize("variable", sorted(ENVIRONMENT_VARIABLES))
def test_every_setting_is_documented(variable: str) -> None:
    """README's table is generated from ENVIRONMENT_VARIABLES; CONFIGURATION.md is prose."""
    assert f"`{variable}`" in (ROOT / "README.md").read_text()
    guide = (ROOT / "docs/CONFIGURATION.md").read_text()
    assert f"### `{variable}`\n" in guide, f"{variable} has no section in docs/CONFIGURATION.md"
    section = guide.split(f"### `{variable}`\n", 1)[1].split("\n### ", 1)[0]
    assert len(section.split()) >= 8, f"{variable}'s section in docs/CONFIGURATION.md is empty"


class _Recorder(dict[str, str]):
    """An environment that remembers every variable the settings code asks for."""

    def __init__(self) -> None:
        super().__init__()
        self.asked: set[str] = set()

    def get(self, key: str, default: object = None) -> object:  # type: ignore[override]
        self.asked.add(key)
        return super().get(key, default)

    def __getitem__(self, key: str) -> str:
        self.asked.add(key)
        return super().__getitem__(key)

    def __contains__(self, key: object) -> bool:
        self.asked.add(str(key))
        return super().__contains__(key)


def test_every_variable_read_is_a_documented_setting() -> None:
    """The settings code reads exactly the documented variables (a new one must be listed)."""
    env = _Recorder()
    Settings.from_env(env)
    assert env.asked == set(ENVIRONMENT_VARIABLES)


def test_every_mcp_tool_is_documented() -> None:
    from workspace_qdrant_mcp.mcp_server import tool_table
    from workspace_qdrant_mcp.ops import registry

    TOOLS = tool_table(registry.describe())
    assert set(TOOLS) == {"search", "store", "retrieve", "workspace_status", "list_aliases",
                          "index", "delete_note"}
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


# -- one CLI grammar (docs/cli-reference.md, "Conventions") ---------------------------------

#: CLI commands whose operation has another name ("": none, the service's own state); others
#: run the operation named like them.
OPERATION_OF = {"wqm notes delete": "delete_note", "wqm project update-remote":
                "plan_update_remote", "wqm project update-path": "plan_update_path",
                "wqm service status": ""}
#: Operations on a project that only assistants call (over MCP), with no command of their own.
MCP_ONLY = {"index", "retrieve", "store_note"}
PROJECT_OPTION = ["--project", "-p", "--project-path"]


def _leaves() -> dict[str, object]:
    """Every runnable command (not a group) by its full name."""
    return {c: _click_command(c) for c in _commands()
            if not getattr(_click_command(c), "commands", None)}


def _options(command: object) -> list[object]:
    import click

    return [p for p in getattr(command, "params", []) if isinstance(p, click.Option)]


def test_every_command_on_a_project_takes_the_same_project_option() -> None:
    from workspace_qdrant_mcp.ops.registry import describe

    operations = describe()
    on_project = {name for name, meta in operations.items() if meta["takes_project"]}
    reached: set[str] = set()
    for name, command in _leaves().items():
        words = [w.replace("-", "_") for w in name.split()[1:]]
        # ``wqm engine status`` runs engine_status, ``wqm project undo`` runs undo.
        operation = OPERATION_OF.get(name, "_".join(words) if "_".join(words) in operations
                                     else words[-1])
        spelled = [p.opts for p in _options(command)  # type: ignore[attr-defined]
                   if {"--project", "--project-path", "-p"} & set(p.opts)]  # type: ignore[attr-defined]
        if operation in on_project:
            reached.add(operation)
            assert spelled == [PROJECT_OPTION], f"{name} must take {'/'.join(PROJECT_OPTION)}"
        else:
            assert spelled == [], f"{name} takes a project but its operation does not"
        positional = [p.name for p in getattr(command, "params", []) if p.name == "path"]
        assert not positional or spelled, f"{name}: a PATH argument goes with --project"
    assert on_project - reached == MCP_ONLY


def test_a_short_flag_means_one_thing_everywhere() -> None:
    meaning: dict[str, set[str]] = {}
    for command in _leaves().values():
        for option in _options(command):
            longs = [o for o in option.opts if o.startswith("--")]  # type: ignore[attr-defined]
            for short in (o for o in option.opts if not o.startswith("--")):  # type: ignore[attr-defined]
                meaning.setdefault(short, set()).add(longs[0])
    assert {s: m for s, m in meaning.items() if len(m) > 1} == {}
    assert meaning["-p"] == {"--project"} and meaning["-f"] == {"--format"}


def test_help_and_usage_errors_everywhere() -> None:
    """-h is help on every command; a usage error exits 2 with the usage line."""
    from typer.testing import CliRunner

    runner = CliRunner()
    for name in _commands():
        args = name.split()[1:]
        shown = runner.invoke(app, [*args, "-h"])
        assert shown.exit_code == 0 and "Usage: " in shown.output, name
        wrong = runner.invoke(app, [*args, "--no-such-option"])
        assert wrong.exit_code == 2, name
    typo = runner.invoke(app, ["serch"])
    assert typo.exit_code == 2 and typo.output.count("Did you mean") == 1
