"""The MCP server as an assistant sees it: a subprocess driven by the official ``mcp`` client.

No in-process shortcut: every test spawns ``workspace-qdrant-mcp`` (or ``wqm
mcp``) and talks to it over stdio with ``mcp.client.stdio``. Data is set up
with the real ``wqm`` executable, as a user would. Each session also checks
that the server's stdout carried nothing but protocol frames: a stray line
would reach the client as a parse error, which the session records.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import anyio
import pytest
from mcp import ClientSession, StdioServerParameters, stdio_client
from mcp.types import CallToolResult, ListRootsResult, Root

from _mcp_text import parse_retrieve, parse_search
from conftest import git, run_wqm

BIN = Path(sys.executable).parent
SERVER = BIN / "workspace-qdrant-mcp"
OLD_REMOTE_FREE = "_path_"
NEW_NAME = "_github_com_acme_demo"

BILLING = '''"""Billing helpers."""


def compute_invoice_total(lines, tax_rate):
    """Sum the invoice lines and add the tax."""
    subtotal = sum(line.price * line.quantity for line in lines)
    return round(subtotal * (1 + tax_rate), 2)


def format_currency(amount):
    return f"${amount:,.2f}"
'''

FILES = {
    "README.md": "# demo\n\nA small shop backend used by the MCP tests.\n",
    "src/shop/billing.py": BILLING,
    "src/shop/users.py": "def get_user_name(user):\n    return user.first + ' ' + user.last\n",
    "docs/deploy.md": "# Deploying\n\nRun the container behind the load balancer.\n",
}

EXPECTED_PARAMS: dict[str, tuple[list[str], list[str]]] = {
    "search": (["query", "collection", "mode", "limit", "path_glob", "language",
                "symbol"], ["query"]),
    "store": (["content", "title", "metadata", "collection"], ["content"]),
    "retrieve": (["document_id", "path", "collection"], []),
    "workspace_status": ([], []),
    "list_aliases": ([], []),
    "index": ([], []),
    "delete_note": (["document_id", "collection"], ["document_id"]),
}


# -- harness ---------------------------------------------------------------------------------


@dataclass
class Server:
    """A live MCP session with a server subprocess, and what its stdout carried besides frames."""

    session: ClientSession
    stderr: Path
    stray: list[Exception] = field(default_factory=list)

    async def call(self, tool: str, **arguments: Any) -> CallToolResult:
        result = await self.session.call_tool(tool, arguments)
        assert isinstance(result, CallToolResult)
        return result

    async def ok(self, tool: str, **arguments: Any) -> Any:
        """Call ``tool`` and return its answer: one text block, parsed (search and retrieve
        are plain text for the assistant, the other tools compact JSON)."""
        result = await self.call(tool, **arguments)
        text = _text(result)
        assert not result.is_error, f"{tool}{arguments} failed: {text}"
        assert result.structured_content is None and len(result.content) == 1
        if tool == "search":
            return parse_search(text)
        if tool == "retrieve":
            return parse_retrieve(text)
        return json.loads(text)

    async def error(self, tool: str, **arguments: Any) -> str:
        """Call ``tool`` expecting a tool error; return its one sentence."""
        result = await self.call(tool, **arguments)
        message = _text(result)
        assert result.is_error, f"{tool}{arguments} should fail, got {message}"
        assert "\n" not in message and message.endswith("."), message
        assert not message.startswith("Error executing tool"), message
        return message


def _text(result: CallToolResult) -> str:
    assert len(result.content) == 1 and result.content[0].type == "text"
    return result.content[0].text


def _log_file(path: Path) -> TextIO:
    """The server's stderr goes to a real file: the child process needs a file descriptor."""
    return path.open("w")


@asynccontextmanager
async def mcp_server(
    tmp_path: Path,
    project: Path | None = None,
    roots: list[Path] | None = None,
    command: list[str] | None = None,
    env: dict[str, str] | None = None,
) -> AsyncIterator[Server]:
    """Spawn the server (full environment, cwd outside any project) and open a client session."""
    full_env = {**os.environ, **(env or {})}
    if project is not None:
        full_env["WQM_PROJECT_PATH"] = str(project)
    cwd = tmp_path / "elsewhere"
    cwd.mkdir(exist_ok=True)
    argv = command or [str(SERVER)]
    params = StdioServerParameters(command=argv[0], args=argv[1:], env=full_env, cwd=str(cwd))
    stderr = tmp_path / f"server-{len(list(tmp_path.glob('server-*.stderr')))}.stderr"
    stray: list[Exception] = []

    async def on_message(message: object) -> None:
        if isinstance(message, Exception):
            stray.append(message)

    list_roots = None
    if roots is not None:
        async def list_roots(context: object) -> ListRootsResult:
            return ListRootsResult(roots=[Root(uri=p.as_uri(), name=p.name) for p in roots])

    with _log_file(stderr) as errlog:
        async with (
            stdio_client(params, errlog=errlog) as (read, write),
            ClientSession(read, write, read_timeout_seconds=300, message_handler=on_message,
                          list_roots_callback=list_roots) as session,
        ):
            await session.initialize()
            yield Server(session, stderr, stray)
    assert not stray, f"stdout carried non-protocol output: {stray}"


def ingest(repo: Path) -> dict[str, Any]:
    """Index ``repo`` with the real CLI."""
    done = run_wqm("ingest", str(repo), "--format", "json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)  # type: ignore[no-any-return]


@pytest.fixture
def shop(make_repo: Callable[..., Path], data_dir: Path) -> Path:
    """The fixture repository, indexed (in-process store: WQM_SERVICE=off)."""
    repo = make_repo("shop", FILES)
    ingest(repo)
    return repo


def _paths(found: dict[str, Any]) -> list[str]:
    return [hit["path"] for hit in found["results"]]


# -- tools and schemas -----------------------------------------------------------------------


async def test_tools_and_schemas(tmp_path: Path, data_dir: Path,
                                 make_repo: Callable[..., Path]) -> None:
    repo = make_repo("empty")
    async with mcp_server(tmp_path, project=repo) as server:
        listed = await server.session.list_tools()
        tools = {tool.name: tool for tool in listed.tools}
        assert sorted(tools) == sorted(EXPECTED_PARAMS)
        for name, (params, required) in EXPECTED_PARAMS.items():
            schema = tools[name].input_schema
            assert list(schema["properties"]) == params, name
            assert sorted(schema.get("required", [])) == sorted(required), name
            description = tools[name].description or ""
            for param in params:
                assert schema["properties"][param].get("description"), (name, param)
                assert f"`{param}`" in description, (name, param)
            hints = tools[name].annotations
            assert hints is not None and hints.destructive_hint is (name == "delete_note")
            assert hints.read_only_hint is (name not in ("store", "index", "delete_note"))
        assert tools["search"].input_schema["properties"]["limit"]["default"] == 10
        assert tools["search"].input_schema["properties"]["mode"]["default"] == "hybrid"
        status = await server.ok("workspace_status")
        assert status["project_root"] == str(repo.resolve())
        assert status["indexed"] is False


async def test_wqm_mcp_runs_the_same_server(tmp_path: Path, data_dir: Path,
                                            make_repo: Callable[..., Path]) -> None:
    repo = make_repo("empty")
    async with mcp_server(tmp_path, project=repo, command=[str(BIN / "wqm"), "mcp"]) as server:
        listed = await server.session.list_tools()
        assert sorted(t.name for t in listed.tools) == sorted(EXPECTED_PARAMS)
        assert (await server.ok("workspace_status"))["project_root"] == str(repo.resolve())


# -- search, store, retrieve -----------------------------------------------------------------


async def test_search_store_retrieve(tmp_path: Path, shop: Path) -> None:
    async with mcp_server(tmp_path, project=shop) as server:
        found = await server.ok("search", query="compute the invoice total with tax")
        top = found["results"][0]
        assert top["path"] == "src/shop/billing.py"
        assert top["start_line"] <= 4 <= top["end_line"]
        assert "compute_invoice_total" in top["content"]
        assert top["content"].lstrip().startswith("def compute_invoice_total") and top["score"] > 0

        keyword = await server.ok("search", query="get_user_name", mode="sparse", limit=1)
        assert _paths(keyword) == ["src/shop/users.py"]
        only_docs = await server.ok("search", query="deploy", path_glob="docs/*")
        assert set(_paths(only_docs)) == {"docs/deploy.md"}

        note = "Decision: invoices round half-up to cents; see compute_invoice_total."
        stored = await server.ok("store", content=note, title="Rounding decision",
                                 metadata={"tags": ["billing"]})
        assert stored["id"] and stored["collection"] == found["collection"]
        got = await server.ok("retrieve", document_id=stored["id"])
        assert got["content"] == note
        assert got["title"] == "Rounding decision"
        assert got["metadata"] == {"tags": ["billing"]}

        hits = await server.ok("search", query="how are invoices rounded", limit=5)
        assert any(h["note_id"] == stored["id"] for h in hits["results"])

        chunks = await server.ok("retrieve", path="src/shop/billing.py")
        assert "def compute_invoice_total" in chunks["content"]
        absolute = await server.ok("retrieve", path=str(shop / "src/shop/billing.py"))
        assert absolute["content"] == chunks["content"]

        status = await server.ok("workspace_status")
        assert status["files"] == len(FILES) and status["notes"] == 1
        aliases = {a["alias_name"]: a for a in (await server.ok("list_aliases"))["aliases"]}
        assert aliases[found["collection"]]["hit_count"] >= 1  # searches count as usage


async def test_roots_of_the_client_choose_the_project(
    tmp_path: Path, data_dir: Path, make_repo: Callable[..., Path]
) -> None:
    rooted = make_repo("my repo", {"src/app.py": "def launch_rocket():\n    return 'liftoff'\n"})
    ingest(rooted)
    decoy = make_repo("decoy")
    async with mcp_server(tmp_path, project=decoy, roots=[rooted, decoy]) as server:
        status = await server.ok("workspace_status")
        assert status["project_root"] == str(rooted.resolve())
        found = await server.ok("search", query="launch rocket")
        assert _paths(found)[0] == "src/app.py"
    async with mcp_server(tmp_path, project=decoy) as server:  # no roots: WQM_PROJECT_PATH
        assert (await server.ok("workspace_status"))["project_root"] == str(decoy.resolve())


# -- errors ----------------------------------------------------------------------------------


async def test_bad_arguments_are_one_sentence_tool_errors(tmp_path: Path, shop: Path) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text("secret\n")
    cases: list[tuple[str, dict[str, Any], str]] = [
        ("search", {"query": ""}, "query is empty"),
        ("search", {"query": "   "}, "query is empty"),
        # the schema says it: limit is 1..100, mode one of three (checked before any work)
        ("search", {"query": "invoice", "limit": 0}, "Invalid argument 'limit'"),
        ("search", {"query": "invoice", "limit": 1000}, "Invalid argument 'limit'"),
        ("search", {"query": "invoice", "mode": "fuzzy"}, "Invalid argument 'mode'"),
        ("search", {"query": "invoice", "collection": "_no_such_name"}, "_no_such_name"),
        ("search", {"query": "invoice", "limit": "ten"}, "'limit'"),
        ("search", {}, "'query'"),
        ("retrieve", {"path": str(outside)}, "outside the project"),
        ("retrieve", {"path": "../outside.txt"}, "outside the project"),
        ("retrieve", {}, "exactly one"),
        ("retrieve", {"document_id": "0" * 32}, "No note"),
        ("retrieve", {"document_id": "x", "collection": "_no_such_name"}, "_no_such_name"),
        ("store", {"content": "  "}, "empty"),
        ("store", {"content": "x", "collection": "_no_such_name"}, "_no_such_name"),
    ]
    async with mcp_server(tmp_path, project=shop) as server:
        for tool, arguments, expected in cases:
            message = await server.error(tool, **arguments)
            assert expected in message, (tool, arguments, message)
            found = await server.ok("search", query="invoice total", limit=2)
            assert _paths(found)[0] == "src/shop/billing.py"
        unknown = await server.call("delete_alias", name="x")
        assert unknown.is_error
        assert (await server.ok("workspace_status"))["indexed"] is True
    assert "Traceback" not in (tmp_path / "server-0.stderr").read_text()


# -- identity changes ------------------------------------------------------------------------


async def test_migration_between_sessions_keeps_old_and_new_names(
    tmp_path: Path, shop: Path
) -> None:
    async with mcp_server(tmp_path, project=shop) as server:
        before = await server.ok("workspace_status")
        old = before["current_name"]
        assert old.startswith(OLD_REMOTE_FREE)
        note = await server.ok("store", content="Remember: the VAT table lives in billing.")

    git(shop, "remote", "add", "origin", "git@github.com:acme/demo.git")
    done = run_wqm("project", "update-remote", "--project-path", str(shop), "--yes")
    assert done.returncode == 0, done.stderr

    async with mcp_server(tmp_path, project=shop) as server:
        after = await server.ok("workspace_status")
        assert after["current_name"] == NEW_NAME
        names = {n["name"]: n for n in after["names"]}
        assert names[NEW_NAME]["reachable"] and names[old]["reachable"]
        for name in (old, NEW_NAME):
            found = await server.ok("search", query="invoice total", collection=name)
            assert _paths(found)[0] == "src/shop/billing.py", name
            got = await server.ok("retrieve", document_id=note["id"], collection=name)
            assert "VAT table" in got["content"]
        default = await server.ok("search", query="invoice total")
        assert default["collection"] == NEW_NAME


async def test_a_project_that_gained_a_remote_is_migrated_at_start(
    tmp_path: Path, shop: Path
) -> None:
    git(shop, "remote", "add", "origin", "git@github.com:acme/demo.git")
    async with mcp_server(tmp_path, project=shop) as server:
        # An explicit collection never migrates by itself: the start-up work must have.
        found = await server.ok("search", query="invoice total", collection=NEW_NAME)
        assert _paths(found)[0] == "src/shop/billing.py"
        status = await server.ok("workspace_status")
        assert status["current_name"] == NEW_NAME
        assert len([n for n in status["names"] if n["reachable"]]) == 2
    assert NEW_NAME in server.stderr.read_text()


# -- sharing through the workspace service ---------------------------------------------------


async def test_two_servers_share_one_data_dir_through_the_service(
    tmp_path: Path, data_dir: Path, make_repo: Callable[..., Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("WQM_SERVICE")  # the default: one service owns the embedded store
    repo = make_repo("shop", FILES)
    try:
        ingest(repo)
        async with mcp_server(tmp_path, project=repo) as first, \
                mcp_server(tmp_path, project=repo) as second:
            async with anyio.create_task_group() as tg:  # at the same time, for real
                results: dict[str, Any] = {}

                async def search(label: str, server: Server) -> None:
                    results[label] = await server.ok("search", query="invoice total")

                tg.start_soon(search, "first", first)
                tg.start_soon(search, "second", second)
            assert _paths(results["first"])[0] == _paths(results["second"])[0]
            stored = await first.ok("store", content="Shared between assistants.")
            got = await second.ok("retrieve", document_id=stored["id"])
            assert got["content"] == "Shared between assistants."
            assert "engine" in await second.ok("workspace_status")
        for log in tmp_path.glob("server-*.stderr"):
            assert "already accessed" not in log.read_text()
    finally:
        stopped = run_wqm("service", "stop")
        assert stopped.returncode == 0, stopped.stderr


def test_console_script_version() -> None:
    out = subprocess.run([str(SERVER), "--version"], capture_output=True, text=True, check=False)
    assert out.returncode == 0 and out.stdout.startswith("workspace-qdrant-mcp ")


# -- the client set-up the docs show ---------------------------------------------------------

DOCS = Path(__file__).resolve().parent.parent / "docs" / "MCP.md"


def _documented_launches() -> list[tuple[str, list[str], dict[str, str]]]:
    """(label, argv, env) of the first `claude mcp add` line and every `mcpServers` block."""
    text = DOCS.read_text()
    launches: list[tuple[str, list[str], dict[str, str]]] = []
    claude = next(line for line in text.splitlines() if line.startswith("claude mcp add "))
    launches.append(("claude mcp add", shlex.split(claude.split(" -- ", 1)[1]), {}))
    for block in re.findall(r"```json\n(.*?)```", text, flags=re.DOTALL):
        for name, spec in json.loads(block)["mcpServers"].items():
            launches.append((f"mcpServers.{name}", [spec["command"], *spec.get("args", [])],
                             spec.get("env", {})))
    return launches


def test_docs_cover_every_tool_and_parameter() -> None:
    text = DOCS.read_text()
    for tool, (params, _) in EXPECTED_PARAMS.items():
        assert f"| `{tool}` |" in text, tool
        for param in params:
            assert f"`{param}`" in text, (tool, param)


@pytest.mark.parametrize("label", [label for label, _, _ in _documented_launches()])
async def test_documented_client_setup_starts_the_server(
    label: str, tmp_path: Path, data_dir: Path, make_repo: Callable[..., Path]
) -> None:
    _, argv, env = next(launch for launch in _documented_launches() if launch[0] == label)
    repo = make_repo("documented")
    command = [str(BIN / argv[0]), *argv[1:]]  # the client finds it on PATH: the venv's bin
    async with mcp_server(tmp_path, project=repo, command=command, env=env) as server:
        listed = await server.session.list_tools()
        assert sorted(t.name for t in listed.tools) == sorted(EXPECTED_PARAMS)
        assert (await server.ok("workspace_status"))["project_root"] == str(repo.resolve())
