"""The MCP front end: the assistant's view of the workspace, over stdio.

Each tool parses its arguments, runs ONE library operation through the same
backend the CLI uses (``backends.client.open_backend``: the shared workspace service by
default, in-process with ``WQM_SERVICE=off``) and returns one text block:
``search`` and ``retrieve`` as plain text for the assistant (``render.py``), the
other tools as compact JSON; no structured content (the answer once). Argument
checks live in the library, so a bad argument gives the same one sentence here
as in the CLI; a ``WqmError`` becomes a tool error (``isError``) carrying
exactly that sentence, and the server keeps running.

The project of the session is the client's first ``file://`` MCP root when it
offers roots, else ``WQM_PROJECT_PATH``, else the working directory; it is
passed as ``project_path`` on every call. The project is only known once the
client can answer ``roots/list``, so the start-up work (a ``status`` call, which
lets the operation layer give a project that gained a remote its new name) runs
before the first tool call of each project.

stdout is the protocol: the SDK's ``stdio_server`` points fd 1 at stderr while
it serves (the wire uses a private duplicate), so a stray ``print`` from a
library, a model loader or a child process cannot corrupt a frame; logging goes
to stderr. No tool deletes or re-points an alias: those stay with the CLI.
"""

from __future__ import annotations

import argparse
import inspect
import logging
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import unquote, urlparse

import anyio
import anyio.to_thread
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.shared.exceptions import MCPDeprecationWarning, MCPError
from mcp.types import CallToolResult, InputRequiredResult, TextContent, ToolAnnotations
from pydantic import Field, ValidationError

from .. import __version__
from ..backends.base import Backend
from ..backends.client import open_backend
from ..config import Settings
from ..core.errors import CollectionNotFound, WqmError
from ..workspace.sync import ProjectTooLarge
from .render import render

SERVER_NAME = "workspace-qdrant-mcp"
#: Seconds a client that declared roots gets to answer ``roots/list``.
ROOTS_TIMEOUT_SECONDS = 5.0

log = logging.getLogger("workspace_qdrant_mcp.server")

INSTRUCTIONS = (
    "Search and annotate the current project's knowledge base (its files and notes). "
    "Every name the project has had (path-based or remote-based) stays valid as `collection`. "
    "Tools never delete or re-point names; the user does that with the `wqm` CLI."
)

Ctx = Context[Any, Any]

CollectionArg = Annotated[str | None, Field(description=(
    "Any logical name of a project's data, old or new (e.g. `_github_com_acme_demo` or "
    "`_path_0123456789ab`); default: the current project's data."))]


def root_path(uri: str) -> str | None:
    """The local folder of a ``file://`` root URI, or None for any other scheme."""
    parsed = urlparse(uri)
    if parsed.scheme != "file" or parsed.netloc not in ("", "localhost"):
        return None
    return unquote(parsed.path) or None


def tool_result(op: str, data: Any, key: str = "result") -> CallToolResult:
    """A successful result: one text block (``render.py`` says why not structured content)."""
    obj = data if isinstance(data, dict) else {key: data}
    return CallToolResult(content=[TextContent(type="text", text=render(op, obj))])


def tool_error(message: str) -> CallToolResult:
    """A tool error (``isError``) whose text is exactly ``message``."""
    return CallToolResult(content=[TextContent(type="text", text=message)], is_error=True)


class WorkspaceTools:
    """The tools of one server: project of the session, one backend, calls serialised.

    Backend calls block (sockets, SQLite, embedding), so they run in a worker
    thread; one lock keeps them in order because a ``ServiceBackend`` holds one
    connection and a ``LocalBackend`` one embedded store.
    """

    def __init__(self, settings: Settings, backend: Backend) -> None:
        self.settings = settings
        self.backend = backend
        self._lock = anyio.Lock()
        self._started: set[str] = set()
        self._roots_failed = False
        #: Where the session's project came from (said when a message is about the project).
        self.project_source = "the server's working directory"

    # -- plumbing ---------------------------------------------------------------------------

    async def project_path(self, ctx: Ctx) -> str:
        """The project of the session: first file root, else ``WQM_PROJECT_PATH``, else cwd."""
        caps = ctx.client_capabilities
        if caps is not None and caps.roots is not None and not self._roots_failed:
            try:
                with warnings.catch_warnings():  # roots are deprecated only from 2026-07-28 on
                    warnings.simplefilter("ignore", MCPDeprecationWarning)
                    pending = ctx.session.list_roots()
                with anyio.fail_after(ROOTS_TIMEOUT_SECONDS):
                    listed = await pending
                for root in listed.roots:
                    path = root_path(str(root.uri))
                    if path:
                        self.project_source = "the client's first workspace root"
                        return path
            except (MCPError, TimeoutError, ValidationError) as exc:  # it will not do better later
                self._roots_failed = True
                log.warning("the client declared roots but did not list them (%s); using %s",
                            type(exc).__name__, "WQM_PROJECT_PATH or the working directory")
        self.project_source = ("WQM_PROJECT_PATH" if self.settings.project_path
                               else "the server's working directory")
        return str((self.settings.project_path or Path.cwd()).resolve())

    async def _call(self, op: str, **params: Any) -> Any:
        async with self._lock:
            return await anyio.to_thread.run_sync(lambda: self.backend.call(op, **params))

    async def _start(self, project: str) -> None:
        """Start-up work for a project, once: ``status`` runs the automatic migration."""
        if project in self._started:
            return
        self._started.add(project)
        try:
            status = await self._call("status", project_path=project, migrate=True)
        except WqmError as exc:
            log.warning("start-up status for %s failed: %s", project, exc)
            return
        self._log_notices(status)

    @staticmethod
    def _log_notices(result: Any) -> None:
        if isinstance(result, dict):
            for message in result.get("notices") or []:
                log.info("%s", message)

    async def run(self, ctx: Ctx, op: str, key: str = "result", scoped: bool = True,
                  **params: Any) -> CallToolResult:
        """Run ``op`` for the session's project; a ``WqmError`` becomes a tool error."""
        project = await self.project_path(ctx)
        if op != "status":
            await self._start(project)
        if scoped:
            params["project_path"] = project
        try:
            result = await self._call(op, **params)
        except WqmError as exc:
            log.info("%s: %s", op, exc)
            message = str(exc)
            if scoped and isinstance(exc, CollectionNotFound | ProjectTooLarge) and (
                    project in message):  # about the project itself: say how it was chosen
                message = (f"{message} This session's project is {project}, from "
                           f"{self.project_source}; set WQM_PROJECT_PATH or open the client in "
                           "another folder to change it.")
            return tool_error(message)
        self._started.add(project)
        self._log_notices(result)
        return tool_result(op, result, key)

    # -- tools ------------------------------------------------------------------------------

    async def search(
        self,
        ctx: Ctx,
        query: Annotated[str, Field(description="What to look for, in words or code identifiers.")],
        collection: CollectionArg = None,
        mode: Annotated[Literal["hybrid", "dense", "sparse"], Field(description=(
            "`hybrid` (meaning + keywords, fused; default), `dense` (meaning only) or "
            "`sparse` (BM25 keywords only)."))] = "hybrid",
        limit: Annotated[int, Field(ge=1, le=100, description=(
            "Number of results, 1 to 100 (default 10)."))] = 10,
        path_glob: Annotated[str | None, Field(description=(
            "Only files whose project-relative path matches this glob, e.g. `src/**/*.py` "
            "(`*` also crosses folders)."))] = None,
        language: Annotated[str | None, Field(description=(
            "Only chunks in this language, e.g. `python`, `markdown`."))] = None,
        symbol: Annotated[str | None, Field(description=(
            "Only chunks of this definition: its qualified name or its last parts, e.g. "
            "`get_user` or `Client.get_user`."))] = None,
    ) -> CallToolResult:
        """Search the current project's files and notes by meaning, keyword and symbol name.

        Parameters: `query` (required), `collection` (any old or new name of a
        project's data), `mode` (hybrid, dense or sparse), `limit` (1-100),
        `path_glob`, `language` and `symbol` (filters). The answer is text: a first line
        with the number of results, any notices (e.g. the index is still being
        built), then per result a line `@@ path:start-end symbol score` (or
        `@@ note <id> "title" score`) followed by the chunk's lines, verbatim.
        """
        return await self.run(ctx, "search", query=query, collection=collection, mode=mode,
                              limit=limit, path_glob=path_glob, language=language,
                              symbol=symbol)

    async def store(
        self,
        ctx: Ctx,
        content: Annotated[str, Field(description="The text of the note.")],
        title: Annotated[str | None, Field(description="A short title for the note.")] = None,
        metadata: Annotated[dict[str, Any] | None, Field(description=(
            "Extra JSON fields kept with the note (e.g. tags)."))] = None,
        collection: CollectionArg = None,
    ) -> CallToolResult:
        """Store a note in the current project's knowledge base, searchable like its files.

        Parameters: `content` (required), `title`, `metadata` (a JSON object)
        and `collection` (any name of a project's data; default: the current
        project). Returns the note's `id` (use it with `retrieve`) and the
        `collection` it went to.
        """
        return await self.run(ctx, "store_note", content=content, title=title,
                              metadata=metadata, collection=collection)

    async def retrieve(
        self,
        ctx: Ctx,
        document_id: Annotated[str | None, Field(description=(
            "The id of a stored note (as returned by `store`) or of a search result."))] = None,
        path: Annotated[str | None, Field(description=(
            "A file inside the project (relative to its root, or absolute) whose indexed "
            "chunks to return in order."))] = None,
        collection: CollectionArg = None,
    ) -> CallToolResult:
        """Retrieve a stored note or document by id, or every indexed chunk of one file.

        Parameters: give `document_id` or `path` (one is required); `collection`
        is any name of a project's data (default: the current project). The
        answer is a header line (the note's id and title, or the file's path and
        its chunks' line ranges) followed by the indexed text, once.
        """
        return await self.run(ctx, "retrieve", document_id=document_id, path=path,
                              collection=collection)

    async def delete_note(
        self,
        ctx: Ctx,
        document_id: Annotated[str, Field(description="The id of the note (as `store` gave it).")],
        collection: CollectionArg = None,
    ) -> CallToolResult:
        """Delete a stored note (all of it); it cannot be undone.

        Parameters: `document_id` (required) and `collection` (any name of a
        project's data; default: the current project). Only notes can be deleted:
        a project's files are indexed from its folder.
        """
        return await self.run(ctx, "delete_note", document_id=document_id, collection=collection)

    async def workspace_status(self, ctx: Ctx) -> CallToolResult:
        """The current project: its root, names, counts, engine, and how complete its index is.

        Takes no parameters. `names` lists every name that reaches the project's
        data; any of them works as `collection` in the other tools. `index` says
        whether the index is `complete`, `building` (with the job's progress and an
        ETA), `partial` (some chunks not embedded yet) or `none`, whether the
        project is watched (saved files are re-indexed within seconds) and when it
        was last synced.
        """
        return await self.run(ctx, "status")

    async def index(self, ctx: Ctx) -> CallToolResult:
        """Start indexing the current project in the background and return at once.

        Takes no parameters. Keyword search works within seconds, search by
        meaning once the job completes; `workspace_status` shows the progress.
        Indexing only reads what git would not ignore, and a project over the
        size limit is refused with a sentence naming the limit. A job already
        running for the project is joined, not started twice.
        """
        return await self.run(ctx, "index")

    async def list_aliases(self, ctx: Ctx) -> CallToolResult:
        """Every alias (name -> collection) with who made it and its usage; read-only.

        Takes no parameters. Aliases are changed only with the `wqm` CLI.
        """
        return await self.run(ctx, "list_aliases", key="aliases", scoped=False)


class WqmMCPServer(MCPServer[Any]):
    """``MCPServer`` whose argument errors read as one sentence, like the library's."""

    async def call_tool(self, name: str, arguments: dict[str, Any],
                        context: Context[Any, Any] | None = None,
                        ) -> CallToolResult | InputRequiredResult:
        """Run a tool; a schema violation becomes ``Invalid argument 'x': reason.``."""
        try:
            return await super().call_tool(name, arguments, context)
        except ToolError as exc:
            cause = exc.__cause__
            if not isinstance(cause, ValidationError) or not cause.errors():
                raise
            first = cause.errors()[0]
            where = ".".join(str(part) for part in first["loc"]) or "arguments"
            raise ToolError(f"Invalid argument {where!r}: {first['msg'].rstrip('.')}.") from None


def tool_table(operations: dict[str, dict[str, Any]]) -> dict[str, ToolAnnotations]:
    """MCP tool name -> hints, from the operation declarations (``ops/registry.py``)."""
    return {
        info["mcp_tool"]: ToolAnnotations(
            read_only_hint=bool(info.get("read_only")),
            destructive_hint=bool(info.get("destructive")),
            idempotent_hint=bool(info.get("retry_safe")),
            open_world_hint=False,
        )
        for info in operations.values()
        if info.get("mcp_tool")
    }


def build_server(settings: Settings, backend: Backend | None = None) -> tuple[MCPServer[Any], WorkspaceTools]:
    """The MCP server for ``settings`` (the backend defaults to ``open_backend``).

    The tools and their hints come from the backend's operation table, so the
    MCP server never declares an operation of its own.
    """
    tools = WorkspaceTools(settings, backend if backend is not None else open_backend(settings))
    server = WqmMCPServer(SERVER_NAME, version=__version__, instructions=INSTRUCTIONS,
                          log_level="WARNING")
    for name, hints in tool_table(tools.backend.operations()).items():
        fn = getattr(tools, name)
        server.add_tool(fn, name=name, description=inspect.cleandoc(fn.__doc__ or ""),
                        annotations=hints, structured_output=False)
    return server, tools


def configure_logging() -> None:
    """Everything to stderr: stdout carries only the protocol."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(f"{SERVER_NAME}: %(levelname)s %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)
    logging.getLogger("workspace_qdrant_mcp").setLevel(logging.INFO)


def serve(settings: Settings) -> None:
    """Serve MCP over stdio until the client closes stdin, then release the backend."""
    configure_logging()
    server, tools = build_server(settings)
    log.info("serving %s (%s, service %s)", SERVER_NAME, settings.engine_description(),
             settings.service)
    try:
        server.run("stdio")
    except KeyboardInterrupt:
        pass
    finally:
        tools.backend.close()


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of ``workspace-qdrant-mcp`` (configured by ``WQM_*``/``QDRANT_*``)."""
    parser = argparse.ArgumentParser(
        prog=SERVER_NAME,
        description="MCP server (stdio) over the wqm workspace. The project is the client's "
                    "first root, else WQM_PROJECT_PATH, else the working directory.",
    )
    parser.add_argument("--version", action="version", version=f"{SERVER_NAME} {__version__}")
    parser.parse_args(argv)
    try:
        settings = Settings.from_env()
    except WqmError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        sys.exit(1)
    serve(settings)
